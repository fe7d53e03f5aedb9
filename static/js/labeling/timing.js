// Time measured by the page: the rater's time on an item (sent with each label as
// time_spent_ms), and keypress → next item painted, for bench/ui_latency.py, which reads
// window.accordLatency; it and the browser tests watch the page through window.accordLabeling.

import { requestsInFlight } from "./api.js";
import { outbox } from "./outbox.js";
import { state } from "./state.js";

/** Milliseconds on screen, paused while the tab is hidden. */
export class Stopwatch {
  constructor() {
    this.total = 0;
    this.since = document.hidden ? null : performance.now();
  }
  pause() {
    if (this.since !== null) this.total += performance.now() - this.since;
    this.since = null;
  }
  resume() {
    if (this.since === null && !document.hidden) this.since = performance.now();
  }
  ms() {
    const running = this.since === null ? 0 : performance.now() - this.since;
    return Math.round(this.total + running);
  }
}

// --- keypress → next item painted, for bench/ui_latency.py ----------------------------------------

const latency = { samples: [] };
window.accordLatency = latency;
window.accordLabeling = {
  snapshot: () => ({
    mode: state.mode,
    current: state.queue[0]?.item.key ?? null,
    queued: state.queue.length,
    outbox: outbox.size(),
    inflight: requestsInFlight(),
    online: state.online,
  }),
};

/** Record the time from the keydown (its event timestamp) to the frame after the render. */
export function markPainted(startedAt, key) {
  if (startedAt == null) return;
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      latency.samples.push({ ms: performance.now() - startedAt, key });
      if (latency.samples.length > 1000) latency.samples.shift();
    };
    channel.port2.postMessage(null); // runs after the frame is painted
  });
}

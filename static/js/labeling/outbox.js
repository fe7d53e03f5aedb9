// The outbox: submits and skips waiting for the server, persisted per user and project, and
// sent in order. A label leaves the outbox only once the server has given a final answer.

import { ApiError, api, backoffMs, isAuthLost, isRetryable } from "./api.js";
import { OUTBOX_KEY } from "./page.js";
import { labelDelivered, renderSync, sessionLabels, setOnline } from "./progress.js";
import { refill } from "./queue.js";
import { state } from "./state.js";
import { quoted, storage } from "./util.js";
import { notice, showError } from "./view.js";

export const outbox = {
  memory: storage.get(OUTBOX_KEY, {}),
  seq: 0,
  /** Reads come from memory (the page asks on every render); another tab's writes arrive
   * through the `storage` event, and every write re-reads first so that none is overwritten. */
  refresh() {
    this.memory = storage.get(OUTBOX_KEY, this.memory);
  },
  write(change) {
    this.refresh();
    change(this.memory);
    storage.set(OUTBOX_KEY, this.memory);
  },
  list() {
    return Object.values(this.memory).sort((a, b) => a.seq - b.seq);
  },
  size() {
    return Object.keys(this.memory).length;
  },
  add(entry) {
    entry.seq = Date.now() * 1000 + (this.seq++ % 1000);
    this.write((all) => {
      all[entry.id] = entry;
    });
  },
  update(entry) {
    this.write((all) => {
      if (all[entry.id]) all[entry.id] = entry;
    });
  },
  remove(id) {
    this.write((all) => {
      delete all[id];
    });
  },
};

let flushing = false;
let flushTimer = null;

/** Send the outbox in order. A retryable failure waits (backoff) and keeps the entry; any other
 * answer is final and removes it. */
export async function flush() {
  if (flushing) return;
  flushing = true;
  clearTimeout(flushTimer);
  let delivered = false;
  try {
    for (;;) {
      const entry = outbox.list()[0];
      if (!entry) break;
      const wait = entry.nextAt - Date.now();
      if (wait > 0) {
        flushTimer = setTimeout(flush, wait);
        break;
      }
      try {
        const data = await api("POST", entry.path, entry.body);
        outbox.remove(entry.id);
        delivered = true;
        state.authLost = false;
        setOnline(true);
        if (entry.isNew && data?.created) labelDelivered();
      } catch (error) {
        if (isRetryable(error)) {
          entry.attempts += 1;
          entry.nextAt = Date.now() + backoffMs(entry.attempts);
          outbox.update(entry);
          state.authLost = isAuthLost(error);
          if (!(error instanceof ApiError) || error.status >= 500) setOnline(false);
          flushTimer = setTimeout(flush, entry.nextAt - Date.now());
          break;
        }
        outbox.remove(entry.id);
        delivered = true;
        rejected(entry, error);
      }
    }
  } finally {
    flushing = false;
    renderSync();
  }
  if (delivered) refill();
}

/** Retry now: the connection is back, or the rater did something. */
export function flushNow() {
  const head = outbox.list()[0];
  if (head && head.nextAt > Date.now()) {
    head.nextAt = 0;
    outbox.update(head);
  }
  flush();
}

function rejected(entry, error) {
  const key = quoted(entry.key);
  if (entry.kind === "skip") return; // the item left this rater's queue either way
  if (entry.isNew) sessionLabels.add(-1); // not saved: not labeled in this sitting
  if (entry.kind === "change") {
    const back = state.recent.find((e) => e.item.id === entry.itemId);
    if (back && entry.previous) Object.assign(back, entry.previous);
  } else {
    state.done.delete(entry.itemId);
    state.recent = state.recent.filter((e) => e.item.id !== entry.itemId);
  }
  if (error.code === "lease_expired" || error.code === "no_lease") {
    notice(
      `Your lease on ${key} expired before your label reached the server, so it was not saved: ` +
        "the item went back to the queue for someone else.",
    );
  } else if (error.code === "item_closed") {
    notice(`${key} takes no more labels (${error.message}), so your label was not saved.`);
  } else if (error.status === 403) {
    showError("You cannot label in this project any more", error.message);
  } else {
    notice(`Your label on ${key} was not accepted: ${error.message}`);
  }
}

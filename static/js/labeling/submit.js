// Submit and skip: the label goes to the outbox, the next item shows at once, and only then does
// the page talk to the server.

import { saveChange, remember } from "./history.js";
import { flush, outbox } from "./outbox.js";
import { renderSync, sessionLabels } from "./progress.js";
import { renderCurrent } from "./queue.js";
import { currentValue, hotkeyList } from "./selection.js";
import { state } from "./state.js";
import { uuid4 } from "./util.js";
import { hint } from "./view.js";

export function submit(startedAt = null) {
  if (state.mode === "review") return saveChange();
  if (state.mode !== "current") return;
  const hold = state.queue[0];
  const value = currentValue();
  if (value === null) {
    hint(`Choose a label first (${hotkeyList()}), then press Enter.`);
    return;
  }
  const clientId = uuid4();
  outbox.add({
    id: clientId,
    kind: "submit",
    itemId: hold.item.id,
    key: hold.item.key,
    path: `items/${hold.item.id}/submit/`,
    body: { value, client_id: clientId, time_spent_ms: state.stopwatch.ms() },
    held: true,
    isNew: true,
    attempts: 0,
    nextAt: 0,
  });
  sessionLabels.add(1);
  state.queue.shift();
  state.done.add(hold.item.id);
  remember({ item: hold.item, value, skipped: false });
  renderCurrent(startedAt);
  renderSync();
  setTimeout(flush, 0); // after this task: the next item paints first
}

export function skip(reason = "", startedAt = null) {
  if (state.mode === "review") {
    hint("You already answered this item. Esc returns to your current item.");
    return;
  }
  if (state.mode !== "current") return;
  const hold = state.queue[0];
  const id = uuid4();
  outbox.add({
    id,
    kind: "skip",
    itemId: hold.item.id,
    key: hold.item.key,
    path: `items/${hold.item.id}/skip/`,
    body: { reason },
    held: true,
    isNew: false,
    attempts: 0,
    nextAt: 0,
  });
  state.queue.shift();
  state.done.add(hold.item.id);
  remember({ item: hold.item, value: null, skipped: true });
  renderCurrent(startedAt);
  renderSync();
  setTimeout(flush, 0);
}

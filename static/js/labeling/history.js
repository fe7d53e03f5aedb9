// Going back (U or Backspace): the rater's own earlier items, newest first, from this tab and
// then from the server's history, shown for review; a changed label is saved as a new revision.

import { NetworkError, api, isAuthLost, isRetryable } from "./api.js";
import { flush, outbox } from "./outbox.js";
import { HISTORY_PAGE, KIND, RECENT_MAX, els } from "./page.js";
import { renderSync, sessionLabels, setOnline } from "./progress.js";
import { refill, renderCurrent, showEmpty } from "./queue.js";
import { currentValue, hotkeyList } from "./selection.js";
import { state } from "./state.js";
import { Stopwatch } from "./timing.js";
import { quoted, uuid4 } from "./util.js";
import { hint, setMode, showItem } from "./view.js";

export function remember(entry) {
  state.recent = [entry, ...state.recent.filter((e) => e.item.id !== entry.item.id)].slice(
    0,
    RECENT_MAX,
  );
}

export async function goBack() {
  if (!["current", "review", "empty"].includes(state.mode)) return;
  if (state.mode !== "review") {
    state.back = { entries: [...state.recent], index: -1, before: null, exhausted: false };
  }
  const back = state.back;
  const want = back.index + 1;
  if (want >= back.entries.length && !back.exhausted) {
    hint("Loading your earlier items…");
    await loadHistory(back);
    if (state.back !== back) return; // the rater moved on meanwhile
    hint("");
  }
  if (want >= back.entries.length) {
    hint(back.entries.length ? "Nothing further back." : "You have no earlier items here yet.");
    return;
  }
  back.index = want;
  enterReview(back.entries[want]);
}

/** GET with two quick retries: going back should not fail on a passing hiccup. */
async function getWithRetry(path) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api("GET", path);
    } catch (error) {
      if (attempt >= 3 || !isRetryable(error) || isAuthLost(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
}

async function loadHistory(back) {
  const before = back.before ? `&before=${back.before}` : "";
  try {
    const data = await getWithRetry(`history/?limit=${HISTORY_PAGE}${before}`);
    setOnline(true);
    const seen = new Set(back.entries.map((e) => e.item.id));
    for (const row of data.items) {
      back.before = Math.min(back.before ?? Infinity, row.assignment.id);
      if (seen.has(row.item.id)) continue; // this tab's copy is newer (it may not be sent yet)
      back.entries.push({ item: row.item, value: row.value, skipped: row.skipped });
    }
    if (data.items.length < HISTORY_PAGE) back.exhausted = true;
  } catch (error) {
    if (error instanceof NetworkError) setOnline(false);
    hint("Could not load your earlier items. Try again in a moment.");
  }
}

function enterReview(entry) {
  if (state.mode === "current") {
    const selection = KIND === "multi" ? [...state.selection] : state.selection;
    state.stopwatch.pause();
    state.paused = { itemId: state.queue[0].item.id, selection, watch: state.stopwatch };
  }
  setMode("review");
  els.reviewWhat.textContent = entry.skipped
    ? "you skipped this item; you may label it now"
    : "your earlier label";
  showItem(entry.item, { value: entry.value });
  state.reviewWatch = new Stopwatch();
}

function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function saveChange() {
  const entry = state.back.entries[state.back.index];
  const value = currentValue();
  if (value === null) {
    hint(`Choose a label (${hotkeyList()}), or press Esc to keep it as it was.`);
    return;
  }
  if (!entry.skipped && sameValue(value, entry.value)) {
    leaveReview("Unchanged.");
    return;
  }
  const clientId = uuid4();
  outbox.add({
    id: clientId,
    kind: "change",
    itemId: entry.item.id,
    key: entry.item.key,
    path: `items/${entry.item.id}/submit/`,
    body: { value, client_id: clientId, time_spent_ms: state.reviewWatch.ms() },
    held: false,
    isNew: entry.skipped,
    previous: { value: entry.value, skipped: entry.skipped },
    attempts: 0,
    nextAt: 0,
  });
  if (entry.skipped) sessionLabels.add(1); // a first label of an item skipped before
  entry.value = value;
  entry.skipped = false;
  remember(entry);
  leaveReview(`Saved your change to ${quoted(entry.item.key)}.`);
  renderSync();
  setTimeout(flush, 0);
}

export function leaveReview(message = "") {
  state.back = null;
  state.reviewWatch = null;
  if (state.queue[0]) {
    renderCurrent();
  } else if (state.emptyConfirmed) {
    showEmpty();
  } else {
    setMode("loading");
    refill();
  }
  hint(message);
}

// The queue of held items: queue[0] on screen, queue[1] prefetched. A claim refills it after
// each delivery; leases are renewed while the rater works and dropped when the server let go.

import { ApiError, NetworkError, api, backoffMs, isAuthLost, isRetryable } from "./api.js";
import { outbox } from "./outbox.js";
import { LEASE_MS, els } from "./page.js";
import { applyProgress, renderSync, setOnline } from "./progress.js";
import { state } from "./state.js";
import { Stopwatch, markPainted } from "./timing.js";
import { plural, quoted } from "./util.js";
import { focusStage, notice, preload, setMode, showError, showItem } from "./view.js";

export function renderCurrent(startedAt = null) {
  const hold = state.queue[0];
  if (!hold) {
    if (state.mode !== "error") setMode("loading");
    markPainted(startedAt, null);
    refill();
    return;
  }
  const wasCurrent = state.mode === "current";
  setMode("current");
  const assigned = hold.assignment.status === "assigned";
  const paused = state.paused?.itemId === hold.item.id ? state.paused : null;
  state.paused = null;
  showItem(hold.item, { tag: assigned ? "Assigned to you" : "", value: paused?.selection });
  state.stopwatch = paused?.watch ?? new Stopwatch();
  state.stopwatch.resume();
  if (!wasCurrent && !els.item.contains(document.activeElement)) focusStage();
  markPainted(startedAt, hold.item.key);
  preload(state.queue[1]?.item);
  if (hold.assignment.status === "leased" && Date.now() - hold.receivedAt > LEASE_MS / 3) {
    renewHold(hold); // the prefetched item waited a while: make sure its lease is still ours
  }
}

let emptyTimer = null;
export function showEmpty() {
  setMode("empty");
  clearTimeout(emptyTimer);
  // Leases of others expire and leads import more: look again now and then while visible.
  emptyTimer = setTimeout(() => {
    if (state.mode === "empty" && !document.hidden) refill();
    else if (state.mode === "empty") emptyTimer = null;
  }, 60_000);
  const waiting = outbox.size();
  const others = state.progress.project_remaining;
  const theirs =
    others === 1
      ? " 1 item still needs a label from another rater."
      : others
        ? ` ${others.toLocaleString()} items still need labels from other raters.`
        : "";
  els.emptyDetail.textContent = waiting
    ? `Your last ${plural(waiting, "label")} will be sent as soon as the connection allows.`
    : `Every item you could label here is done or being labeled by others.${theirs} Thank you!`;
  els.emptyHome.focus();
}

export function recheck() {
  setMode("loading");
  refill();
}

// --- talking to the server ----------------------------------------------------------------------

let refilling = false;
let refillAgain = false;
let refillFailures = 0;
let refillTimer = null;

/** Claim: the rater's holds (the current item first) plus new leases up to two. */
export async function refill() {
  if (state.mode === "error") return;
  if (refilling) {
    refillAgain = true;
    return;
  }
  refilling = true;
  clearTimeout(refillTimer);
  try {
    // Items whose submit is still in the outbox are held on the server until it arrives.
    const pendingHeld = outbox.list().filter((e) => e.held).length;
    const data = await api("POST", "claim/", { hold: Math.min(3, 2 + pendingHeld) });
    refillFailures = 0;
    setOnline(true);
    applyProgress(data.progress);
    mergeClaim(data.items);
  } catch (error) {
    if (error instanceof ApiError && !isRetryable(error)) {
      showError("You cannot label in this project", error.message);
    } else {
      if (!(error instanceof ApiError)) setOnline(false);
      if (isAuthLost(error)) {
        state.authLost = true;
        renderSync();
      }
      refillFailures += 1;
      refillTimer = setTimeout(refill, backoffMs(refillFailures));
    }
  } finally {
    refilling = false;
    if (refillAgain) {
      refillAgain = false;
      refill();
    }
  }
}

function mergeClaim(holds) {
  const now = Date.now();
  const fresh = holds
    .filter((h) => !state.done.has(h.item.id))
    .map((h) => ({ ...h, receivedAt: now }));
  const current = state.queue[0];
  if (current) {
    const again = fresh.find((h) => h.item.id === current.item.id);
    if (again) {
      current.assignment = again.assignment;
      current.receivedAt = now;
    }
    state.queue = [current, ...fresh.filter((h) => h.item.id !== current.item.id)];
  } else {
    state.queue = fresh;
  }
  preload(state.queue[1]?.item);
  const pendingHeld = outbox.list().some((e) => e.held);
  state.emptyConfirmed = state.queue.length === 0 && !pendingHeld;
  if (state.mode === "loading" || state.mode === "empty") {
    if (state.queue[0]) renderCurrent();
    else if (state.emptyConfirmed) showEmpty();
  }
}

async function renewHold(hold) {
  try {
    const assignment = await api("POST", `items/${hold.item.id}/renew/`);
    hold.assignment = { ...hold.assignment, ...assignment };
    hold.receivedAt = Date.now();
    setOnline(true);
  } catch (error) {
    if (error instanceof ApiError && [404, 409].includes(error.status)) dropHold(hold);
    else if (error instanceof NetworkError) setOnline(false);
  }
}

/** The server no longer holds this item for the rater (the lease expired and was reclaimed). */
function dropHold(hold) {
  const index = state.queue.indexOf(hold);
  if (index < 0) return;
  state.queue.splice(index, 1);
  if (index === 0 && state.mode === "current") {
    notice(
      `Your lease on ${quoted(hold.item.key)} expired while you were away, so it went back ` +
        "to the queue. Here is your next item.",
    );
    renderCurrent();
  }
  refill();
}

export function renewTick() {
  // An idle rater's items go back to the queue when their leases run out.
  if (Date.now() - state.lastActivity > LEASE_MS) return;
  for (const hold of [...state.queue]) {
    if (hold.assignment.status === "leased") renewHold(hold);
  }
}

export function noteActivity() {
  const idleFor = Date.now() - state.lastActivity;
  state.lastActivity = Date.now();
  if (idleFor > LEASE_MS / 3) renewTick(); // back from a break: check the leases at once
}

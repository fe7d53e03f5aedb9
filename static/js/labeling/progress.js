// The rater's figures (this session, today, left for them, left in the project) and the
// connection's state: the banner when offline or logged out, and "Sending n labels…" / "All saved".
// The server's figures come with each claim; labels still in the outbox count at once.

import { outbox } from "./outbox.js";
import { SESSION_KEY, els } from "./page.js";
import { state } from "./state.js";
import { plural, sessionNumber } from "./util.js";

/** Items labeled in this sitting: counted when the rater submits, taken back if refused. */
export const sessionLabels = sessionNumber(SESSION_KEY);

const shown = (n) => (n === null || n === undefined ? "–" : Math.max(0, n).toLocaleString());

function renderProgress() {
  const { mine_today: mine, mine_remaining: mineLeft, project_remaining: left } = state.progress;
  const pendingNew = outbox.list().filter((e) => e.isNew).length;
  els.session.textContent = sessionLabels.get().toLocaleString();
  els.mineToday.textContent = mine === null ? "–" : shown(mine + pendingNew);
  els.mineRemaining.textContent = mineLeft === null ? "–" : shown(mineLeft - pendingNew);
  els.remaining.textContent = shown(left);
}

/** The server took a new label: count it now; the next claim brings the figures afresh. */
export function labelDelivered() {
  const progress = state.progress;
  if (progress.mine_today !== null) progress.mine_today += 1;
  if (progress.mine_remaining !== null) progress.mine_remaining -= 1;
}

export function applyProgress(progress) {
  if (!progress) return;
  state.progress = progress;
  renderProgress();
}

export function renderSync() {
  const waiting = outbox.size();
  const labels = plural(waiting, "label");
  const kept = waiting ? " Kept safe in this browser; sent as soon as the server answers." : "";
  let headline = "";
  if (state.authLost) {
    headline = `You are logged out — ${labels} waiting to be sent.`;
  } else if (!state.online && waiting) {
    headline = `Offline — ${labels} waiting to be sent.`;
  } else if (!state.online) {
    headline = "Offline — trying to reconnect…";
  }
  if (headline) {
    const strong = document.createElement("b");
    strong.textContent = headline;
    const login = state.authLost ? " Log in again in another tab, then come back." : "";
    els.banner.replaceChildren(strong, kept + login);
  }
  els.banner.hidden = !headline;
  const offline = !state.online || state.authLost;
  els.sync.textContent = offline ? "" : waiting ? `Sending ${labels}…` : "All saved";
  els.sync.classList.toggle("is-pending", waiting > 0);
  els.loadingText.textContent = state.online
    ? "Loading the next item…"
    : "Waiting for the connection to come back…";
  renderProgress();
}

export function setOnline(online) {
  if (state.online === online) return;
  state.online = online;
  renderSync();
}

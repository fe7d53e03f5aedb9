// The rater's counters (mine today, remaining in the project) and the connection's state: the
// banner when offline or logged out, and "Sending n labels…" / "All saved".

import { outbox } from "./outbox.js";
import { els } from "./page.js";
import { state } from "./state.js";
import { plural } from "./util.js";

function renderProgress() {
  const { mine_today: mine, project_remaining: remaining } = state.progress;
  const pendingNew = outbox.list().filter((e) => e.isNew).length;
  els.mineToday.textContent = mine === null ? "–" : (mine + pendingNew).toLocaleString();
  els.remaining.textContent = remaining === null ? "–" : remaining.toLocaleString();
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

// Any job's page (core/_job_progress.html): poll the job's state every ~500 ms and move the
// bar, the phase and the counts. When the job finishes, reload once so the server renders the
// outcome (errors, next steps); a stalled job reloads too, to offer its retry.
const card = document.querySelector("[data-job]");
const POLL_MS = 500;
const number = new Intl.NumberFormat("en-US");

function capitalised(text) {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

function render(state) {
  const bar = card.querySelector("[data-job-bar]");
  const fill = bar.querySelector("span");
  if (state.percent === null) {
    bar.classList.toggle("is-indeterminate", !state.finished);
    bar.removeAttribute("aria-valuenow");
  } else {
    bar.classList.remove("is-indeterminate");
    fill.style.width = `${state.percent}%`;
    bar.setAttribute("aria-valuenow", String(state.percent));
  }
  const badge = document.querySelector("[data-job-badge]");
  if (badge) {
    badge.textContent = state.status_display;
    badge.className = `badge badge-job badge-${state.status}`;
  }
  const phase = state.phase || (state.status === "pending" ? "waiting for a worker" : state.status_display);
  card.querySelector("[data-job-phase]").textContent = capitalised(phase);
  card.querySelector("[data-job-percent]").textContent =
    state.percent !== null && !state.finished ? `${state.percent}%` : "";
  const unit = card.dataset.unit || "rows";
  card.querySelector("[data-job-count]").textContent = state.total
    ? `${number.format(state.progress)} of ${number.format(state.total)} ${unit}`
    : state.progress ? `${number.format(state.progress)} ${unit}` : "";
  for (const [key, value] of Object.entries(state.counts)) {
    const cell = document.querySelector(`[data-job-counts="${key}"]`);
    if (cell) cell.textContent = number.format(value);
  }
  const errors = document.querySelector("[data-job-errors]");
  if (errors) errors.textContent = number.format(state.error_count);
}

async function poll() {
  try {
    const response = await fetch(card.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" });
    if (response.ok) {
      const state = await response.json();
      render(state);
      if (state.finished || state.stalled) {
        window.location.reload();
        return;
      }
    }
  } catch {
    // A dropped request is retried on the next tick.
  }
  window.setTimeout(poll, POLL_MS);
}

if (card) window.setTimeout(poll, POLL_MS);

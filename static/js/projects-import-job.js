// The import job page: poll the job's status every ~500 ms and move the bar and the counts.
// When the job finishes, reload once so the server renders the outcome (errors, next steps).
const card = document.querySelector("[data-job]");
const POLL_MS = 500;
const number = new Intl.NumberFormat("en-US");

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
  const badge = card.querySelector("[data-job-badge]");
  badge.textContent = state.status_display;
  badge.className = `badge badge-job badge-${state.status}`;
  const phase = state.phase || (state.status === "pending" ? "Waiting for a worker" : state.status_display);
  card.querySelector("[data-job-phase]").textContent = phase.charAt(0).toUpperCase() + phase.slice(1);
  card.querySelector("[data-job-percent]").textContent =
    state.percent !== null && !state.finished ? `${state.percent}%` : "";
  card.querySelector("[data-job-count]").textContent = state.total
    ? `${number.format(state.progress)} of ${number.format(state.total)} rows`
    : state.progress ? `${number.format(state.progress)} rows` : "";
  card.querySelector("[data-job-created]").textContent = number.format(state.created_count);
  card.querySelector("[data-job-duplicates]").textContent = number.format(state.duplicate_count);
  card.querySelector("[data-job-errors]").textContent = number.format(state.error_count);
}

async function poll() {
  try {
    const response = await fetch(card.dataset.statusUrl, { credentials: "same-origin", cache: "no-store" });
    if (response.ok) {
      const state = await response.json();
      render(state);
      if (state.finished) {
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

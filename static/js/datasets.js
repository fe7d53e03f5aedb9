// The versions page (exports/datasets.html): each build still running polls its state and moves
// its bar and badge, and the page reloads once one ends (to show its rows and splits). The
// build form always keeps one empty split row to type a new split into.
const POLL_MS = 1000;

function watch(cell) {
  const row = cell.closest("tr");
  const bar = cell.querySelector("[role=progressbar]");
  const fill = bar.querySelector("span");
  const phase = cell.querySelector("[data-version-phase]");
  const badge = row.querySelector("[data-job-badge]");
  async function poll() {
    try {
      const response = await fetch(cell.dataset.versionStatusUrl, { credentials: "same-origin", cache: "no-store" });
      if (response.ok) {
        const state = await response.json();
        if (state.finished || state.stalled) {
          window.location.reload();
          return;
        }
        if (state.percent === null) {
          bar.classList.add("is-indeterminate");
          bar.removeAttribute("aria-valuenow");
        } else {
          bar.classList.remove("is-indeterminate");
          fill.style.width = `${state.percent}%`;
          bar.setAttribute("aria-valuenow", String(state.percent));
        }
        phase.textContent = state.phase || (state.status === "pending" ? "waiting for a worker" : state.status_display);
        if (badge) {
          badge.textContent = state.status_display;
          badge.className = `badge badge-job badge-${state.status}`;
        }
      }
    } catch {
      // A dropped request is retried on the next tick.
    }
    window.setTimeout(poll, POLL_MS);
  }
  window.setTimeout(poll, POLL_MS);
}

document.querySelectorAll("[data-version-status-url]").forEach(watch);

const rows = document.querySelector("[data-split-rows]");
if (rows) {
  rows.addEventListener("input", () => {
    const last = rows.lastElementChild;
    const filled = [...last.querySelectorAll("input")].some((input) => input.value.trim());
    if (!filled) return;
    const copy = last.cloneNode(true);
    const number = rows.children.length + 1;
    copy.querySelectorAll("input").forEach((input) => {
      input.value = "";
      input.setAttribute("aria-label", input.getAttribute("aria-label").replace(/\d+$/, String(number)));
    });
    rows.append(copy);
  });
}

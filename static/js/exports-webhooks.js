// A project's webhooks: copy a new secret with one click, confirm a delete or a deactivation,
// and, on a webhook's page, refresh the deliveries' log while attempts are due (a ping just
// sent, a retry in a few seconds) so that the receiver's answer shows without a reload.
import { confirmForms } from "./projects-confirm.js";
import { secretCopy } from "./secret-copy.js";

const EVERY_MS = 2000;
const GIVE_UP_MS = 120000;

function refreshDeliveries() {
  if (!document.querySelector("#deliveries[data-refresh]")) return;
  const started = Date.now();
  const later = () => window.setTimeout(tick, EVERY_MS);

  async function tick() {
    if (Date.now() - started > GIVE_UP_MS) return;
    const current = document.querySelector("#deliveries");
    // Never swap the log out from under the keyboard: wait while focus is in it.
    if (current.contains(document.activeElement)) return later();
    let fresh;
    try {
      const response = await fetch(window.location.href, { credentials: "same-origin" });
      if (!response.ok) return later();
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      fresh = page.querySelector("#deliveries");
    } catch {
      return later();
    }
    if (!fresh) return;
    const open = [...current.querySelectorAll("tbody.delivery details[open]")]
      .map((details) => details.closest("tbody").id);
    current.replaceWith(fresh);
    for (const id of open) fresh.querySelector(`#${id} details`)?.setAttribute("open", "");
    if (fresh.hasAttribute("data-refresh")) later();
  }

  later();
}

confirmForms();
secretCopy();
refreshDeliveries();

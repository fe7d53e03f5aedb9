// The labeling page: claim, show, label and submit items through the labeling API.
// ES modules in this folder, no framework, no build step. Keyboard first; works without a mouse.
// This module wires the others to the page and starts it.
//
// The flow: the page always holds two items (claim hold=2): queue[0] is on screen, queue[1] is
// prefetched. A submit puts the label in the outbox (localStorage, keyed by client_id), shows
// queue[1] at once, and only then talks to the server: the outbox sends in order, retries with
// backoff under the same client_id (the server deduplicates), and after each delivery a new
// claim refills the prefetch. Nothing the rater submitted is lost to a dropped connection or a
// reload. Labels shown are only ever the rater's own (the API returns nothing else).
//
// Only functions cross the import cycles between these modules: code that runs on import uses
// page.js, util.js and state.js alone, which import nothing that imports them back.

import { goBack } from "./history.js";
import { onKeyDown } from "./keyboard.js";
import { flush, flushNow, outbox } from "./outbox.js";
import {
  INSTRUCTIONS_KEY,
  KIND,
  OUTBOX_KEY,
  RENEW_EVERY_MS,
  SUBMIT_ON_HOTKEY_KEY,
  config,
  els,
} from "./page.js";
import { openHelp, setInstructions, toggleInstructions } from "./panels.js";
import { renderSync } from "./progress.js";
import { noteActivity, recheck, refill, renewTick } from "./queue.js";
import { choose } from "./selection.js";
import { state } from "./state.js";
import { skip, submit } from "./submit.js";
import { storage } from "./util.js";
import { dismissNotice, drawSharpIfSmall, setMode, setZoom, showError } from "./view.js";

function onClick(event) {
  const labelButton = event.target.closest(".lab-label");
  if (labelButton) {
    const value = labelButton.dataset.value;
    choose(KIND === "rating" ? Number(value) : value);
    return;
  }
  const button = event.target.closest("[data-action]");
  const action = button?.dataset.action;
  if (!action) return;
  // After a mouse click, hand the keyboard back to the page: a Skip button that kept the focus
  // would otherwise take the next Enter meant to submit. A keyboard activation keeps its focus.
  if (event.detail > 0 && ["submit", "skip", "back"].includes(action)) {
    button.blur();
    els.item.focus({ preventScroll: true });
  }
  const actions = {
    submit: () => submit(),
    skip: () => skip(),
    back: () => goBack(),
    instructions: toggleInstructions,
    help: openHelp,
    "close-help": () => els.help.close(),
    dismiss: dismissNotice,
    recheck,
  };
  actions[action]?.();
}

function init() {
  // Submits and skips still in the outbox (from before a reload) count as done here.
  for (const entry of outbox.list()) {
    if (entry.held) state.done.add(entry.itemId);
  }
  const stored = storage.get(INSTRUCTIONS_KEY, null);
  const hasInstructions = !document.querySelector(".lab-instructions-body.muted");
  setInstructions(stored ?? (hasInstructions && window.innerWidth >= 1000), false);

  document.addEventListener("keydown", onKeyDown);
  document.addEventListener("click", onClick);
  document.addEventListener("pointerdown", noteActivity, { passive: true });
  document.addEventListener("visibilitychange", () => {
    const watch = state.mode === "review" ? state.reviewWatch : state.stopwatch;
    if (document.hidden) watch?.pause();
    else {
      watch?.resume();
      flushNow();
      if (state.mode === "empty") refill();
    }
  });
  window.addEventListener("online", () => {
    flushNow();
    if (state.mode === "loading") refill();
  });
  window.addEventListener("storage", (event) => {
    if (event.key === OUTBOX_KEY) {
      outbox.refresh();
      renderSync();
    }
  });
  els.img.addEventListener("click", (event) => {
    const box = els.img.getBoundingClientRect();
    const anchor = { x: (event.clientX - box.left) / box.width, y: (event.clientY - box.top) / box.height };
    setZoom(state.zoom > 1 ? 1 : 2, anchor);
  });
  els.img.addEventListener("load", drawSharpIfSmall);
  new ResizeObserver(drawSharpIfSmall).observe(els.figure);
  els.range?.addEventListener("input", () => choose(Number(els.range.value)));
  els.submitOnHotkey?.addEventListener("change", () => {
    state.submitOnHotkey = els.submitOnHotkey.checked;
    storage.set(SUBMIT_ON_HOTKEY_KEY, state.submitOnHotkey);
  });
  els.skipDialog.addEventListener("close", () => {
    if (els.skipDialog.returnValue === "skip") skip(els.skipReason.value.trim());
  });
  setInterval(renewTick, RENEW_EVERY_MS);

  renderSync();
  if (!config.canLabel) {
    showError(
      "You are not a rater in this project",
      "Only members of a project can label its items. Ask a lead to add you.",
    );
    return;
  }
  setMode("loading");
  flush();
  refill();
}

init();

// The instructions panel, the shortcuts dialog (with its one setting) and the skip dialog.

import { INSTRUCTIONS_KEY, els } from "./page.js";
import { state } from "./state.js";
import { storage } from "./util.js";

export function setInstructions(open, remember = true) {
  document.body.classList.toggle("instructions-closed", !open);
  for (const button of document.querySelectorAll('[data-action="instructions"]')) {
    button.setAttribute("aria-expanded", String(open));
  }
  if (remember) storage.set(INSTRUCTIONS_KEY, open);
}

export function toggleInstructions() {
  setInstructions(document.body.classList.contains("instructions-closed"));
}

export function openHelp() {
  if (els.submitOnHotkey) els.submitOnHotkey.checked = state.submitOnHotkey;
  els.help.showModal();
}

export function openSkipDialog() {
  if (state.mode !== "current") return;
  els.skipReason.value = "";
  els.skipDialog.returnValue = "";
  els.skipDialog.showModal();
  els.skipReason.focus();
}

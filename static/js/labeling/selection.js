// Choosing labels: the rater's choice on the item on screen, the buttons and slider that show it,
// and the value it submits.

import { KIND, config, els, labelButtons } from "./page.js";
import { state } from "./state.js";
import { hint } from "./view.js";

export function setSelection(value) {
  if (KIND === "multi") state.selection = new Set(Array.isArray(value) ? value : []);
  else state.selection = value ?? null;
  paintSelection();
}

function isSelected(value) {
  return KIND === "multi" ? state.selection.has(value) : state.selection === value;
}

function paintSelection() {
  for (const button of labelButtons) {
    const value = KIND === "rating" ? Number(button.dataset.value) : button.dataset.value;
    const pressed = isSelected(value) ? "true" : "false";
    if (button.getAttribute("aria-pressed") !== pressed) button.setAttribute("aria-pressed", pressed);
  }
  if (els.range) {
    const chosen = state.selection !== null;
    if (chosen) els.range.value = String(state.selection);
    els.rangeOut.textContent = chosen ? String(state.selection) : "–";
    els.range.classList.toggle("is-unset", !chosen);
  }
  let text = state.mode === "review" ? "Save change" : "Submit";
  if (KIND === "multi" && state.selection.size === 0) text += " · none of these";
  els.submitText.textContent = text;
}

export function choose(value) {
  if (KIND === "multi") {
    if (state.selection.has(value)) state.selection.delete(value);
    else state.selection.add(value);
  } else {
    state.selection = value;
  }
  paintSelection();
  hint("");
}

function inRating(n) {
  return Number.isInteger(n) && n >= config.ratingMin && n <= config.ratingMax;
}

let ratingTyped = "";
let ratingTimer = null;
/** Digits pick a rating; two quick digits pick a two-digit one (1 then 0 is 10 on a 0-10 scale). */
export function typeRatingDigit(digit) {
  const combined = Number(ratingTyped + digit);
  if (ratingTyped && inRating(combined)) {
    choose(combined);
    ratingTyped += digit;
  } else if (inRating(Number(digit))) {
    choose(Number(digit));
    ratingTyped = digit;
  } else {
    ratingTyped = "";
    hint(`Ratings go from ${config.ratingMin} to ${config.ratingMax}.`);
    return false;
  }
  clearTimeout(ratingTimer);
  ratingTimer = setTimeout(() => (ratingTyped = ""), 800);
  return true;
}

export function stepRating(delta) {
  const start = state.selection ?? (delta > 0 ? config.ratingMin - 1 : config.ratingMax + 1);
  const next = Math.min(config.ratingMax, Math.max(config.ratingMin, start + delta));
  choose(next);
}

/** The value to submit, or null when the rater has not chosen yet. */
export function currentValue() {
  if (KIND === "multi") return [...state.selection].sort();
  return state.selection;
}

export function hotkeyList() {
  if (KIND === "rating") return `${config.ratingMin}–${config.ratingMax}`;
  const keys = labelButtons.map((b) => b.dataset.hotkey).filter(Boolean);
  return keys.length ? keys.join(", ").toUpperCase() : "a label";
}

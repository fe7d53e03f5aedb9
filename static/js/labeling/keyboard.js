// The keyboard: every action of the page has a key; the shortcuts dialog (?) lists them.

import { goBack, leaveReview } from "./history.js";
import { KIND, ZOOM_RESET_KEY, buttonByHotkey, els } from "./page.js";
import { openHelp, openSkipDialog, toggleInstructions } from "./panels.js";
import { noteActivity, recheck } from "./queue.js";
import { choose, stepRating, typeRatingDigit } from "./selection.js";
import { state } from "./state.js";
import { skip, submit } from "./submit.js";
import { dismissNotice, setZoom, zoomStep } from "./view.js";

function isTyping(target) {
  if (!(target instanceof HTMLElement)) return false;
  if (target.isContentEditable || target.tagName === "TEXTAREA" || target.tagName === "SELECT") {
    return true;
  }
  return target.tagName === "INPUT" && !["checkbox", "radio", "button"].includes(target.type);
}

function scrollTarget() {
  return state.zoom > 1 ? els.figure : els.item;
}

export function onKeyDown(event) {
  noteActivity();
  if (event.defaultPrevented || event.ctrlKey || event.metaKey || event.altKey) return;
  if (els.help.open || els.skipDialog.open) {
    if (event.key === "?" && els.help.open) {
      els.help.close();
      event.preventDefault();
    }
    return; // a dialog has the keyboard (Esc closes it natively)
  }
  const target = event.target;
  const key = event.key;
  if (target === els.range && key.startsWith("Arrow")) return; // the slider moves itself
  if (isTyping(target) && target !== els.range) return;
  const handled = handleKey(event, key, target);
  if (handled) event.preventDefault();
}

function handleKey(event, key, target) {
  const lower = key.length === 1 ? key.toLowerCase() : key;
  const onItem = state.mode === "current" || state.mode === "review";
  const focusedControl = target instanceof HTMLElement && target.closest("a, button, input, summary");
  const focusedLabel = focusedControl && target.closest(".lab-label");

  if (key === "?") {
    openHelp();
    return true;
  }
  if (key === "Escape") {
    if (state.zoom > 1) setZoom(1);
    else if (!els.notice.hidden) dismissNotice();
    else if (state.mode === "review") leaveReview();
    else return false;
    return true;
  }
  if (lower === "i" && !event.shiftKey) {
    toggleInstructions();
    return true;
  }
  if (lower === "u" || key === "Backspace") {
    if (!event.repeat) goBack();
    return true;
  }
  if (state.mode === "empty" && lower === "r") {
    recheck();
    return true;
  }
  if (!onItem) return false;

  if (key === "Enter") {
    if (focusedControl && !focusedLabel) return false; // Enter activates the focused button
    if (!event.repeat) submit(event.timeStamp);
    return true;
  }
  if (lower === "s") {
    if (event.repeat) return true;
    if (event.shiftKey) openSkipDialog();
    else skip("", event.timeStamp);
    return true;
  }
  if (KIND === "rating") {
    if (/^[0-9]$/.test(key)) return typeRatingDigit(key);
    if (key === "ArrowRight" || key === "ArrowLeft") {
      stepRating(key === "ArrowRight" ? 1 : -1);
      return true;
    }
  } else if (buttonByHotkey.has(lower) && !event.shiftKey) {
    choose(buttonByHotkey.get(lower).dataset.value);
    if (state.submitOnHotkey && KIND === "single" && state.mode === "current" && !event.repeat) {
      submit(event.timeStamp);
    }
    return true;
  }
  if (key === "+" || key === "=") return zoomStep(1);
  if (key === "-") return zoomStep(-1);
  if (key === ZOOM_RESET_KEY && !els.figure.hidden) {
    setZoom(1); // a key no label can have (labeling/views/label.py)
    return true;
  }
  const scroller = scrollTarget();
  const page = scroller.clientHeight * 0.85;
  const scrolls = {
    ArrowDown: 48,
    ArrowUp: -48,
    PageDown: page,
    PageUp: -page,
    " ": event.shiftKey ? -page : page,
  };
  if (key in scrolls && !(key === " " && focusedControl)) {
    scroller.scrollBy({ top: scrolls[key] });
    return true;
  }
  if (key === "Home" || key === "End") {
    scroller.scrollTop = key === "Home" ? 0 : scroller.scrollHeight;
    return true;
  }
  return false;
}

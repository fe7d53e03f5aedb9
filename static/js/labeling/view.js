// Drawing the stage: which panel shows, the item (its key, text and image) with its zoom, and the
// one-line hint, the notice and the error panel.

import { ZOOMS, ZOOM_RESET_KEY, els } from "./page.js";

const SHORT_TEXT_CHARS = 280;
const SHARP_FROM_SCALE = 2;
import { setSelection } from "./selection.js";
import { state } from "./state.js";

const STATE_PANELS = { loading: els.loading, empty: els.empty, error: els.error };

export function setMode(mode) {
  state.mode = mode;
  const showsItem = mode === "current" || mode === "review";
  els.item.hidden = !showsItem;
  els.controls.hidden = !showsItem;
  for (const [name, panel] of Object.entries(STATE_PANELS)) panel.hidden = name !== mode;
  els.review.hidden = mode !== "review";
  els.backText.textContent = mode === "review" ? "Further back" : "Back";
  document.body.classList.toggle("is-review", mode === "review");
  els.skip.disabled = mode !== "current";
}

const preloaded = new Map();
export function preload(item) {
  if (!item?.image_url || preloaded.has(item.image_url)) return;
  const image = new Image();
  image.decoding = "async";
  image.src = item.image_url;
  preloaded.set(item.image_url, image);
  if (preloaded.size > 8) preloaded.delete(preloaded.keys().next().value);
}

export function showItem(item, { tag = "", value = null } = {}) {
  els.key.textContent = item.key;
  els.tag.textContent = tag;
  els.tag.hidden = !tag;
  if (item.image_url) {
    els.figure.hidden = false;
    if (item.width && item.height) {
      els.img.width = item.width;
      els.img.height = item.height;
    }
    els.img.alt = `Image of item ${item.key}`;
    els.img.src = item.image_url;
  } else {
    els.figure.hidden = true;
    els.img.removeAttribute("src");
  }
  els.text.textContent = item.text || (item.image_url ? "" : "(This item has no text.)");
  els.text.hidden = !els.text.textContent;
  els.text.classList.toggle("is-empty", !item.text && !item.image_url);
  els.text.classList.toggle("is-short", isShort(item.text));
  els.item.classList.toggle("has-image", Boolean(item.image_url));
  setZoom(1);
  drawSharpIfSmall();
  els.item.scrollTop = 0;
  setSelection(value);
  hint("");
}

/** A text of a few lines: shown larger, in the middle of its card. */
function isShort(text) {
  return Boolean(text) && text.length <= SHORT_TEXT_CHARS && text.split("\n").length <= 4;
}

/** An image drawn at twice its size or more (the 8x8-derived digits, icons, thumbnails) is drawn
 * with sharp pixels: smoothing would only blur it. Called when the image loads, the item changes,
 * the zoom changes or the stage is resized. */
export function drawSharpIfSmall() {
  const img = els.img;
  if (els.figure.hidden || !img.naturalWidth) return;
  const box = img.getBoundingClientRect(); // the figure (object-fit: contain), or the zoomed image
  const scale = Math.min(box.width / img.naturalWidth, box.height / img.naturalHeight);
  img.classList.toggle("is-pixelated", scale >= SHARP_FROM_SCALE);
}

export function hint(text) {
  els.hint.textContent = text;
}

let noticeTimer = null;
export function notice(text) {
  els.noticeText.textContent = text;
  els.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(dismissNotice, 20_000);
}
export function dismissNotice() {
  els.notice.hidden = true;
}

export function showError(title, text) {
  els.errorTitle.textContent = title;
  els.errorText.textContent = text;
  setMode("error");
}

export function focusStage() {
  const active = document.activeElement;
  if (!active || active === document.body || active.closest("[hidden]")) {
    els.item.focus({ preventScroll: true });
  }
}

// --- zoom ---------------------------------------------------------------------------------------

export function setZoom(zoom, anchor = null) {
  const img = els.img;
  if (zoom === state.zoom && zoom === 1) {
    els.item.classList.remove("is-zoomed");
    els.zoom.hidden = true;
    return;
  }
  if (state.zoom === 1 && zoom > 1) state.fitWidth = img.getBoundingClientRect().width;
  const figure = els.figure;
  const ratioX = anchor ? anchor.x : 0.5;
  const ratioY = anchor ? anchor.y : 0.5;
  state.zoom = zoom;
  els.item.classList.toggle("is-zoomed", zoom > 1);
  img.style.width = zoom > 1 ? `${Math.round(state.fitWidth * zoom)}px` : "";
  els.zoom.hidden = zoom === 1;
  const key = document.createElement("kbd");
  key.textContent = ZOOM_RESET_KEY;
  els.zoom.replaceChildren(`${Math.round(zoom * 100)}% · `, key, " fits");
  if (zoom > 1) {
    figure.scrollLeft = img.offsetWidth * ratioX - figure.clientWidth / 2;
    figure.scrollTop = img.offsetHeight * ratioY - figure.clientHeight / 2;
  }
  drawSharpIfSmall();
}

export function zoomStep(direction) {
  if (els.figure.hidden) return false;
  const index = ZOOMS.indexOf(state.zoom);
  const next = ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, index + direction))];
  setZoom(next);
  return true;
}

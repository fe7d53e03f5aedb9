// What the server put in the page: its configuration (the json_script "lab-config") and the
// elements the other modules draw into. Read once, when the module is first imported.

export const config = JSON.parse(document.getElementById("lab-config").textContent);
export const KIND = config.kind; // "single" | "multi" | "rating"
export const LEASE_MS = config.leaseMinutes * 60_000;
export const RENEW_EVERY_MS = Math.min(Math.max(LEASE_MS / 3, 20_000), 180_000);
export const OUTBOX_KEY = `accord.outbox.u${config.userId}.p${config.projectId}`;
export const INSTRUCTIONS_KEY = `accord.instructions.p${config.projectId}`;
export const SESSION_KEY = `accord.session.u${config.userId}.p${config.projectId}`;
export const SUBMIT_ON_HOTKEY_KEY = "accord.submitOnHotkey";
export const ZOOMS = [1, 1.5, 2, 3, 4];
export const ZOOM_RESET_KEY = config.zoomResetKey;
export const RECENT_MAX = 100;
export const HISTORY_PAGE = 50;

const $ = (id) => document.getElementById(id);
export const els = {
  body: $("lab-body"),
  item: $("lab-item"),
  key: $("lab-key"),
  tag: $("lab-tag"),
  zoom: $("lab-zoom"),
  figure: $("lab-figure"),
  img: $("lab-img"),
  text: $("lab-text"),
  controls: $("lab-controls"),
  loading: $("lab-loading"),
  loadingText: $("lab-loading-text"),
  empty: $("lab-empty"),
  emptyDetail: $("lab-empty-detail"),
  emptyHome: $("lab-empty-home"),
  error: $("lab-error"),
  errorTitle: $("lab-error-title"),
  errorText: $("lab-error-text"),
  review: $("lab-review"),
  reviewWhat: $("lab-review-what"),
  submit: $("lab-submit"),
  submitText: $("lab-submit-text"),
  skip: $("lab-skip-btn"),
  backText: $("lab-back-text"),
  hint: $("lab-hint"),
  banner: $("lab-banner"),
  notice: $("lab-notice"),
  noticeText: $("lab-notice-text"),
  sync: $("lab-sync"),
  session: $("lab-session"),
  mineToday: $("lab-mine-today"),
  mineRemaining: $("lab-mine-remaining"),
  remaining: $("lab-remaining"),
  help: $("lab-help"),
  skipDialog: $("lab-skip"),
  skipReason: $("lab-skip-reason"),
  submitOnHotkey: $("lab-submit-on-hotkey"),
  range: $("lab-range"),
  rangeOut: $("lab-range-out"),
};
export const labelButtons = [...document.querySelectorAll(".lab-label")];
export const buttonByHotkey = new Map(
  labelButtons.filter((b) => b.dataset.hotkey).map((b) => [b.dataset.hotkey, b]),
);

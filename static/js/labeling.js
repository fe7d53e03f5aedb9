// The labeling page: claim, show, label and submit items through the labeling API.
// One ES module, no framework, no build step. Keyboard first; works without a mouse.
//
// The flow: the page always holds two items (claim hold=2): queue[0] is on screen, queue[1] is
// prefetched. A submit puts the label in the outbox (localStorage, keyed by client_id), shows
// queue[1] at once, and only then talks to the server: the outbox sends in order, retries with
// backoff under the same client_id (the server deduplicates), and after each delivery a new
// claim refills the prefetch. Nothing the rater submitted is lost to a dropped connection or a
// reload. Labels shown are only ever the rater's own (the API returns nothing else).

const config = JSON.parse(document.getElementById("lab-config").textContent);
const KIND = config.kind; // "single" | "multi" | "rating"
const LEASE_MS = config.leaseMinutes * 60_000;
const RENEW_EVERY_MS = Math.min(Math.max(LEASE_MS / 3, 20_000), 180_000);
const OUTBOX_KEY = `accord.outbox.u${config.userId}.p${config.projectId}`;
const INSTRUCTIONS_KEY = `accord.instructions.p${config.projectId}`;
const SUBMIT_ON_HOTKEY_KEY = "accord.submitOnHotkey";
const ZOOMS = [1, 1.5, 2, 3, 4];
const ZOOM_RESET_KEY = config.zoomResetKey;
const RECENT_MAX = 100;
const HISTORY_PAGE = 50;

const $ = (id) => document.getElementById(id);
const els = {
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
  mineToday: $("lab-mine-today"),
  remaining: $("lab-remaining"),
  help: $("lab-help"),
  skipDialog: $("lab-skip"),
  skipReason: $("lab-skip-reason"),
  submitOnHotkey: $("lab-submit-on-hotkey"),
  range: $("lab-range"),
  rangeOut: $("lab-range-out"),
};
const labelButtons = [...document.querySelectorAll(".lab-label")];
const buttonByHotkey = new Map(
  labelButtons.filter((b) => b.dataset.hotkey).map((b) => [b.dataset.hotkey, b]),
);

// --- small helpers ------------------------------------------------------------------------------

const storage = {
  get(key, fallback) {
    try {
      const raw = localStorage.getItem(key);
      return raw === null ? fallback : JSON.parse(raw);
    } catch {
      return fallback;
    }
  },
  set(key, value) {
    try {
      localStorage.setItem(key, JSON.stringify(value));
      return true;
    } catch {
      return false; // private mode or full: the in-memory copy still works for this tab
    }
  },
};

function uuid4() {
  if (crypto.randomUUID) return crypto.randomUUID(); // only in secure contexts
  const b = crypto.getRandomValues(new Uint8Array(16));
  b[6] = (b[6] & 0x0f) | 0x40;
  b[8] = (b[8] & 0x3f) | 0x80;
  const h = [...b].map((x) => x.toString(16).padStart(2, "0")).join("");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

const plural = (n, one, many = `${one}s`) => `${n} ${n === 1 ? one : many}`;
const quoted = (key) => `“${key}”`;

/** Milliseconds on screen, paused while the tab is hidden. */
class Stopwatch {
  constructor() {
    this.total = 0;
    this.since = document.hidden ? null : performance.now();
  }
  pause() {
    if (this.since !== null) this.total += performance.now() - this.since;
    this.since = null;
  }
  resume() {
    if (this.since === null && !document.hidden) this.since = performance.now();
  }
  ms() {
    const running = this.since === null ? 0 : performance.now() - this.since;
    return Math.round(this.total + running);
  }
}

// --- the API ------------------------------------------------------------------------------------

class NetworkError extends Error {}
class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

function csrfToken() {
  const match = document.cookie.match(/(?:^|;\s*)csrftoken=([^;]+)/);
  return match ? decodeURIComponent(match[1]) : config.csrfToken;
}

let inflight = 0; // requests waiting for an answer (tests wait for none before they end)

async function api(method, path, body) {
  inflight += 1;
  try {
    return await request(method, path, body);
  } finally {
    inflight -= 1;
  }
}

async function request(method, path, body) {
  const headers = { Accept: "application/json", "X-CSRFToken": csrfToken() };
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(config.apiBase + path, {
      method,
      headers,
      credentials: "same-origin",
      cache: "no-store",
      body: body === undefined ? undefined : JSON.stringify(body),
    });
  } catch (error) {
    throw new NetworkError(String(error));
  }
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null; // a proxy's HTML error page, or nothing at all
  }
  if (!response.ok) {
    const error = (data && (data.error || data)) || {};
    throw new ApiError(
      response.status,
      error.code || "error",
      error.message || error.detail || response.statusText,
    );
  }
  return data;
}

/** The session ended or the CSRF token changed: keep the work and ask the rater to log in. */
const isAuthLost = (error) =>
  error instanceof ApiError &&
  (error.status === 401 ||
    (error.status === 403 &&
      (/csrf/i.test(error.message) ||
        ["not_authenticated", "authentication_failed"].includes(error.code))));

const isRetryable = (error) =>
  error instanceof NetworkError ||
  isAuthLost(error) ||
  (error instanceof ApiError && (error.status >= 500 || [408, 429].includes(error.status)));

const backoffMs = (attempts) =>
  Math.min(15_000, 1000 * 2 ** Math.max(0, attempts - 1)) * (0.8 + Math.random() * 0.4);

// --- the outbox: submits and skips waiting for the server, persisted per user and project --------

const outbox = {
  memory: storage.get(OUTBOX_KEY, {}),
  seq: 0,
  /** Reads come from memory (the page asks on every render); another tab's writes arrive
   * through the `storage` event, and every write re-reads first so that none is overwritten. */
  refresh() {
    this.memory = storage.get(OUTBOX_KEY, this.memory);
  },
  write(change) {
    this.refresh();
    change(this.memory);
    storage.set(OUTBOX_KEY, this.memory);
  },
  list() {
    return Object.values(this.memory).sort((a, b) => a.seq - b.seq);
  },
  size() {
    return Object.keys(this.memory).length;
  },
  add(entry) {
    entry.seq = Date.now() * 1000 + (this.seq++ % 1000);
    this.write((all) => {
      all[entry.id] = entry;
    });
  },
  update(entry) {
    this.write((all) => {
      if (all[entry.id]) all[entry.id] = entry;
    });
  },
  remove(id) {
    this.write((all) => {
      delete all[id];
    });
  },
};

// --- state --------------------------------------------------------------------------------------

const state = {
  mode: "loading", // loading | current | review | empty | error
  queue: [], // holds {item, assignment, receivedAt}; queue[0] is the current item
  selection: KIND === "multi" ? new Set() : null,
  paused: null, // the current item while the rater goes back: {itemId, selection, watch}
  emptyConfirmed: false, // the last claim found nothing, and nothing is waiting to be sent
  done: new Set(), // item ids submitted or skipped here: never shown again from a claim
  recent: [], // this tab's own past items, newest first: {item, value, skipped}
  back: null, // going back: {entries, index, before, exhausted}
  stopwatch: null,
  reviewWatch: null,
  progress: { mine_today: null, project_remaining: null },
  online: true,
  authLost: false,
  zoom: 1,
  fitWidth: 0,
  lastActivity: Date.now(),
  submitOnHotkey: KIND === "single" && storage.get(SUBMIT_ON_HOTKEY_KEY, false) === true,
};

for (const entry of outbox.list()) {
  if (entry.held) state.done.add(entry.itemId);
}

// --- keypress → next item painted, for bench/ui_latency.py ----------------------------------------

const latency = { samples: [] };
window.accordLatency = latency;
window.accordLabeling = {
  snapshot: () => ({
    mode: state.mode,
    current: state.queue[0]?.item.key ?? null,
    queued: state.queue.length,
    outbox: outbox.size(),
    inflight,
    online: state.online,
  }),
};

/** Record the time from the keydown (its event timestamp) to the frame after the render. */
function markPainted(startedAt, key) {
  if (startedAt == null) return;
  requestAnimationFrame(() => {
    const channel = new MessageChannel();
    channel.port1.onmessage = () => {
      latency.samples.push({ ms: performance.now() - startedAt, key });
      if (latency.samples.length > 1000) latency.samples.shift();
    };
    channel.port2.postMessage(null); // runs after the frame is painted
  });
}

// --- rendering ----------------------------------------------------------------------------------

const STATE_PANELS = { loading: els.loading, empty: els.empty, error: els.error };

function setMode(mode) {
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
function preload(item) {
  if (!item?.image_url || preloaded.has(item.image_url)) return;
  const image = new Image();
  image.decoding = "async";
  image.src = item.image_url;
  preloaded.set(item.image_url, image);
  if (preloaded.size > 8) preloaded.delete(preloaded.keys().next().value);
}

function showItem(item, { tag = "", value = null } = {}) {
  els.key.textContent = item.key;
  els.tag.textContent = tag;
  els.tag.hidden = !tag;
  if (item.image_url) {
    els.figure.hidden = false;
    els.img.classList.toggle("is-tiny", Math.max(item.width || 0, item.height || 0) < 96);
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
  els.item.classList.toggle("has-image", Boolean(item.image_url));
  setZoom(1);
  els.item.scrollTop = 0;
  setSelection(value);
  hint("");
}

function setSelection(value) {
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

function hint(text) {
  els.hint.textContent = text;
}

let noticeTimer = null;
function notice(text) {
  els.noticeText.textContent = text;
  els.notice.hidden = false;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(dismissNotice, 20_000);
}
function dismissNotice() {
  els.notice.hidden = true;
}

function showError(title, text) {
  els.errorTitle.textContent = title;
  els.errorText.textContent = text;
  setMode("error");
}

function renderCurrent(startedAt = null) {
  const hold = state.queue[0];
  if (!hold) {
    if (state.mode !== "error") setMode("loading");
    markPainted(startedAt, null);
    refill();
    return;
  }
  const wasCurrent = state.mode === "current";
  setMode("current");
  const assigned = hold.assignment.status === "assigned";
  const paused = state.paused?.itemId === hold.item.id ? state.paused : null;
  state.paused = null;
  showItem(hold.item, { tag: assigned ? "Assigned to you" : "", value: paused?.selection });
  state.stopwatch = paused?.watch ?? new Stopwatch();
  state.stopwatch.resume();
  if (!wasCurrent && !els.item.contains(document.activeElement)) focusStage();
  markPainted(startedAt, hold.item.key);
  preload(state.queue[1]?.item);
  if (hold.assignment.status === "leased" && Date.now() - hold.receivedAt > LEASE_MS / 3) {
    renewHold(hold); // the prefetched item waited a while: make sure its lease is still ours
  }
}

function focusStage() {
  const active = document.activeElement;
  if (!active || active === document.body || active.closest("[hidden]")) {
    els.item.focus({ preventScroll: true });
  }
}

let emptyTimer = null;
function showEmpty() {
  setMode("empty");
  clearTimeout(emptyTimer);
  // Leases of others expire and leads import more: look again now and then while visible.
  emptyTimer = setTimeout(() => {
    if (state.mode === "empty" && !document.hidden) refill();
    else if (state.mode === "empty") emptyTimer = null;
  }, 60_000);
  const waiting = outbox.size();
  els.emptyDetail.textContent = waiting
    ? `Your last ${plural(waiting, "label")} will be sent as soon as the connection allows.`
    : "Every item you could label here is done or being labeled by others. Thank you!";
  els.emptyHome.focus();
}

function renderProgress() {
  const { mine_today: mine, project_remaining: remaining } = state.progress;
  const pendingNew = outbox.list().filter((e) => e.isNew).length;
  els.mineToday.textContent = mine === null ? "–" : (mine + pendingNew).toLocaleString();
  els.remaining.textContent = remaining === null ? "–" : remaining.toLocaleString();
}

function applyProgress(progress) {
  if (!progress) return;
  state.progress = progress;
  renderProgress();
}

function renderSync() {
  const waiting = outbox.size();
  const labels = plural(waiting, "label");
  const kept = waiting ? " Kept safe in this browser; sent as soon as the server answers." : "";
  let headline = "";
  if (state.authLost) {
    headline = `You are logged out — ${labels} waiting to be sent.`;
  } else if (!state.online && waiting) {
    headline = `Offline — ${labels} waiting to be sent.`;
  } else if (!state.online) {
    headline = "Offline — trying to reconnect…";
  }
  if (headline) {
    const strong = document.createElement("b");
    strong.textContent = headline;
    const login = state.authLost ? " Log in again in another tab, then come back." : "";
    els.banner.replaceChildren(strong, kept + login);
  }
  els.banner.hidden = !headline;
  const offline = !state.online || state.authLost;
  els.sync.textContent = offline ? "" : waiting ? `Sending ${labels}…` : "All saved";
  els.sync.classList.toggle("is-pending", waiting > 0);
  els.loadingText.textContent = state.online
    ? "Loading the next item…"
    : "Waiting for the connection to come back…";
  renderProgress();
}

function setOnline(online) {
  if (state.online === online) return;
  state.online = online;
  renderSync();
}

// --- instructions, help, settings ---------------------------------------------------------------

function setInstructions(open, remember = true) {
  document.body.classList.toggle("instructions-closed", !open);
  for (const button of document.querySelectorAll('[data-action="instructions"]')) {
    button.setAttribute("aria-expanded", String(open));
  }
  if (remember) storage.set(INSTRUCTIONS_KEY, open);
}

function toggleInstructions() {
  setInstructions(document.body.classList.contains("instructions-closed"));
}

function openHelp() {
  if (els.submitOnHotkey) els.submitOnHotkey.checked = state.submitOnHotkey;
  els.help.showModal();
}

function openSkipDialog() {
  if (state.mode !== "current") return;
  els.skipReason.value = "";
  els.skipDialog.returnValue = "";
  els.skipDialog.showModal();
  els.skipReason.focus();
}

// --- choosing labels ----------------------------------------------------------------------------

function choose(value) {
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
function typeRatingDigit(digit) {
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

function stepRating(delta) {
  const start = state.selection ?? (delta > 0 ? config.ratingMin - 1 : config.ratingMax + 1);
  const next = Math.min(config.ratingMax, Math.max(config.ratingMin, start + delta));
  choose(next);
}

/** The value to submit, or null when the rater has not chosen yet. */
function currentValue() {
  if (KIND === "multi") return [...state.selection].sort();
  return state.selection;
}

function hotkeyList() {
  if (KIND === "rating") return `${config.ratingMin}–${config.ratingMax}`;
  const keys = labelButtons.map((b) => b.dataset.hotkey).filter(Boolean);
  return keys.length ? keys.join(", ").toUpperCase() : "a label";
}

// --- moving through items -----------------------------------------------------------------------

function remember(entry) {
  state.recent = [entry, ...state.recent.filter((e) => e.item.id !== entry.item.id)].slice(
    0,
    RECENT_MAX,
  );
}

function submit(startedAt = null) {
  if (state.mode === "review") return saveChange();
  if (state.mode !== "current") return;
  const hold = state.queue[0];
  const value = currentValue();
  if (value === null) {
    hint(`Choose a label first (${hotkeyList()}), then press Enter.`);
    return;
  }
  const clientId = uuid4();
  outbox.add({
    id: clientId,
    kind: "submit",
    itemId: hold.item.id,
    key: hold.item.key,
    path: `items/${hold.item.id}/submit/`,
    body: { value, client_id: clientId, time_spent_ms: state.stopwatch.ms() },
    held: true,
    isNew: true,
    attempts: 0,
    nextAt: 0,
  });
  state.queue.shift();
  state.done.add(hold.item.id);
  remember({ item: hold.item, value, skipped: false });
  renderCurrent(startedAt);
  renderSync();
  setTimeout(flush, 0); // after this task: the next item paints first
}

function skip(reason = "", startedAt = null) {
  if (state.mode === "review") {
    hint("You already answered this item. Esc returns to your current item.");
    return;
  }
  if (state.mode !== "current") return;
  const hold = state.queue[0];
  const id = uuid4();
  outbox.add({
    id,
    kind: "skip",
    itemId: hold.item.id,
    key: hold.item.key,
    path: `items/${hold.item.id}/skip/`,
    body: { reason },
    held: true,
    isNew: false,
    attempts: 0,
    nextAt: 0,
  });
  state.queue.shift();
  state.done.add(hold.item.id);
  remember({ item: hold.item, value: null, skipped: true });
  renderCurrent(startedAt);
  renderSync();
  setTimeout(flush, 0);
}

async function goBack() {
  if (!["current", "review", "empty"].includes(state.mode)) return;
  if (state.mode !== "review") {
    state.back = { entries: [...state.recent], index: -1, before: null, exhausted: false };
  }
  const back = state.back;
  const want = back.index + 1;
  if (want >= back.entries.length && !back.exhausted) {
    hint("Loading your earlier items…");
    await loadHistory(back);
    if (state.back !== back) return; // the rater moved on meanwhile
    hint("");
  }
  if (want >= back.entries.length) {
    hint(back.entries.length ? "Nothing further back." : "You have no earlier items here yet.");
    return;
  }
  back.index = want;
  enterReview(back.entries[want]);
}

/** GET with two quick retries: going back should not fail on a passing hiccup. */
async function getWithRetry(path) {
  for (let attempt = 1; ; attempt++) {
    try {
      return await api("GET", path);
    } catch (error) {
      if (attempt >= 3 || !isRetryable(error) || isAuthLost(error)) throw error;
      await new Promise((resolve) => setTimeout(resolve, 250 * attempt));
    }
  }
}

async function loadHistory(back) {
  const before = back.before ? `&before=${back.before}` : "";
  try {
    const data = await getWithRetry(`history/?limit=${HISTORY_PAGE}${before}`);
    setOnline(true);
    const seen = new Set(back.entries.map((e) => e.item.id));
    for (const row of data.items) {
      back.before = Math.min(back.before ?? Infinity, row.assignment.id);
      if (seen.has(row.item.id)) continue; // this tab's copy is newer (it may not be sent yet)
      back.entries.push({ item: row.item, value: row.value, skipped: row.skipped });
    }
    if (data.items.length < HISTORY_PAGE) back.exhausted = true;
  } catch (error) {
    if (error instanceof NetworkError) setOnline(false);
    hint("Could not load your earlier items. Try again in a moment.");
  }
}

function enterReview(entry) {
  if (state.mode === "current") {
    const selection = KIND === "multi" ? [...state.selection] : state.selection;
    state.stopwatch.pause();
    state.paused = { itemId: state.queue[0].item.id, selection, watch: state.stopwatch };
  }
  setMode("review");
  els.reviewWhat.textContent = entry.skipped
    ? "you skipped this item; you may label it now"
    : "your earlier label";
  showItem(entry.item, { value: entry.value });
  state.reviewWatch = new Stopwatch();
}

function sameValue(a, b) {
  return JSON.stringify(a) === JSON.stringify(b);
}

function saveChange() {
  const entry = state.back.entries[state.back.index];
  const value = currentValue();
  if (value === null) {
    hint(`Choose a label (${hotkeyList()}), or press Esc to keep it as it was.`);
    return;
  }
  if (!entry.skipped && sameValue(value, entry.value)) {
    leaveReview("Unchanged.");
    return;
  }
  const clientId = uuid4();
  outbox.add({
    id: clientId,
    kind: "change",
    itemId: entry.item.id,
    key: entry.item.key,
    path: `items/${entry.item.id}/submit/`,
    body: { value, client_id: clientId, time_spent_ms: state.reviewWatch.ms() },
    held: false,
    isNew: entry.skipped,
    previous: { value: entry.value, skipped: entry.skipped },
    attempts: 0,
    nextAt: 0,
  });
  entry.value = value;
  entry.skipped = false;
  remember(entry);
  leaveReview(`Saved your change to ${quoted(entry.item.key)}.`);
  renderSync();
  setTimeout(flush, 0);
}

function leaveReview(message = "") {
  state.back = null;
  state.reviewWatch = null;
  if (state.queue[0]) {
    renderCurrent();
  } else if (state.emptyConfirmed) {
    showEmpty();
  } else {
    setMode("loading");
    refill();
  }
  hint(message);
}

// --- talking to the server ----------------------------------------------------------------------

let refilling = false;
let refillAgain = false;
let refillFailures = 0;
let refillTimer = null;

/** Claim: the rater's holds (the current item first) plus new leases up to two. */
async function refill() {
  if (state.mode === "error") return;
  if (refilling) {
    refillAgain = true;
    return;
  }
  refilling = true;
  clearTimeout(refillTimer);
  try {
    // Items whose submit is still in the outbox are held on the server until it arrives.
    const pendingHeld = outbox.list().filter((e) => e.held).length;
    const data = await api("POST", "claim/", { hold: Math.min(3, 2 + pendingHeld) });
    refillFailures = 0;
    setOnline(true);
    applyProgress(data.progress);
    mergeClaim(data.items);
  } catch (error) {
    if (error instanceof ApiError && !isRetryable(error)) {
      showError("You cannot label in this project", error.message);
    } else {
      if (!(error instanceof ApiError)) setOnline(false);
      if (isAuthLost(error)) {
        state.authLost = true;
        renderSync();
      }
      refillFailures += 1;
      refillTimer = setTimeout(refill, backoffMs(refillFailures));
    }
  } finally {
    refilling = false;
    if (refillAgain) {
      refillAgain = false;
      refill();
    }
  }
}

function mergeClaim(holds) {
  const now = Date.now();
  const fresh = holds
    .filter((h) => !state.done.has(h.item.id))
    .map((h) => ({ ...h, receivedAt: now }));
  const current = state.queue[0];
  if (current) {
    const again = fresh.find((h) => h.item.id === current.item.id);
    if (again) {
      current.assignment = again.assignment;
      current.receivedAt = now;
    }
    state.queue = [current, ...fresh.filter((h) => h.item.id !== current.item.id)];
  } else {
    state.queue = fresh;
  }
  preload(state.queue[1]?.item);
  const pendingHeld = outbox.list().some((e) => e.held);
  state.emptyConfirmed = state.queue.length === 0 && !pendingHeld;
  if (state.mode === "loading" || state.mode === "empty") {
    if (state.queue[0]) renderCurrent();
    else if (state.emptyConfirmed) showEmpty();
  }
}

let flushing = false;
let flushTimer = null;

/** Send the outbox in order. A retryable failure waits (backoff) and keeps the entry; any other
 * answer is final and removes it. */
async function flush() {
  if (flushing) return;
  flushing = true;
  clearTimeout(flushTimer);
  let delivered = false;
  try {
    for (;;) {
      const entry = outbox.list()[0];
      if (!entry) break;
      const wait = entry.nextAt - Date.now();
      if (wait > 0) {
        flushTimer = setTimeout(flush, wait);
        break;
      }
      try {
        const data = await api("POST", entry.path, entry.body);
        outbox.remove(entry.id);
        delivered = true;
        state.authLost = false;
        setOnline(true);
        applyProgress(data?.progress);
      } catch (error) {
        if (isRetryable(error)) {
          entry.attempts += 1;
          entry.nextAt = Date.now() + backoffMs(entry.attempts);
          outbox.update(entry);
          state.authLost = isAuthLost(error);
          if (!(error instanceof ApiError) || error.status >= 500) setOnline(false);
          flushTimer = setTimeout(flush, entry.nextAt - Date.now());
          break;
        }
        outbox.remove(entry.id);
        delivered = true;
        rejected(entry, error);
      }
    }
  } finally {
    flushing = false;
    renderSync();
  }
  if (delivered) refill();
}

/** Retry now: the connection is back, or the rater did something. */
function flushNow() {
  const head = outbox.list()[0];
  if (head && head.nextAt > Date.now()) {
    head.nextAt = 0;
    outbox.update(head);
  }
  flush();
}

function rejected(entry, error) {
  const key = quoted(entry.key);
  if (entry.kind === "skip") return; // the item left this rater's queue either way
  if (entry.kind === "change") {
    const back = state.recent.find((e) => e.item.id === entry.itemId);
    if (back && entry.previous) Object.assign(back, entry.previous);
  } else {
    state.done.delete(entry.itemId);
    state.recent = state.recent.filter((e) => e.item.id !== entry.itemId);
  }
  if (error.code === "lease_expired" || error.code === "no_lease") {
    notice(
      `Your lease on ${key} expired before your label reached the server, so it was not saved: ` +
        "the item went back to the queue for someone else.",
    );
  } else if (error.code === "item_closed") {
    notice(`${key} takes no more labels (${error.message}), so your label was not saved.`);
  } else if (error.status === 403) {
    showError("You cannot label in this project any more", error.message);
  } else {
    notice(`Your label on ${key} was not accepted: ${error.message}`);
  }
}

async function renewHold(hold) {
  try {
    const assignment = await api("POST", `items/${hold.item.id}/renew/`);
    hold.assignment = { ...hold.assignment, ...assignment };
    hold.receivedAt = Date.now();
    setOnline(true);
  } catch (error) {
    if (error instanceof ApiError && [404, 409].includes(error.status)) dropHold(hold);
    else if (error instanceof NetworkError) setOnline(false);
  }
}

/** The server no longer holds this item for the rater (the lease expired and was reclaimed). */
function dropHold(hold) {
  const index = state.queue.indexOf(hold);
  if (index < 0) return;
  state.queue.splice(index, 1);
  if (index === 0 && state.mode === "current") {
    notice(
      `Your lease on ${quoted(hold.item.key)} expired while you were away, so it went back ` +
        "to the queue. Here is your next item.",
    );
    renderCurrent();
  }
  refill();
}

function renewTick() {
  // An idle rater's items go back to the queue when their leases run out.
  if (Date.now() - state.lastActivity > LEASE_MS) return;
  for (const hold of [...state.queue]) {
    if (hold.assignment.status === "leased") renewHold(hold);
  }
}

function noteActivity() {
  const idleFor = Date.now() - state.lastActivity;
  state.lastActivity = Date.now();
  if (idleFor > LEASE_MS / 3) renewTick(); // back from a break: check the leases at once
}

// --- zoom ---------------------------------------------------------------------------------------

function setZoom(zoom, anchor = null) {
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
  els.zoom.textContent = `${Math.round(zoom * 100)}% · ${ZOOM_RESET_KEY} fits`;
  if (zoom > 1) {
    figure.scrollLeft = img.offsetWidth * ratioX - figure.clientWidth / 2;
    figure.scrollTop = img.offsetHeight * ratioY - figure.clientHeight / 2;
  }
}

function zoomStep(direction) {
  if (els.figure.hidden) return false;
  const index = ZOOMS.indexOf(state.zoom);
  const next = ZOOMS[Math.min(ZOOMS.length - 1, Math.max(0, index + direction))];
  setZoom(next);
  return true;
}

// --- the keyboard -------------------------------------------------------------------------------

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

function onKeyDown(event) {
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
  if (key === "0" && !els.figure.hidden) {
    setZoom(1);
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

function recheck() {
  setMode("loading");
  refill();
}

// --- wiring -------------------------------------------------------------------------------------

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

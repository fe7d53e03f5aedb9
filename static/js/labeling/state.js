// The page's state, shared by every module of the page.

import { KIND, SUBMIT_ON_HOTKEY_KEY } from "./page.js";
import { storage } from "./util.js";

export const state = {
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
  progress: { mine_today: null, mine_remaining: null, project_remaining: null },
  online: true,
  authLost: false,
  zoom: 1,
  fitWidth: 0,
  lastActivity: Date.now(),
  submitOnHotkey: KIND === "single" && storage.get(SUBMIT_ON_HOTKEY_KEY, false) === true,
};

// The labeling API: JSON over fetch, with the session's CSRF token, and the errors the page
// tells apart (the network, the server's answer, a lost login).

import { config } from "./page.js";

export class NetworkError extends Error {}
export class ApiError extends Error {
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
export const requestsInFlight = () => inflight;

export async function api(method, path, body) {
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
export const isAuthLost = (error) =>
  error instanceof ApiError &&
  (error.status === 401 ||
    (error.status === 403 &&
      (/csrf/i.test(error.message) ||
        ["not_authenticated", "authentication_failed"].includes(error.code))));

export const isRetryable = (error) =>
  error instanceof NetworkError ||
  isAuthLost(error) ||
  (error instanceof ApiError && (error.status >= 500 || [408, 429].includes(error.status)));

export const backoffMs = (attempts) =>
  Math.min(15_000, 1000 * 2 ** Math.max(0, attempts - 1)) * (0.8 + Math.random() * 0.4);

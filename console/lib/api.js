// The console's only way to the server: the public API, with the user's token.

const TOKEN_KEY = "opsgrat.token";

export class ApiError extends Error {
  /** `detail` is the API's {"detail": ...}; `field` names the field it blames, when it does */
  constructor(status, body) {
    const detail = body && typeof body === "object" ? body.detail ?? body : body;
    const text = typeof detail === "string" ? detail : JSON.stringify(detail);
    super(status ? `${text || "Request failed"} (HTTP ${status})` : text);
    this.status = status;
    this.detail = detail;
    this.body = body;
  }

  /** {field: message} for a 400 that names fields, else {} */
  get fields() {
    const out = {};
    const body = this.body && typeof this.body === "object" ? this.body : {};
    for (const [key, value] of Object.entries(body)) {
      if (key !== "detail") out[key] = Array.isArray(value) ? value.join(" ") : String(value);
    }
    if (body.field) out[body.field] = String(body.detail);
    const match = typeof this.detail === "string" && /^([a-z_]+): (.*)$/.exec(this.detail);
    if (match) out[match[1]] = match[2];
    return out;
  }
}

export const token = {
  get: () => localStorage.getItem(TOKEN_KEY),
  set: (value) => localStorage.setItem(TOKEN_KEY, value),
  clear: () => localStorage.removeItem(TOKEN_KEY),
};

let onUnauthorized = () => {};

/** what to do when the API answers 401 (the token expired or was regenerated) */
export function whenUnauthorized(handler) {
  onUnauthorized = handler;
}

/** api("GET", "/api/job/job/", {query: {status: "failed"}}) -> parsed JSON (null for 204) */
export async function api(method, path, { body, query, raw = false, signal } = {}) {
  const url = new URL(path, location.origin);
  for (const [key, value] of Object.entries(query || {})) {
    if (value !== undefined && value !== null && value !== "") url.searchParams.set(key, value);
  }
  const headers = { Accept: "application/json" };
  const current = token.get();
  if (current) headers.Authorization = `Token ${current}`;
  let payload;
  if (body !== undefined) {
    headers["Content-Type"] = "application/json";
    payload = JSON.stringify(body);
  }
  let response;
  try {
    response = await fetch(url, { method, headers, body: payload, signal });
  } catch (error) {
    if (error.name === "AbortError") throw error;
    throw new ApiError(0, "The server cannot be reached.");
  }
  if (response.status === 401 && current) onUnauthorized();
  if (raw && response.ok) return response.text();
  const text = await response.text();
  let data = null;
  if (text) {
    try {
      data = JSON.parse(text);
    } catch {
      data = text;
    }
  }
  if (!response.ok) throw new ApiError(response.status, data);
  return data;
}

export const get = (path, query, options) => api("GET", path, { ...options, query });
export const post = (path, body) => api("POST", path, { body });
export const patch = (path, body) => api("PATCH", path, { body });
export const del = (path) => api("DELETE", path);

/** every page of a list (for small option lists: a select of inventories) */
export async function listAll(path, query = {}, most = 1000) {
  const out = [];
  let offset = 0;
  for (;;) {
    const page = await get(path, { ...query, limit: 200, offset });
    out.push(...page.results);
    offset += page.results.length;
    if (!page.results.length || offset >= page.count || offset >= most) return out;
  }
}

// Small DOM helpers: the console builds its pages with these, no framework.
// Text always goes in as text nodes (never innerHTML), so nothing a record holds can run as markup.

/** h("button.primary#save", {onclick, type: "submit"}, "Save", child, [more]) -> element */
export function h(spec, attrs, ...children) {
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  const [, tag = "div", rest = ""] = /^([a-z0-9-]*)(.*)$/i.exec(spec);
  const el = tag === "svg" || attrs.svg ? document.createElementNS(SVG, tag) : document.createElement(tag || "div");
  for (const part of rest.match(/[.#][^.#]+/g) || []) {
    if (part[0] === ".") el.classList.add(part.slice(1));
    else el.id = part.slice(1);
  }
  setAttrs(el, attrs);
  append(el, children);
  return el;
}

export const SVG = "http://www.w3.org/2000/svg";

/** an SVG element: s("circle", {cx: 1, r: 2}), s("title", "text") */
export function s(tag, attrs = {}, ...children) {
  if (attrs === null || typeof attrs !== "object" || attrs instanceof Node || Array.isArray(attrs)) {
    children.unshift(attrs);
    attrs = {};
  }
  const el = document.createElementNS(SVG, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v !== undefined && v !== null && v !== false) el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function setAttrs(el, attrs) {
  for (const [key, value] of Object.entries(attrs)) {
    if (value === undefined || value === null || value === false || key === "svg") continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key === "value" || key === "checked" || key === "selected" || key === "disabled") el[key] = value;
    else if (key === "class") el.className = value;
    else el.setAttribute(key, value === true ? "" : String(value));
  }
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

/** replace an element's children */
export function fill(el, ...children) {
  el.replaceChildren();
  return append(el, children);
}

export function debounce(fn, ms = 250) {
  let timer;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}

/** "2026-12-01 19:40:02" in the browser's zone, from epoch seconds or an ISO string */
export function when(value) {
  if (value === null || value === undefined || value === "") return "";
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  if (Number.isNaN(d.getTime())) return String(value);
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** "1m 05s" */
export function duration(seconds) {
  if (seconds === null || seconds === undefined || seconds === "") return "";
  const total = Math.round(Number(seconds));
  if (total < 60) return `${total}s`;
  const m = Math.floor(total / 60);
  if (m < 60) return `${m}m ${String(total % 60).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}

/** a state badge: <span class="badge state-failed">failed</span> */
export function badge(state, label) {
  return h("span.badge", { class: `badge state-${state}`, "data-state": state }, label || state || "");
}

/** a waiting indicator, shown while a page or a panel loads */
export function spinner(text = "Loading…") {
  return h("div.loading", { role: "status", "aria-live": "polite" }, h("span.spin", { "aria-hidden": "true" }), text);
}

/** a message box for errors the API gave */
export function problem(error) {
  return h("div.problem", { role: "alert" }, error && error.message ? error.message : String(error));
}

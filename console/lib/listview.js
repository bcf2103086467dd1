// One list component for every family: a searchable, sortable, paged table of records, used by
// the list pages and by the tabs of a record's page (hosts of an inventory, grants of a project).

import { ApiError, get } from "./api.js";
import { badge, debounce, fill, h, problem, spinner, when } from "./dom.js";
import { declared, detailPath } from "./families.js";
import { href } from "./router.js";

const TIME_FIELDS = /(^|_)(time|created|started|finished|ctime)$/;

/** a column: {name, title, badge} from a declaration's string or object */
function column(fam, spec) {
  const c = typeof spec === "string" ? { name: spec } : spec;
  const prop = fam.schema.properties[c.name] || {};
  return { title: c.title || titleOf(c.name, prop), ...c };
}

export function titleOf(name) {
  return name.replace(/_name$/, "").replace(/_/g, " ").replace(/^./, (x) => x.toUpperCase());
}

/** the columns to show: the declaration's, else the natural key and a few scalar fields */
export function columnsOf(fam) {
  const d = declared(fam.name);
  if (d.columns) return d.columns.map((c) => column(fam, c));
  const names = [];
  const props = fam.schema.properties;
  for (const key of fam.facts.key || []) names.push(fam.refs[key] && props[`${key}_name`] ? `${key}_name` : key);
  for (const [name, prop] of Object.entries(props)) {
    if (names.length >= 5) break;
    if (name === "id" || names.includes(name) || fam.secrets.includes(name)) continue;
    if (fam.refs[name]) {
      if (props[`${name}_name`] && !names.includes(`${name}_name`)) names.push(`${name}_name`);
      continue;
    }
    const type = [].concat(prop.type);
    if (type.includes("string") && (prop.maxLength || 0) > 4096) continue;
    if (type.includes("object") || type.includes("array")) continue;
    names.push(name);
  }
  return names.map((n) => column(fam, n));
}

export function cell(fam, col, rec) {
  const value = rec[col.name];
  if (col.badge) return badge(value, rec[`${col.name}_name`] || value);
  if (value === null || value === undefined) return "";
  if (typeof value === "boolean") return value ? "yes" : "no";
  if (TIME_FIELDS.test(col.name) && (typeof value === "number" || /^\d{4}-/.test(String(value)))) return when(value);
  if (typeof value === "object") return JSON.stringify(value);
  return String(value);
}

/**
 * listView(el, fam, {fixed, query, onQuery, refreshEvery}): draw the list into `el`.
 * `fixed` filters always apply (the inventory of a hosts tab); `query` is the starting
 * search/ordering/offset/filters; `onQuery(q)` hears changes (the page keeps them in the URL).
 * Returns {reload, stop}.
 */
export function listView(el, fam, { fixed = {}, query = {}, onQuery = () => {}, refreshEvery = 0, limit = 20 } = {}) {
  const q = { offset: 0, ...query };
  const cols = columnsOf(fam);
  const orderable = new Set(orderingsOf(fam));
  const status = h("div.list-status", { "aria-live": "polite" });
  const table = h("div.table-wrap");
  const pager = h("div.pager");
  let search;
  let controller;
  let timer;
  let stopped = false;

  const tools = [];
  if (fam.searchable) {
    search = h("input", { type: "search", name: "search", placeholder: `Search ${declared(fam.name).title || fam.name}…`,
      "aria-label": "Search", value: q.search || "" });
    search.addEventListener("input", debounce(() => {
      q.search = search.value.trim();
      q.offset = 0;
      changed();
    }, 200));
    tools.push(search);
  }
  fill(el, h("div.toolbar.list-tools", tools), status, table, pager);

  function changed() {
    onQuery({ ...q });
    load();
  }

  async function load(quiet = false) {
    if (stopped) return;
    if (controller) controller.abort();
    controller = new AbortController();
    if (!quiet) fill(status, spinner());
    const params = { ...q, ...fixed, limit };
    let page;
    try {
      page = await get(fam.path, params, { signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError") return;
      fill(status, problem(error instanceof ApiError ? error : String(error)));
      return;
    }
    if (stopped) return;
    fill(status);
    draw(page);
    if (refreshEvery) {
      clearTimeout(timer);
      timer = setTimeout(() => load(true), refreshEvery);
    }
  }

  function header(col, i) {
    const narrow = i > 2 ? "hide-narrow" : null;
    if (!orderable.has(col.name)) return h("th", { scope: "col", class: narrow }, col.title);
    const current = q.ordering || "";
    const mark = current === col.name ? " ▲" : current === `-${col.name}` ? " ▼" : "";
    const sort = current === col.name ? `-${col.name}` : col.name;
    return h("th", { scope: "col", class: narrow, "aria-sort": mark ? (mark.includes("▲") ? "ascending" : "descending") : null },
      h("button", { type: "button", onclick: () => { q.ordering = sort; q.offset = 0; changed(); } }, col.title + mark));
  }

  function draw(page) {
    const rows = page.results;
    if (!rows.length) {
      fill(table, h("div.empty", q.search ? `Nothing matches “${q.search}”.` : "None yet."));
    } else {
      fill(table, h("table", { "data-family": fam.name },
        h("thead", h("tr", h("th", { scope: "col" }, "Id"), cols.map(header))),
        h("tbody", rows.map((rec) => h("tr", { "data-id": rec.id },
          h("td", h("a", { href: href(detailPath(fam.name, rec.id)) }, `#${rec.id}`)),
          cols.map((col, i) => h("td", { "data-field": col.name, class: i > 2 ? "hide-narrow" : null },
            i === 0 && !col.badge ? h("a", { href: href(detailPath(fam.name, rec.id)) }, cell(fam, col, rec) || fam.label(rec))
              : cell(fam, col, rec))))))));
    }
    const first = page.count ? q.offset + 1 : 0;
    const last = q.offset + rows.length;
    fill(pager,
      h("span", { "data-count": page.count }, `${first}–${last} of ${page.count}`),
      h("button", { type: "button", disabled: q.offset <= 0, onclick: () => { q.offset = Math.max(0, q.offset - limit); changed(); } }, "Previous"),
      h("button", { type: "button", disabled: last >= page.count, onclick: () => { q.offset += limit; changed(); } }, "Next"));
  }

  load();
  return {
    reload: () => load(),
    stop: () => { stopped = true; clearTimeout(timer); if (controller) controller.abort(); },
  };
}

/** the fields a list may be ordered by, from the `ordering` parameter's description */
export function orderingsOf(fam) {
  const p = fam.listParams.find((x) => x.name === "ordering");
  const text = (p && p.description) || "";
  const at = text.lastIndexOf(":");
  return at < 0 ? [] : text.slice(at + 1).split(",").map((x) => x.trim()).filter(Boolean);
}

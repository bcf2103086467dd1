// The activity stream (#/activity): who did what to which object, newest first, with the fields
// each operation changed. Superusers see everyone's entries, others their own (the API decides:
// the page shows what it answers). Filters live in the URL, so a filtered view can be shared.
// `entryTable` is also the dashboard's "Your latest operations" panel.

import { ApiError, get } from "../lib/api.js";
import { debounce, fill, h, problem, spinner, when } from "../lib/dom.js";
import { declared, detailPath, FAMILIES } from "../lib/families.js";
import { href, replaceQuery } from "../lib/router.js";
import { families } from "../lib/spec.js";

const PATH = "/api/system/activity/";
const LIMIT = 20;
const ACTIONS = ["create", "update", "delete", "grant", "revoke", "launch", "relaunch", "cancel", "login"];
/** the query keys this page keeps in the URL (and `offset`, the page) */
const FILTERS = ["user", "family", "object", "action", "since", "until"];

/** the families of the OpenAPI document, by name (read by the activity page; the dashboard's
 * panel links the families lib/families.js declares) */
let known = {};
const hasPage = (family) => Boolean(FAMILIES[family] || known[family]);

// an entry: {id, ctime, timestamp, action, user, user_name, family, object, object_name, changes}
const at = (e) => e.timestamp ?? e.ctime;
const who = (e) => e.user_name ?? (e.user === null || e.user === undefined ? "system" : `#${e.user}`);
const objectId = (e) => e.object ?? null;

/** "name" or "#5", a link to the object's page when the console has one (and it still exists) */
function objectCell(e) {
  const id = objectId(e);
  const label = e.object_name || (id === null || id === undefined ? "" : `#${id}`);
  const fam = e.family || "";
  const title = fam.replace(/_/g, " ").replace(/^./, (x) => x.toUpperCase());
  const linkable = id !== null && id !== undefined && hasPage(fam) && e.action !== "delete" && e.action !== "login";
  return [h("span.family", { "data-family": fam }, title), " ",
    linkable ? h("a", { href: href(detailPath(fam, id)) }, label) : label];
}

/** a value as one short line: secrets come from the API as "$encrypted$" and are shown as such */
function short(value) {
  if (value === null || value === undefined) return "∅";
  if (value === "") return '""';
  const text = typeof value === "string" ? value : JSON.stringify(value);
  return text.length > 60 ? `${text.slice(0, 59)}…` : text;
}

/** the changed fields, field -> new value (as the API records them; secrets as "$encrypted$") */
export function changesOf(changes) {
  if (!changes || typeof changes !== "object" || !Object.keys(changes).length) return "";
  return h("ul.changes", Object.entries(changes).map(([field, value]) => {
    const whole = typeof value === "string" ? value : JSON.stringify(value);
    return h("li", { "data-field": field, title: whole && whole.length > 60 ? whole : null },
      h("code", field), ": ", h("span.value", short(value)));
  }));
}

/** the entries as a table; `compact` leaves out the user column (the dashboard: your own) */
export function entryTable(entries, { compact = false } = {}) {
  if (!entries.length) return h("div.empty", compact ? "Nothing yet." : "No activity matches.");
  const heads = ["When", compact ? null : "Who", "Action", "Object", "Changes"].filter(Boolean);
  return h("div.table-wrap", h("table.activity",
    h("thead", h("tr", heads.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", entries.map((e) => h("tr", { "data-id": e.id, "data-action": e.action, "data-family": e.family || "",
      "data-object": objectId(e) ?? "" },
    h("td.when", when(at(e))),
    compact ? null : h("td.who", who(e)),
    h("td", h("span.action", { class: `action action-${e.action}` }, e.action)),
    h("td", objectCell(e)),
    h("td", changesOf(e.changes)))))));
}

export async function render(ctx) {
  document.title = "Activity · OpsGrat";
  const q = { ...ctx.query };
  const status = h("div.list-status", { "aria-live": "polite" }, spinner());
  const table = h("div");
  const pager = h("div.pager");
  const form = h("form.toolbar.activity-filters", { role: "search", "aria-label": "Filter the activity" });
  ctx.el.replaceChildren(h("div.toolbar", h("h1", "Activity")),
    h("p.hint", ctx.user.superuser ? "Every user's operations." : "Your own operations."),
    form, status, table, pager);

  try {
    known = await families();
  } catch {
    known = {}; // without the OpenAPI document, objects are shown unlinked
  }
  if (ctx.gone) return;
  // grants are recorded under the family they protect, so grant families are not offered
  const names = Object.keys(known).filter((name) => !name.includes(".")).sort();
  const field = (label, control) => h("label", label, control);
  const input = (name, attrs = {}) => h("input", { name, value: q[name] || "", ...attrs });
  const select = (name, values, any) => h("select", { name },
    h("option", { value: "" }, any),
    values.map((v) => h("option", { value: v, selected: q[name] === v }, (declared(v).title || v))));
  fill(form,
    ctx.user.superuser ? field("User", input("user", { placeholder: "username", autocomplete: "off" })) : null,
    field("Object type", select("family", names.includes(q.family) || !q.family ? names : [q.family, ...names], "any")),
    field("Action", select("action", ACTIONS, "any")),
    field("Object id", input("object", { type: "number", min: 1, inputmode: "numeric" })),
    field("Since", input("since", { type: "datetime-local", value: local(q.since) })),
    field("Until", input("until", { type: "datetime-local", value: local(q.until) })),
    h("button", { type: "reset" }, "Clear"));

  let controller;
  ctx.onCleanup(() => controller && controller.abort());

  /** the form's filters into the URL and the list (nothing happens when they did not change) */
  const changed = () => {
    const data = new FormData(form);
    const wanted = {};
    for (const key of FILTERS) {
      const value = String(data.get(key) ?? "").trim();
      if (!value) continue;
      if (key === "since" || key === "until") {
        // a datetime-local input names a minute in the browser's zone: `until` takes all of it
        const moment = new Date(value);
        if (Number.isNaN(moment.getTime())) continue;
        wanted[key] = new Date(moment.getTime() + (key === "until" ? 59999 : 0)).toISOString();
      } else {
        wanted[key] = value;
      }
    }
    const before = Object.fromEntries(FILTERS.filter((k) => q[k]).map((k) => [k, q[k]]));
    if (JSON.stringify(wanted) === JSON.stringify(before)) return;
    replaceAll(wanted); // and back to the newest page
    load();
  };
  const typed = debounce(changed, 300);
  form.addEventListener("input", (event) => {
    if (event.target.matches("input[type=search], input:not([type]), input[type=number]")) typed();
  });
  form.addEventListener("change", changed);
  form.addEventListener("submit", (event) => { event.preventDefault(); changed(); });
  form.addEventListener("reset", () => setTimeout(changed));

  async function load() {
    if (controller) controller.abort();
    controller = new AbortController();
    fill(status, spinner());
    let page;
    try {
      page = await get(PATH, { limit: LIMIT, ...q }, { signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError" || ctx.gone) return;
      fill(status, problem(error instanceof ApiError ? error : String(error)));
      fill(table);
      fill(pager);
      return;
    }
    if (ctx.gone) return;
    fill(status);
    const entries = page.results || [];
    fill(table, entryTable(entries));
    const offset = Number(q.offset || 0);
    const count = Number(page.count || 0);
    const to = (where) => () => {
      replaceAll({ ...q, offset: where > 0 ? where : "" });
      load();
    };
    fill(pager,
      h("span", { "data-count": count }, `${count ? offset + 1 : 0}–${offset + entries.length} of ${count}`),
      h("button", { type: "button", disabled: offset <= 0, onclick: to(Math.max(0, offset - LIMIT)) }, "Newer"),
      h("button", { type: "button", disabled: offset + entries.length >= count, onclick: to(offset + LIMIT) }, "Older"));
  }

  function replaceAll(query) {
    for (const key of Object.keys(q)) delete q[key];
    Object.assign(q, query);
    replaceQuery(q);
  }

  await load();
}

/** an ISO time as a datetime-local input's value (the browser's zone) */
function local(iso) {
  if (!iso) return "";
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return "";
  const pad = (n) => String(n).padStart(2, "0");
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

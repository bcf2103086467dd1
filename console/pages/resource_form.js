// The page of one record of any family (#/r/<family>/<id>, or /new): its form, its actions
// (launch, sync, test), delete, and tabs of the records it owns (hosts of an inventory, grants).

import { del, get, patch, post } from "../lib/api.js";
import { fill, h, problem, spinner } from "../lib/dom.js";
import { declared, detailPath } from "../lib/families.js";
import { buildForm } from "../lib/form.js";
import { listView } from "../lib/listview.js";
import { go, href, replaceQuery } from "../lib/router.js";
import { families } from "../lib/spec.js";
import { TAB_RENDERERS } from "./tabs.js";

export async function render(ctx) {
  const all = await families();
  const fam = all[ctx.params.family];
  if (!fam) throw new Error(`There is no “${ctx.params.family}” collection.`);
  const d = declared(fam.name);
  const creating = !ctx.params.id;
  const record = creating ? undefined : await get(fam.item(ctx.params.id));
  if (ctx.gone) return;
  const title = creating ? `New ${(d.singular || fam.title).toLowerCase()}` : fam.label(record);
  document.title = `${title} · OpsGrat`;
  const status = h("div.action-status", { "aria-live": "polite" });
  const actions = h("div.toolbar.actions");
  const formEl = h("div.card");
  const tabsEl = h("div");
  fill(ctx.el,
    h("nav.crumbs", h("a", { href: href(`/r/${fam.name}`) }, d.title || fam.title)),
    h("div.toolbar", h("h1", title), actions), status, formEl, tabsEl);

  if (!creating) {
    for (const action of (d.actions ? d.actions(record) : []).filter(Boolean)) {
      actions.append(h(action.primary ? "button.primary" : "button", { type: "button",
        "data-action": action.label.toLowerCase().replace(/[^a-z0-9]+/g, "-"), onclick: async (event) => {
        event.target.disabled = true;
        fill(status, spinner(`${action.label}…`));
        try {
          const message = await action.run();
          fill(status, message ? h("div.notice", message) : "");
        } catch (error) {
          fill(status, problem(error));
        } finally {
          event.target.disabled = false;
        }
      } }, action.label));
    }
    if (fam.writable && !fam.facts.singleton) {
      actions.append(h("button.danger", { type: "button", onclick: async () => {
        if (!confirm(`Delete ${fam.label(record)}?`)) return;
        try {
          await del(fam.item(record.id));
          go(`/r/${fam.name}`);
        } catch (error) {
          fill(status, problem(error));
        }
      } }, "Delete"));
    }
  }

  const editable = fam.writable && (creating || fam.facts.updatable !== false);
  const drawDetails = async (el) => {
    if (!editable) {
      fill(el, facts(fam, record));
      return;
    }
    await buildForm(el, {
      fam, families: all, record, fixed: creating ? fixedFrom(fam, ctx.query) : {},
      save: (body) => (creating ? post(fam.path, body) : patch(fam.item(record.id), body)),
      onSaved: (saved) => {
        if (creating) go(detailPath(fam.name, saved.id));
        else fill(status, h("div.notice", "Saved."));
      },
    });
  };
  if (creating || !d.tabs) {
    await drawDetails(formEl);
    return;
  }
  formEl.remove();
  tabs(ctx, tabsEl, all, fam, record, [{ title: "Details", draw: drawDetails }, ...d.tabs]);
}

/** a new record's fields given by the page that links here (?inventory=3 from an inventory) */
function fixedFrom(fam, query) {
  const out = {};
  for (const [name, value] of Object.entries(query)) {
    if (fam.input.properties && fam.input.properties[name]) out[name] = /^\d+$/.test(value) ? Number(value) : value;
  }
  return out;
}

export function facts(fam, record) {
  return h("dl.facts", Object.entries(record).filter(([k]) => k !== "id").map(([k, v]) => [
    h("dt", k), h("dd", { "data-field": k }, v === null || v === undefined ? "" : typeof v === "object" ? JSON.stringify(v) : String(v))]));
}

function tabs(ctx, el, all, fam, record, declaredTabs) {
  const available = declaredTabs.filter((t) => t.draw || t.render || all[t.family]);
  const bar = h("div.tabs", { role: "tablist" });
  const panel = h("div", { role: "tabpanel" });
  let stop = () => {};
  ctx.onCleanup(() => stop());
  function open(tab, button) {
    stop();
    stop = () => {};
    for (const b of bar.children) b.setAttribute("aria-selected", String(b === button));
    if (tab.draw) {
      const box = h("div.card");
      fill(panel, box);
      tab.draw(box).catch((error) => fill(box, problem(error)));
      return;
    }
    if (tab.render) {
      TAB_RENDERERS[tab.render](panel, record, ctx);
      return;
    }
    const target = all[tab.family];
    const box = h("div");
    const fixed = { [tab.by]: record.id };
    fill(panel, target.writable ? h("div.toolbar",
      h("a.button", { href: href(`/r/${target.name}/new`, fixed) }, `Add to ${fam.label(record)}`)) : null, box);
    stop = listView(box, target, { fixed, limit: 10, refreshEvery: declared(target.name).live ? 2000 : 0 }).stop;
  }
  const wanted = available.find((t) => t.title === ctx.query.tab) || available[0];
  for (const tab of available) {
    const button = h("button", { type: "button", role: "tab", "data-tab": tab.title, onclick: () => {
      replaceQuery({ ...ctx.query, tab: tab === available[0] ? "" : tab.title });
      open(tab, button);
    } }, tab.title);
    bar.append(button);
    if (tab === wanted) queueMicrotask(() => open(tab, button));
  }
  fill(el, bar, panel);
}

// The list page of any family (#/r/<family>): its records, search, ordering, paging, and "New".

import { h } from "../lib/dom.js";
import { declared } from "../lib/families.js";
import { listView } from "../lib/listview.js";
import { href, replaceQuery } from "../lib/router.js";
import { families } from "../lib/spec.js";

export async function render(ctx) {
  const all = await families();
  const fam = all[ctx.params.family];
  if (!fam) throw new Error(`There is no “${ctx.params.family}” collection.`);
  const d = declared(fam.name);
  if (fam.facts.singleton) {
    // one record, e.g. job settings: straight to it (or to its creation)
    const { get } = await import("../lib/api.js");
    const page = await get(fam.path, { limit: 1 });
    location.replace(href(page.results.length ? `/r/${fam.name}/${page.results[0].id}` : `/r/${fam.name}/new`));
    return;
  }
  const title = d.title || fam.title;
  document.title = `${title} · OpsGrat`;
  const canCreate = fam.writable && d.creatable !== false;
  const body = h("div");
  ctx.el.replaceChildren(
    h("div.toolbar", h("h1", title),
      canCreate ? h("a.button.primary", { href: href(`/r/${fam.name}/new`, ctx.query) }, "New") : null),
    body);
  const view = listView(body, fam, {
    query: ctx.query,
    onQuery: (q) => replaceQuery(q),
    refreshEvery: d.live ? 2000 : 0,
  });
  ctx.onCleanup(view.stop);
}

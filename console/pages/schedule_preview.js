// The next runs of a saved schedule (#/schedules/:id/preview?count=10): each time in the browser's
// zone, in the schedule's own zone and in UTC, from GET /api/job/schedule/{id}/preview/.

import { get } from "../lib/api.js";
import { fill, h, problem, spinner, when } from "../lib/dom.js";
import { href, replaceQuery } from "../lib/router.js";

const COUNTS = [5, 10, 25, 50, 100];

export async function render(ctx) {
  const id = ctx.params.id;
  document.title = `Schedule ${id} · Next runs · OpsGrat`;
  const schedule = await get(`/api/job/schedule/${id}/`);
  if (ctx.gone) return;
  document.title = `${schedule.name} · Next runs · OpsGrat`;
  const browserZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "this browser's zone";
  let count = COUNTS.includes(Number(ctx.query.count)) ? Number(ctx.query.count) : 10;
  const facts = h("dl.facts");
  const body = h("div");
  const countSelect = h("select#preview-count", { "aria-label": "How many runs", onchange: () => {
    count = Number(countSelect.value);
    replaceQuery({ count });
    load();
  } }, COUNTS.map((n) => h("option", { value: n, selected: n === count }, `${n} runs`)));
  fill(ctx.el,
    h("nav.crumbs", h("a", { href: href("/r/schedule") }, "Schedules"), " / ",
      h("a", { href: href(`/r/schedule/${id}`) }, schedule.name)),
    h("div.toolbar", h("h1", `Next runs: ${schedule.name}`), countSelect,
      h("a.button", { href: href(`/r/schedule/${id}`) }, "Edit schedule")),
    h("div.card", facts), h("h2", "Upcoming"), body);

  async function load() {
    fill(body, spinner());
    let preview;
    try {
      preview = await get(`/api/job/schedule/${id}/preview/`, { count });
    } catch (error) {
      if (!ctx.gone) fill(body, problem(error));
      return;
    }
    if (ctx.gone) return;
    fill(facts,
      h("dt", "Template"), h("dd", schedule.template_name || schedule.template),
      h("dt", "Kind"), h("dd", schedule.type_name || preview.type),
      preview.cron ? [h("dt", "Cron"), h("dd", h("code", preview.cron))] : null,
      h("dt", "Time zone"), h("dd", preview.timezone),
      h("dt", "Runs as"), h("dd", h("code", preview.eventbridge.expression), ` (${preview.eventbridge.timezone})`),
      schedule.enabled === 0 || schedule.enabled === false
        ? [h("dt", "Enabled"), h("dd", "No: these are the times it would run once enabled")] : null);
    if (!preview.results.length) {
      fill(body, h("div.empty#no-runs", "No upcoming runs: the schedule has ended or ran its one time."));
      return;
    }
    const sameZone = preview.timezone === browserZone;
    fill(body, h("div.table-wrap", h("table#preview-runs",
      h("thead", h("tr", h("th", "#"), h("th", `Your time (${browserZone})`),
        sameZone ? null : h("th", `Schedule time (${preview.timezone})`), h("th", "UTC"))),
      h("tbody", preview.results.map((run, i) => h("tr", { "data-time": run.time },
        h("td", String(i + 1)),
        h("td", when(run.time), run.shifted ? h("span.hint", " (moved: the wall time does not exist that day)") : null),
        sameZone ? null : h("td", isoText(run.local)),
        h("td", isoText(run.utc))))))));
  }

  await load();
}

/** "2026-12-01T19:40:00+01:00" as "2026-12-01 19:40:00 +01:00" */
function isoText(value) {
  const m = /^(\d{4}-\d\d-\d\d)T(\d\d:\d\d:\d\d)(?:\.\d+)?(Z|[+-]\d\d:\d\d)?$/.exec(String(value || ""));
  if (!m) return String(value || "");
  return `${m[1]} ${m[2]}${m[3] && m[3] !== "Z" && m[3] !== "+00:00" ? " " + m[3] : ""}`;
}

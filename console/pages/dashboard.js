// The dashboard (#/): what there is, what ran and failed over 30 days, what runs next, and the
// user's own latest operations — all from ONE request, GET /api/dashboard/, whose cost does not
// grow with the number of jobs. While the page shows it asks again every few seconds (recent
// jobs change state) and redraws only the panels whose data changed, so focus and scroll stay.

import { ApiError, get } from "../lib/api.js";
import { badge, duration, fill, h, problem, s, spinner, when } from "../lib/dom.js";
import { href } from "../lib/router.js";
import { entryTable } from "./activity.js";

const REFRESH_MS = 5000;

/** count cards: [key in the response's `counts`, label, list route] */
const COUNTS = [
  ["hosts", "Hosts", "/r/host"],
  ["inventories", "Inventories", "/r/inventory"],
  ["projects", "Projects", "/r/project"],
  ["templates", "Templates", "/r/template"],
  ["credentials", "Credentials", "/r/credential"],
  ["schedules", "Schedules", "/r/schedule"],
  ["users", "Users", "/r/user"],
  ["teams", "Teams", "/r/team"],
];
/** job cards: [key in the response's `jobs`, label] */
const JOBS = [
  ["total", "Jobs"],
  ["running", "Running"],
  ["waiting", "Waiting"],
  ["new", "New"],
  ["successful", "Successful"],
  ["failed", "Failed"],
  ["canceled", "Canceled"],
];

export async function render(ctx) {
  document.title = "Dashboard · OpsGrat";
  const status = h("div.dash-status", { "aria-live": "polite" }, spinner("Loading the dashboard…"));
  const panels = {
    counts: h("div.cards.dash-counts", { role: "group", "aria-label": "Objects" }),
    jobs: h("div.cards.dash-counts", { role: "group", "aria-label": "Jobs by state" }),
    chart: h("div.dash-chart"),
    failing: h("div"),
    recent: h("div"),
    upcoming: h("div"),
    activity: h("div"),
  };
  const section = (title, id, body, extra) => h("section.card.dash-panel", { "aria-labelledby": id },
    h("div.toolbar", h("h2", { id }, title), extra), body);
  ctx.el.replaceChildren(
    h("div.toolbar", h("h1", "Dashboard")),
    status,
    h("div.dash", { hidden: true },
      h("section", { "aria-label": "Counts" }, panels.counts, panels.jobs),
      h("div.grid2.dash-row",
        section("Success rate, last 30 days", "dash-rate", panels.chart),
        section("Templates that fail most", "dash-failing", panels.failing)),
      h("div.grid2.dash-row",
        section("Recent jobs", "dash-recent", panels.recent, h("a", { href: href("/r/job") }, "All jobs")),
        section("Upcoming scheduled runs", "dash-upcoming", panels.upcoming,
          h("a", { href: href("/r/schedule") }, "All schedules"))),
      section("Your latest operations", "dash-activity", panels.activity,
        h("a", { href: href("/activity") }, "Activity stream"))));
  const page = ctx.el.querySelector(".dash");

  const drawn = {};
  /** redraw a panel only when its data changed (a refresh must not move the user's focus) */
  function draw(name, data, painter) {
    const key = JSON.stringify(data);
    if (drawn[name] === key) return;
    drawn[name] = key;
    fill(panels[name], painter(data));
  }

  let timer;
  let controller;
  let stopped = false;
  ctx.onCleanup(() => {
    stopped = true;
    clearTimeout(timer);
    if (controller) controller.abort();
  });

  async function load() {
    controller = new AbortController();
    let data;
    try {
      data = await get("/api/dashboard/", {}, { signal: controller.signal });
    } catch (error) {
      if (error.name === "AbortError" || ctx.gone) return;
      // a failed refresh keeps what is shown and says why; a failed first load shows only that
      fill(status, problem(error instanceof ApiError ? error : String(error)));
      schedule();
      return;
    }
    if (stopped || ctx.gone) return;
    fill(status);
    page.hidden = false;
    draw("counts", data.counts, countCards);
    draw("jobs", data.jobs, jobCards);
    draw("chart", data.success_rate, chart);
    draw("failing", data.failing_templates, failing);
    draw("recent", data.recent_jobs, recent);
    draw("upcoming", data.upcoming, upcoming);
    draw("activity", data.activity, (entries) => entryTable(entries || [], { compact: true }));
    page.dataset.loaded = "true";
    schedule();
  }

  function schedule() {
    if (stopped) return;
    clearTimeout(timer);
    // a hidden tab does not need fresh numbers: ask again when it shows
    timer = setTimeout(() => (document.hidden ? schedule() : load()), REFRESH_MS);
  }

  await load();
}

function card(name, label, value, target) {
  const shown = value === null || value === undefined ? "—" : String(value);
  return h("a.card.stat", { href: target, "data-count": name },
    h("div.value", shown), h("div.name", label));
}

function countCards(counts) {
  // a count the caller may not see (users, for a non-superuser) is null: no card
  return COUNTS.filter(([key]) => counts[key] !== null && counts[key] !== undefined)
    .map(([key, label, path]) => card(key, label, counts[key], href(path)));
}

function jobCards(jobs) {
  return JOBS.filter(([key]) => key in jobs).map(([key, label]) =>
    card(key === "total" ? "jobs" : `jobs.${key}`, label, jobs[key], href("/r/job", key === "total" ? {} : { state: key })));
}

const percent = (rate) => (rate === null || rate === undefined ? "—" : `${Math.round(rate * 1000) / 10}%`);

/** the 30 days as stacked bars (successful, failed, canceled) with the daily rate as a line */
function chart(rate) {
  const days = rate.daily || [];
  const W = 400;
  const H = 150;
  const top = 8;
  const bottom = 18;
  const left = 22;
  const right = 34;
  const plot = H - top - bottom;
  const most = Math.max(1, ...days.map((d) => d.total));
  const step = (W - left - right) / Math.max(1, days.length);
  const barWidth = Math.max(2, step * 0.7);
  const y = (n) => top + plot - (n / most) * plot;
  const svg = s("svg", { class: "chart", viewBox: `0 0 ${W} ${H}`, role: "img",
    "aria-label": `Jobs finished per day over the last ${days.length} days: ${rate.successful} successful, ` +
      `${rate.failed} failed, ${rate.canceled} canceled; success rate ${percent(rate.rate)}.` });
  svg.append(s("line", { class: "axis", x1: left, y1: top + plot, x2: W - right, y2: top + plot }));
  svg.append(s("text", { x: left - 4, y: top + 8, "text-anchor": "end" }, String(most)));
  svg.append(s("text", { x: left - 4, y: top + plot, "text-anchor": "end" }, "0"));
  svg.append(s("text", { x: W - right + 4, y: top + 8 }, "100%"));
  svg.append(s("text", { x: W - right + 4, y: top + plot }, "0%"));
  const points = [];
  days.forEach((d, i) => {
    const x = left + i * step + (step - barWidth) / 2;
    const g = s("g", { class: "day", "data-date": d.date, "data-total": d.total, "data-successful": d.successful,
      "data-failed": d.failed, "data-canceled": d.canceled },
    s("title", {}, `${d.date}: ${d.successful} successful, ${d.failed} failed, ${d.canceled} canceled` +
      (d.rate === null || d.rate === undefined ? "" : ` (${percent(d.rate)} success)`)));
    let base = d.total;
    for (const [cls, n] of [["ok", d.successful], ["bad", d.failed], ["other", d.canceled]]) {
      if (!n) continue;
      g.append(s("rect", { class: cls, x, width: barWidth, y: y(base), height: y(base - n) - y(base) }));
      base -= n;
    }
    // an empty day still gets a hit area, so its <title> is there to hover
    g.append(s("rect", { class: "hit", x: left + i * step, width: step, y: top, height: plot }));
    svg.append(g);
    if (i % 7 === (days.length - 1) % 7) {
      svg.append(s("text", { x: x + barWidth / 2, y: H - 6, "text-anchor": "middle" }, d.date.slice(5)));
    }
    if (d.rate !== null && d.rate !== undefined) points.push(`${x + barWidth / 2},${top + plot - d.rate * plot}`);
  });
  if (points.length > 1) svg.append(s("polyline", { class: "rate", points: points.join(" ") }));
  for (const p of points.length === 1 ? points : []) {
    const [cx, cy] = p.split(",");
    svg.append(s("circle", { class: "rate", cx, cy, r: 3 }));
  }
  const finished = rate.successful + rate.failed + rate.canceled;
  const summary = h("p.dash-rate", { "data-rate": rate.rate ?? "" }, finished
    ? [h("strong", percent(rate.rate)), " success: ", `${rate.successful} successful, ${rate.failed} failed, ${rate.canceled} canceled`]
    : "No job finished in the last 30 days.");
  const legend = h("p.legend", { "aria-hidden": "true" },
    h("span.key.ok"), "successful ", h("span.key.bad"), "failed ", h("span.key.other"), "canceled ",
    h("span.key.rate"), "success rate");
  // the same numbers as a table, for screen readers
  const table = h("div.sr-only", h("table",
    h("caption", "Jobs finished per day"),
    h("thead", h("tr", ["Day", "Successful", "Failed", "Canceled", "Success rate"].map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", days.map((d) => h("tr", h("th", { scope: "row" }, d.date), h("td", d.successful), h("td", d.failed),
      h("td", d.canceled), h("td", percent(d.rate)))))));
  return [summary, svg, legend, table];
}

function failing(rows) {
  if (!rows.length) return h("div.empty", "No failed runs in the last 30 days.");
  return h("div.table-wrap", h("table.dash-failing",
    h("thead", h("tr", ["Template", "Failures", "Runs", "Success", "Last failure"].map((t, i) =>
      h("th", { scope: "col", class: i === 4 ? "hide-narrow" : null }, t)))),
    h("tbody", rows.map((t) => h("tr", { "data-id": t.id },
      h("td", h("a", { href: href(`/r/template/${t.id}`) }, t.name || `#${t.id}`)),
      h("td", t.failures), h("td", t.runs), h("td", percent(t.rate)),
      h("td.hide-narrow", moment(t.last_failure)))))));
}

/** a time as short as is clear: "19:59:39" today, "12-01 19:59" this year; the full time on hover */
export function moment(value) {
  const full = when(value);
  if (!full) return "";
  const today = when(Date.now() / 1000).slice(0, 10);
  const shown = full.startsWith(today) ? full.slice(11) : full.slice(0, 4) === today.slice(0, 4) ? full.slice(5, 16) : full.slice(0, 16);
  const d = typeof value === "number" ? new Date(value * 1000) : new Date(value);
  return h("time.short", { datetime: d.toISOString(), title: full }, shown);
}

function jobName(job) {
  return job.template_name || job.name || job.kind_name || job.kind || `Job ${job.id}`;
}

function recent(jobs) {
  if (!jobs.length) return h("div.empty", "No jobs yet.");
  return h("div.table-wrap", h("table.dash-recent",
    h("thead", h("tr", ["Job", "State", "Started by", "Created", "Took"].map((t, i) =>
      h("th", { scope: "col", class: i > 2 ? "hide-narrow" : null }, t)))),
    h("tbody", jobs.map((job) => h("tr", { "data-id": job.id },
      h("td", h("a", { href: href(`/jobs/${job.id}`) }, `#${job.id} `, jobName(job))),
      h("td", badge(job.state, job.state_name || job.state)),
      h("td", job.user_name || job.cuser_name || ""),
      h("td.hide-narrow", moment(job.created || job.ctime)),
      h("td.hide-narrow", duration(job.elapsed || null)))))));
}

function upcoming(rows) {
  if (!rows.length) return h("div.empty", "Nothing is scheduled.");
  return h("div.table-wrap", h("table.dash-upcoming",
    h("thead", h("tr", ["Next run", "Schedule", "Template", "When"].map((t, i) =>
      h("th", { scope: "col", class: i === 3 ? "hide-narrow" : null }, t)))),
    h("tbody", rows.map((r) => h("tr", { "data-id": r.id },
      h("td", moment(r.next_time)),
      h("td", h("a", { href: href(`/r/schedule/${r.id}`) }, r.name || `#${r.id}`)),
      h("td", r.template ? h("a", { href: href(`/r/template/${r.template}`) }, r.template_name || `#${r.template}`) : ""),
      h("td.hide-narrow", r.cron ? h("code", r.cron) : r.type || "", r.timezone ? ` (${r.timezone})` : ""))))));
}

// One job (#/jobs/:id): its state and facts, its output live as it is written (ANSI colours
// rendered), its events, per-host summaries and notification deliveries, and its actions
// (cancel, relaunch all or failed hosts, approve/deny a workflow's pending approval).
//
// Output follows the job the way the CLI does (opsgrat_cli/follow.py): every poll reads the job
// first, then the events after the last counter shown (`counter__gt`), page by page, so the
// final poll after the job ended reads all that is left; a counter seen twice is shown once; and
// a gap in the counters at the end (an event that reached the API after a later one) redraws the
// output from all the events, in order. Text goes in as text nodes (lib/ansi.js), never markup.

import { api, ApiError, get, post } from "../lib/api.js";
import { ansiNodes, initialState } from "../lib/ansi.js";
import { badge, duration, fill, h, problem, spinner, when } from "../lib/dom.js";
import { go, href } from "../lib/router.js";

const FINAL = new Set(["successful", "failed", "canceled"]);
/** ms between polls while the job is not finished: a runner ships its events about once a second */
const POLL_MS = 1000;
/** the API's largest page of events */
const PAGE = 200;
/** a scrolled-up output within this many pixels of its end still follows new lines */
const STICKY_PX = 24;

const jobPath = (id) => `/api/job/job/${id}/`;
const isFailedHost = (row) => Boolean(row.failures || row.unreachable);

export async function render(ctx) {
  const id = Number(ctx.params.id);
  const controller = new AbortController();
  ctx.onCleanup(() => controller.abort());
  const { signal } = controller;
  let job = await get(jobPath(id), null, { signal });
  if (ctx.gone) return;

  const page = new JobPage(ctx, job);
  page.draw();
  let timer = null;
  ctx.onCleanup(() => clearTimeout(timer));

  async function tick() {
    timer = null;
    try {
      job = await get(jobPath(id), null, { signal }); // the job first: once final, the events read next are all
      if (ctx.gone) return;
      if (job.kind !== "workflow") await page.output.readNew(signal);
      if (ctx.gone) return;
      page.update(job); // after its output: a final state shows with all the lines before it
      page.pollProblem(null);
      if (FINAL.has(job.state)) {
        await page.finished(signal);
        return;
      }
    } catch (error) {
      if (error.name === "AbortError" || ctx.gone) return;
      page.pollProblem(error);
      if (error instanceof ApiError && [401, 403, 404].includes(error.status)) return; // it will not come back
    }
    timer = setTimeout(tick, POLL_MS);
  }
  if (FINAL.has(job.state)) {
    try {
      if (job.kind !== "workflow") await page.output.readNew(signal);
      if (!ctx.gone) await page.finished(signal);
    } catch (error) {
      if (error.name !== "AbortError" && !ctx.gone) page.pollProblem(error);
    }
  } else {
    tick();
  }
}

class JobPage {
  constructor(ctx, job) {
    this.ctx = ctx;
    this.job = job;
    this.summaries = null; // host summary rows once read
    this.stateEl = badge(job.state, job.state_name);
    this.stateEl.id = "job-state";
    this.stateEl.setAttribute("aria-live", "polite");
    this.titleEl = h("h1");
    this.actions = h("div.toolbar.actions.job-actions");
    this.status = h("div.action-status", { "aria-live": "polite" });
    this.pollStatus = h("div.poll-status");
    this.factsEl = h("dl.facts.job-facts");
    this.reasonEl = h("div");
    this.approvalsEl = h("div");
    this.output = new Output(job.id, this);
    this.eventsBody = h("tbody");
    this.summariesEl = h("div");
    this.notificationsEl = h("div");
  }

  draw() {
    const { ctx, job } = this;
    document.title = `Job ${job.id} · OpsGrat`;
    // a workflow job has no output, events or hosts of its own: its nodes' jobs have them
    const workflow = job.kind === "workflow";
    const tabs = [
      workflow
        ? { key: "nodes", title: "Nodes", panel: h("div.empty#job-nodes", "Each node of a workflow runs a job of its own: ",
          h("a", { href: href(`/jobs/${job.id}/workflow`) }, "see them on the workflow graph"), ".") }
        : { key: "output", title: "Output", panel: this.output.el },
      !workflow && { key: "events", title: "Events", panel: h("div.table-wrap", h("table.events", { "data-job": job.id },
        h("thead", h("tr", ["#", "Event", "Host", "Task", "Changed", "Failed"].map((t) => h("th", { scope: "col" }, t)))),
        this.eventsBody)) },
      !workflow && { key: "hosts", title: "Host summaries", panel: this.summariesEl, open: () => this.loadSummaries() },
      { key: "notifications", title: "Notifications", panel: this.notificationsEl, open: () => this.loadNotifications() },
    ].filter(Boolean);
    const bar = h("div.tabs", { role: "tablist", "aria-label": "Job details" });
    const panels = h("div.job-panels");
    for (const [i, tab] of tabs.entries()) {
      const button = h("button", { type: "button", role: "tab", id: `tab-${tab.key}`, "data-tab": tab.key,
        "aria-controls": `panel-${tab.key}`, "aria-selected": String(i === 0), onclick: () => {
          for (const b of bar.children) b.setAttribute("aria-selected", String(b === button));
          for (const p of panels.children) p.hidden = p.id !== `panel-${tab.key}`;
          if (tab.open) tab.open();
        } }, tab.title);
      bar.append(button);
      panels.append(h("div", { role: "tabpanel", id: `panel-${tab.key}`, "aria-labelledby": `tab-${tab.key}`, hidden: i !== 0 },
        tab.panel));
    }
    fill(ctx.el,
      h("nav.crumbs", h("a", { href: href("/r/job") }, "Jobs"),
        job.job ? [" / ", h("a", { href: href(`/jobs/${job.job}/workflow`) }, `Workflow job ${job.job}`)] : null),
      h("div.toolbar.job-head", this.titleEl, this.stateEl, this.actions),
      this.status, this.reasonEl, this.approvalsEl,
      h("div.card.job-card", this.factsEl), this.pollStatus, bar, panels);
    this.update(job);
  }

  /** redraw what depends on the job record (after every poll) */
  update(job) {
    this.job = job;
    fill(this.titleEl, `${job.kind === "workflow" ? "Workflow job" : "Job"} ${job.id}`,
      job.template_name ? h("span.job-name", ` · ${job.template_name}`) : null);
    this.stateEl.className = `badge state-${job.state}`;
    this.stateEl.dataset.state = job.state;
    this.stateEl.textContent = job.state_name || job.state;
    this.drawFacts();
    fill(this.reasonEl, job.reason && job.state !== "successful"
      ? h("div.problem#job-reason", { "data-state": job.state }, job.reason) : null);
    const key = JSON.stringify([job.state, job.pending_approvals || []]);
    if (key !== this.actionsKey) this.drawActions(); // not on every poll: a button being clicked stays put
  }

  drawFacts() {
    const job = this.job;
    const link = (family, idValue, label) => (idValue ? h("a", { href: href(`/r/${family}/${idValue}`) }, label || `#${idValue}`) : null);
    const running = !FINAL.has(job.state);
    const elapsed = running && job.started ? (Date.now() - Date.parse(job.started)) / 1000 : job.elapsed;
    const rows = [
      ["Template", link("template", job.template, job.template_name)],
      ["Kind", job.kind_name || job.kind],
      ["Project", link("project", job.project, job.project_name)],
      ["Playbook", job.playbook ? h("code", job.playbook) : null],
      ["Inventory", job.inventory ? link("inventory", job.inventory, job.inventory_name) : job.inventory_str ? "(inline hosts)" : null],
      ["Credential", link("credential", job.credential, job.credential_name)],
      ["Launched by", job.user_name || job.user],
      ["Revision", job.revision ? h("code", { title: job.revision }, job.revision.slice(0, 12)) : null],
      ["Job type", job.kind === "job" ? job.jobtype_name || job.job_type : null],
      ["Limit", job.limit ? h("code", job.limit) : null],
      ["Tags", job.tags ? h("code", job.tags) : null],
      ["Skip tags", job.skip_tags ? h("code", job.skip_tags) : null],
      ["Module", job.module ? h("code", job.module, job.arguments ? ` ${job.arguments}` : "") : null],
      ["Schedule", link("schedule", job.schedule, job.schedule_name)],
      ["Relaunch of", job.relaunch_of ? h("a", { href: href(`/jobs/${job.relaunch_of}`) }, `Job ${job.relaunch_of}`) : null],
      ["Created", when(job.created || job.ctime)],
      ["Started", when(job.started)],
      ["Finished", when(job.finished)],
      ["Elapsed", elapsed === null || elapsed === undefined ? null : duration(elapsed)],
    ].filter(([, v]) => v !== null && v !== undefined && v !== "");
    fill(this.factsEl, rows.map(([k, v]) => [h("dt", k), h("dd", { "data-fact": k.toLowerCase().replace(/ /g, "_") }, v)]));
  }

  drawActions() {
    const job = this.job;
    this.actionsKey = JSON.stringify([job.state, job.pending_approvals || []]);
    const final = FINAL.has(job.state);
    const failedHosts = (this.summaries || []).filter(isFailedHost);
    fill(this.actions,
      job.kind === "workflow" ? h("a.button#job-workflow", { href: href(`/jobs/${job.id}/workflow`) }, "Workflow graph") : null,
      !final ? this.button("button.danger#job-cancel", "Cancel", "Canceling…", async () => {
        this.update(await post(`${jobPath(job.id)}cancel/`));
      }) : null,
      this.button("button#job-relaunch", "Relaunch", "Relaunching…", async () => {
        const next = await post(`${jobPath(job.id)}relaunch/`, { hosts: "all" });
        go(`/jobs/${next.id}`);
      }),
      final && failedHosts.length && job.kind !== "workflow"
        ? this.button("button#job-relaunch-failed", `Relaunch failed hosts (${failedHosts.length})`, "Relaunching…", async () => {
          const next = await post(`${jobPath(job.id)}relaunch/`, { hosts: "failed" });
          go(`/jobs/${next.id}`);
        }) : null,
      job.kind !== "workflow" ? h("button#job-download", { type: "button", onclick: () => this.download() }, "Download output") : null);
    const pending = job.pending_approvals || [];
    fill(this.approvalsEl, pending.length ? h("div.card.approvals", h("h2", "Waiting for approval"),
      pending.map((a) => h("div.toolbar.approval", { "data-node": a.node },
        h("span.grow", `${a.name || `Node ${a.node}`}`, a.expires ? h("span.hint", ` (expires ${when(a.expires)})`) : null),
        this.button("button.primary.approve", "Approve", "Approving…", async () => {
          this.update(await post(`${jobPath(job.id)}approve/`, { node: a.node }));
        }),
        this.button("button.danger.deny", "Deny", "Denying…", async () => {
          this.update(await post(`${jobPath(job.id)}deny/`, { node: a.node }));
        })))) : null);
  }

  /** a button that runs `action`, disabled meanwhile; a failure shows in the status line */
  button(spec, label, busy, action) {
    const el = h(spec, { type: "button", onclick: async () => {
      el.disabled = true;
      fill(this.status, spinner(busy));
      try {
        await action();
        if (!this.ctx.gone) fill(this.status);
      } catch (error) {
        if (!this.ctx.gone) fill(this.status, problem(error));
      } finally {
        el.disabled = false;
      }
    } }, label);
    return el;
  }

  pollProblem(error) {
    fill(this.pollStatus, error ? problem(error) : null);
  }

  /** the job has ended: the late events, its host summaries, the actions that need them */
  async finished(signal) {
    this.output.done();
    if (this.job.kind !== "workflow") {
      await this.output.readLate(signal);
      if (this.ctx.gone) return;
      this.output.pre.dataset.done = "true"; // every event is shown (a hook for tests)
      await this.loadSummaries();
    }
    if (!this.ctx.gone) this.drawActions();
  }

  /** the host summaries tab; a finished job's are read (and drawn) once, however often asked */
  loadSummaries() {
    if (this.summariesRead) return this.summariesRead;
    const read = this.readSummaries();
    if (FINAL.has(this.job.state)) this.summariesRead = read;
    return read;
  }

  async readSummaries() {
    const el = this.summariesEl;
    if (!this.summaries) fill(el, spinner());
    try {
      const answer = await get(`${jobPath(this.job.id)}host_summaries/`);
      if (this.ctx.gone) return;
      this.summaries = answer.results;
    } catch (error) {
      this.summariesRead = null; // a failed read is tried again next time
      if (!this.ctx.gone) fill(el, problem(error));
      return;
    }
    const rows = this.summaries;
    const cols = [["ok", "OK"], ["changed", "Changed"], ["failures", "Failed"], ["unreachable", "Unreachable"],
      ["skipped", "Skipped"], ["rescued", "Rescued"], ["ignored", "Ignored"]];
    fill(el, rows.length ? h("div.table-wrap", h("table.host-summaries",
      h("thead", h("tr", h("th", { scope: "col" }, "Host"), cols.map(([, t]) => h("th", { scope: "col" }, t)))),
      h("tbody", rows.map((row) => h("tr", { "data-host": row.host, "data-failed": String(isFailedHost(row)),
        class: isFailedHost(row) ? "failed-host" : null },
        h("td", row.host, isFailedHost(row) ? [" ", badge(row.unreachable ? "unreachable" : "failed")] : null),
        cols.map(([key]) => h("td", { "data-field": key, class: row[key] ? `count-${key}` : null }, String(row[key] || 0))))))))
      : h("div.empty", FINAL.has(this.job.state) ? "No host ran a task." : "No host has finished yet."));
  }

  async loadNotifications() {
    const el = this.notificationsEl;
    fill(el, spinner());
    try {
      const answer = await get(`${jobPath(this.job.id)}notifications/`);
      if (this.ctx.gone) return;
      const rows = answer.results;
      fill(el, rows.length ? h("div.table-wrap", h("table.deliveries",
        h("thead", h("tr", ["When", "Notification", "Channel", "Event", "Target", "Attempt", "Result", "Error"]
          .map((t) => h("th", { scope: "col" }, t)))),
        h("tbody", rows.map((r) => h("tr", { "data-id": r.id },
          h("td", when(r.ctime)), h("td", r.notification_name || (r.notification ? `#${r.notification}` : "(test)")),
          h("td", r.channel || ""), h("td", r.event || ""), h("td", r.target || ""), h("td", String(r.attempt ?? "")),
          h("td", badge(r.result === "sent" ? "successful" : r.result === "failed" ? "failed" : "pending", r.result),
            r.status ? ` ${r.status}` : ""),
          h("td", r.error || ""))))))
        : h("div.empty", "No notification was sent for this job."));
    } catch (error) {
      if (!this.ctx.gone) fill(el, problem(error));
    }
  }

  /** the output as a file (the API wants the token, so no plain link) */
  async download() {
    try {
      const text = await api("GET", `${jobPath(this.job.id)}stdout/`, { query: { format: "txt" }, raw: true });
      const url = URL.createObjectURL(new Blob([text], { type: "text/plain" }));
      const a = h("a", { href: url, download: `job_${this.job.id}.txt` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (error) {
      fill(this.status, problem(error));
    }
  }

  /** a new event for the Events tab */
  eventRow(event) {
    return h("tr", { "data-counter": event.counter, class: event.failed ? "event-failed" : null },
      h("td", String(event.counter)), h("td", h("code", event.event || "")), h("td", event.host || ""),
      h("td", event.task || ""), h("td", event.changed ? "yes" : ""), h("td", event.failed ? "yes" : ""));
  }
}

/** the output pane: one `.line` per line, appended as events arrive; follows the end unless scrolled up */
class Output {
  constructor(jobId, page) {
    this.jobId = jobId;
    this.page = page;
    this.seen = new Set();
    this.last = null; // the highest counter shown
    this.ansi = initialState(); // colours carry over from one event to the next
    this.pre = h("pre.output#job-output", { tabindex: "0", "aria-label": "Job output", "data-lines": "0" });
    this.waiting = h("div.output-wait", spinner("Waiting for output…"));
    this.end = h("button.output-end#job-output-end", { type: "button", hidden: true, onclick: () => this.scrollToEnd() },
      "↓ Follow the output");
    this.pre.addEventListener("scroll", () => { this.end.hidden = this.atEnd(); });
    this.el = h("div.output-pane", this.pre, this.end, this.waiting);
    this.lines = 0;
  }

  atEnd() {
    return this.pre.scrollHeight - this.pre.scrollTop - this.pre.clientHeight <= STICKY_PX;
  }

  scrollToEnd() {
    this.pre.scrollTop = this.pre.scrollHeight;
    this.end.hidden = true;
  }

  /** every event after the last counter shown, page by page */
  async readNew(signal) {
    for (;;) {
      const query = { limit: PAGE };
      if (this.last !== null) query.counter__gt = this.last;
      const answer = await get(`${jobPath(this.jobId)}events/`, query, { signal });
      if (this.page.ctx.gone) return;
      this.show(answer.results);
      if (!answer.results.length || !answer.next) return;
    }
  }

  /** counters run 1..N without gaps; after the end, a gap means a late event: redraw from all */
  async readLate(signal) {
    const n = this.seen.size;
    if (!n || (this.seen.has(1) && Math.max(...this.seen) === n)) return;
    const all = [];
    for (let offset = 0; ;) {
      const answer = await get(`${jobPath(this.jobId)}events/`, { limit: PAGE, offset }, { signal });
      if (this.page.ctx.gone) return;
      all.push(...answer.results);
      offset += answer.results.length;
      if (!answer.results.length || !answer.next) break;
    }
    if (all.every((e) => this.seen.has(e.counter))) return;
    this.pre.replaceChildren();
    this.page.eventsBody.replaceChildren();
    this.seen.clear();
    this.last = null;
    this.lines = 0;
    this.ansi = initialState();
    this.show(all.sort((a, b) => a.counter - b.counter));
  }

  show(events) {
    const follow = this.atEnd();
    const lines = document.createDocumentFragment();
    const rows = document.createDocumentFragment();
    for (const event of events) {
      const counter = Number(event.counter || 0);
      if (this.seen.has(counter)) continue;
      this.seen.add(counter);
      this.last = this.last === null ? counter : Math.max(this.last, counter);
      rows.append(this.page.eventRow(event));
      if (!event.stdout) continue;
      for (const text of String(event.stdout).replace(/\r\n/g, "\n").split("\n")) {
        this.lines += 1;
        lines.append(h("span.line", { "data-counter": counter }, ansiNodes(text, this.ansi)));
      }
    }
    this.page.eventsBody.append(rows);
    if (!lines.childNodes.length) return;
    this.pre.append(lines);
    this.pre.dataset.lines = String(this.lines);
    this.waiting.hidden = FINAL.has(this.page.job.state);
    fill(this.waiting, spinner("Running…"));
    if (follow) this.scrollToEnd();
    else this.end.hidden = false;
  }

  done() {
    this.waiting.hidden = true;
    if (!this.lines) this.pre.dataset.empty = "true";
  }
}

// A workflow job's graph as it runs (#/jobs/:id/workflow): each node's live state (data-state on
// its box), the lines taken, pending approvals. Polls GET /api/job/job/{id}/workflow/ every second
// until the workflow job ends. A node that ran opens its own job (#/jobs/<job id>).

import { get, post } from "../lib/api.js";
import { badge, fill, h, problem, when } from "../lib/dom.js";
import { GraphView, kindLabel, positions } from "../lib/graph.js";
import { go, href } from "../lib/router.js";

const FINAL = new Set(["successful", "failed", "canceled", "error"]);
const EVERY_MS = 1000;

export async function render(ctx) {
  const id = ctx.params.id;
  document.title = `Workflow job ${id} · OpsGrat`;
  const [job, run] = await Promise.all([get(`/api/job/job/${id}/`), get(`/api/job/job/${id}/workflow/`)]);
  if (ctx.gone) return;
  const title = job.template_name || job.name || `Workflow job ${id}`;
  document.title = `${title} · Workflow job ${id} · OpsGrat`;

  const stateEl = h("span.run-state");
  const note = h("div.workflow-note", { "aria-live": "polite" });
  const approvals = h("div.approvals");
  const table = h("div.table-wrap");
  const view = new GraphView({
    label: `Workflow job ${id}`,
    onNode: (nodeId) => {
      const node = latest.nodes.find((n) => String(n.id) === String(nodeId));
      if (node && node.job) go(`/jobs/${node.job}`);
    },
  });
  fill(ctx.el,
    h("nav.crumbs", h("a", { href: href("/r/job") }, "Jobs"), " / ",
      h("a#job-link", { href: href(`/jobs/${id}`) }, `Job ${id}`)),
    h("div.toolbar", h("h1", title), stateEl,
      h("a.button", { href: href(`/jobs/${id}`) }, "Job details and output"),
      job.template ? h("a.button", { href: href(`/templates/${job.template}/workflow`) }, "Designer") : null),
    note, approvals,
    h("div.graph-wrap", view.svg),
    h("h2", "Nodes"), table);

  let latest = run;
  let at = positions(run.nodes, run.levels);
  let timer = null;
  let shape = "";

  const draw = () => {
    // positions only move if the graph itself changed (it does not, once launched: changelog 2.5)
    const now = JSON.stringify(latest.nodes.map((n) => n.id));
    if (now !== shape) {
      at = positions(latest.nodes, latest.levels);
      shape = now;
    }
    const final = FINAL.has(latest.state);
    fill(stateEl, badge(latest.state || "new"));
    stateEl.dataset.state = latest.state || "new";
    view.draw({
      nodes: latest.nodes.map((n) => ({
        id: n.id, x: at[n.id].x, y: at[n.id].y, label: n.name || `node ${n.id}`,
        sub: [kindLabel(n), stateText(n)].filter(Boolean).join(" · "), state: n.state || "none",
        classes: [n.job ? "has-job" : null, n.is_start_node ? "start" : null].filter(Boolean),
        title: n.reason || (n.job ? `job ${n.job}: Enter opens it` : ""),
      })),
      lines: latest.lines.map((li) => ({ id: li.id, from: li.node, to: li.next_node, result: li.result,
        classes: [li.taken ? "taken" : final ? "not-taken" : null].filter(Boolean) })),
    });
    drawApprovals();
    drawTable();
  };

  const drawApprovals = () => {
    const pending = latest.pending_approvals || [];
    fill(approvals, pending.map((a) => h("div.card.approval", { "data-node": a.node },
      h("strong", a.name || `node ${a.node}`), " waits for a decision",
      a.expires ? ` (until ${when(a.expires)})` : "", " ",
      h("button.primary.approve", { type: "button", onclick: () => decide(a.node, "approve") }, "Approve"), " ",
      h("button.danger.deny", { type: "button", onclick: () => decide(a.node, "deny") }, "Deny"))));
  };

  const drawTable = () => {
    fill(table, h("table",
      h("thead", h("tr", h("th", "Node"), h("th", "Kind"), h("th", "State"), h("th", "Job"),
        h("th.hide-narrow", "Started"), h("th.hide-narrow", "Finished"))),
      h("tbody", latest.nodes.map((n) => h("tr", { "data-node": n.id },
        h("td", n.name || `node ${n.id}`, n.reason ? h("div.hint", n.reason) : null),
        h("td", kindLabel(n)),
        h("td", n.state ? badge(n.state) : h("span.hint", "not reached")),
        h("td", n.job ? h("a", { href: href(`/jobs/${n.job}`) }, `#${n.job}`) : ""),
        h("td.hide-narrow", when(n.started)),
        h("td.hide-narrow", when(n.finished)))))));
  };

  const decide = async (node, verb) => {
    try {
      await post(`/api/job/job/${id}/${verb}/`, { node });
      await poll(false);
    } catch (error) {
      fill(note, problem(error));
    }
  };

  const poll = async (again = true) => {
    timer = null;
    try {
      latest = await get(`/api/job/job/${id}/workflow/`);
      if (ctx.gone) return;
      fill(note);
      draw();
    } catch (error) {
      if (ctx.gone) return;
      fill(note, problem(error));
    }
    if (again && !FINAL.has(latest.state) && !ctx.gone) timer = setTimeout(poll, EVERY_MS);
  };

  ctx.onCleanup(() => clearTimeout(timer));
  draw();
  if (!FINAL.has(latest.state)) timer = setTimeout(poll, EVERY_MS);
}

function stateText(n) {
  if (n.is_start_node) return "";
  if (n.reused) return `${n.state} (reused)`;
  return n.state || "not reached";
}

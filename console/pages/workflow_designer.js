// The workflow designer (#/templates/:id/workflow): a workflow template's graph to edit. Add nodes
// (a job template, another workflow, a project or inventory sync, an approval, a junction), move
// them (drag, or arrow keys on the focused node), connect two nodes with a line that fires on a
// result, delete either, and Save.
//
// The API has no bulk write for a graph (spec §4.6-4.7: one record at a time), so Save writes the
// changes in the order that keeps the stored graph valid at every step: deleted lines, deleted
// nodes, then nodes (new and changed), then lines. What the API refuses (a line that would close a
// cycle, a node without the template its type runs, a line into the start node...) is marked on the
// node the refusal names (`invalid` on its <g>, the message in the panel); what was accepted stays
// saved, and the rest can be fixed and saved again.

import { ApiError, del, get, listAll, patch, post } from "../lib/api.js";
import { fill, h, problem, spinner } from "../lib/dom.js";
import { GraphView, NODE_KINDS, RESULT_TEXT, kindLabel, positions, resultClass } from "../lib/graph.js";
import { href } from "../lib/router.js";

const NODE_PATH = "/api/template/workflow/node/";
const LINE_PATH = "/api/template/workflow/line/";
/** the field a node of each type binds, and where its choices come from (BINDS in catalog/workflow.py) */
const BINDS = {
  job: { field: "bind_template", label: "Job template" },
  workflow: { field: "bind_template", label: "Workflow template" },
  project_sync: { field: "project", label: "Project" },
  inventory_sync: { field: "host_source", label: "Host source" },
  approval: null,
  "": null,
};
const BOUND_NAME = { bind_template: "bind_template_name", project: "project_name", host_source: "host_source_name" };
/** what Save compares and writes of a node */
const NODE_FIELDS = ["name", "type", "bind_template", "project", "host_source", "all_parents_must_succeed", "timeout", "top", "left"];
const RESULTS = [["successful", "On success"], ["failed", "On failure"], ["any", "Always"]];
const STEP = 10;

export async function render(ctx) {
  const id = ctx.params.id;
  document.title = "Workflow designer · OpsGrat";
  const graph = await get(`/api/template/template/${id}/workflow/`);
  if (ctx.gone) return;
  document.title = `${graph.name} · Workflow designer · OpsGrat`;
  new Designer(ctx, id, graph).mount();
}

class Designer {
  constructor(ctx, id, graph) {
    this.ctx = ctx;
    this.id = Number(id);
    this.name = graph.name;
    this.options = {}; // binding choices by type, loaded when first needed
    this.seq = 0;
    this.load(graph);
    this.view = new GraphView({
      label: `Workflow ${graph.name}`, clicks: false, selectable: true,
      onNode: (key) => this.activate(key),
      onKey: (key, event) => this.key(key, event),
      onLine: (key) => this.select({ kind: "line", id: key }),
    });
    this.view.svg.addEventListener("pointerdown", (event) => this.pointerDown(event));
    this.view.svg.addEventListener("pointermove", (event) => this.pointerMove(event));
    this.view.svg.addEventListener("pointerup", (event) => this.pointerUp(event));
    this.view.svg.addEventListener("pointercancel", (event) => this.pointerUp(event));
  }

  /** the model from the API's graph: nodes and lines by key (their id once saved, "new-N" before) */
  load(graph) {
    const at = positions(graph.nodes, graph.levels);
    this.nodes = new Map();
    this.lines = new Map();
    for (const n of graph.nodes) {
      const node = { key: String(n.id), id: n.id, is_start_node: n.is_start_node, saved: pick(n), ...pick(n) };
      node.left = Math.round(at[n.id].x);
      node.top = Math.round(at[n.id].y);
      node.boundName = BINDS[n.type || ""] ? n[BOUND_NAME[BINDS[n.type || ""].field]] : null;
      this.nodes.set(node.key, node);
    }
    for (const li of graph.lines) {
      const result = resultCode(li.result);
      this.lines.set(String(li.id), { key: String(li.id), id: li.id, from: String(li.node), to: String(li.next_node), result, saved: { result } });
    }
    this.removedNodes = [];
    this.removedLines = [];
    this.errors = new Map(); // node key -> message
    this.badLines = new Set(); // keys of the lines the API refused
    this.problems = [];
    this.touched = false;
    if (this.selected && !this.exists(this.selected)) this.selected = null;
    this.connecting = null;
  }

  exists(sel) {
    return (sel.kind === "node" ? this.nodes : this.lines).has(sel.id);
  }

  mount() {
    const ctx = this.ctx;
    this.status = h("div.designer-status", { "aria-live": "polite" });
    this.saveButton = h("button.primary#save-workflow", { type: "button", onclick: () => this.save() }, "Save");
    this.typeSelect = h("select#node-type", { "aria-label": "Node type", onchange: () => this.fillBindSelect() },
      Object.entries(NODE_KINDS).map(([value, label]) => h("option", { value }, label)));
    this.bindSelect = h("select#node-bind", { "aria-label": "What the node runs" });
    this.panel = h("aside.card.inspector#inspector", { "aria-label": "Selection" });
    this.problemsEl = h("div.graph-problems");
    fill(ctx.el,
      h("nav.crumbs", h("a", { href: href("/r/template") }, "Templates"), " / ",
        h("a", { href: href(`/r/template/${this.id}`) }, this.name)),
      h("div.toolbar", h("h1", `Workflow: ${this.name}`),
        h("a.button", { href: href(`/templates/${this.id}/launch`) }, "Launch"),
        this.saveButton),
      this.status,
      h("div.toolbar.add-node", { role: "group", "aria-label": "Add a node" },
        h("label.inline", "Add", this.typeSelect), this.bindSelect,
        h("button#add-node", { type: "button", onclick: () => this.addNode() }, "Add node")),
      h("div.designer",
        h("div.graph-wrap", this.view.svg),
        this.panel),
      this.problemsEl,
      h("p.hint", "Drag a node to move it, or focus it (Tab) and use the arrow keys. Select a node, press “Connect to…”, "
        + "then click the node the line leads to (or Tab to it and press Enter). Escape cancels."));
    this.fillBindSelect();
    this.draw();
  }

  // ------------------------------------------------------------ drawing

  draw() {
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest("[data-node],[data-line]");
    const focusKey = focused && this.view.svg.contains(focused)
      ? (focused.dataset.node ? `[data-node="${CSS.escape(focused.dataset.node)}"]` : `[data-line="${CSS.escape(focused.dataset.line)}"]`)
      : null;
    this.view.draw({
      selected: this.selected,
      nodes: [...this.nodes.values()].map((n) => ({
        id: n.key, x: n.left, y: n.top, label: n.name || "(no name)", sub: this.sub(n), state: this.nodeState(n),
        classes: [this.errors.has(n.key) ? "invalid" : null, n.is_start_node ? "start" : null,
          this.connecting === n.key ? "connecting" : null].filter(Boolean),
        mark: this.errors.has(n.key) ? "!" : null,
        title: this.errors.get(n.key),
      })),
      lines: [...this.lines.values()].map((li) => ({ id: li.key, from: li.from, to: li.to, result: li.result,
        classes: [li.id ? null : "unsaved", this.badLines.has(li.key) ? "invalid" : null].filter(Boolean) })),
    });
    this.view.svg.classList.toggle("connect-mode", Boolean(this.connecting));
    if (focusKey) {
      const again = this.view.svg.querySelector(focusKey);
      if (again) again.focus({ preventScroll: true });
    }
    this.drawPanel();
    this.drawProblems();
    this.saveButton.textContent = this.touched ? "Save changes" : "Save";
    this.saveButton.dataset.dirty = String(this.touched);
  }

  sub(n) {
    const kind = kindLabel(n);
    if (n.boundName && n.boundName !== n.name) return `${kind}: ${n.boundName}`;
    return kind;
  }

  nodeState(n) {
    if (this.errors.has(n.key)) return "invalid";
    return n.id ? "saved" : "unsaved";
  }

  drawPanel() {
    const sel = this.selected;
    if (this.connecting) {
      const source = this.nodes.get(this.connecting);
      fill(this.panel,
        h("h2", "Connect"),
        h("p", "A line from ", h("strong", source.name), " ", RESULT_TEXT[resultClass(this.pendingResult())],
          ": choose the node it leads to (click it, or Tab to it and press Enter)."),
        h("button#cancel-connect", { type: "button", onclick: () => this.cancelConnect() }, "Cancel"));
      return;
    }
    if (!sel) {
      fill(this.panel, h("h2", "Nothing selected"),
        h("p.hint", `${plural(this.nodes.size, "node")}, ${plural(this.lines.size, "line")}. Select a node or a line to change it.`));
      return;
    }
    if (sel.kind === "line") {
      const li = this.lines.get(sel.id);
      const from = this.nodes.get(li.from);
      const to = this.nodes.get(li.to);
      fill(this.panel,
        h("h2", "Line"),
        h("p", h("strong", from.name), " → ", h("strong", to.name)),
        h("label", "Runs the next node", h("select#line-result-edit", {
          onchange: (event) => { li.result = event.target.value; this.touch(); } },
        RESULTS.map(([value, label]) => h("option", { value, selected: value === li.result }, label)))),
        h("div.toolbar",
          h("button.danger#delete-line", { type: "button", onclick: () => this.deleteLine(li.key) }, "Delete line")));
      return;
    }
    const n = this.nodes.get(sel.id);
    const bind = BINDS[n.type || ""];
    const parts = [h("h2", n.name || "(no name)"), h("p.hint", kindLabel(n), n.id ? ` · node ${n.id}` : " · not saved yet")];
    if (this.errors.has(n.key)) parts.push(h("div.problem.node-error", { role: "alert" }, this.errors.get(n.key)));
    if (!n.is_start_node) {
      parts.push(h("label", "Name", h("input#node-name", { value: n.name || "", maxlength: 512,
        oninput: (event) => { n.name = event.target.value; this.touch(false); this.redrawLabel(n); } })));
      if (bind) {
        const select = h("select#node-binding", { onchange: (event) => {
          n[bind.field] = event.target.value ? Number(event.target.value) : null;
          n.boundName = event.target.value ? event.target.selectedOptions[0].textContent : null;
          this.touch();
        } }, h("option", { value: "" }, "(choose)"));
        parts.push(h("label", bind.label, select));
        this.choices(n.type).then((options) => {
          select.append(...options.map((o) => h("option", { value: o.id, selected: o.id === n[bind.field] }, o.name)));
        }).catch((error) => parts[0].after(problem(error)));
      }
      if (n.type === "approval") {
        parts.push(h("label", "Timeout (seconds, 0 waits forever)", h("input#node-timeout", {
          type: "number", min: 0, value: n.timeout || 0,
          onchange: (event) => { n.timeout = Math.max(0, Number(event.target.value) || 0); this.touch(false); } })));
      }
      parts.push(h("label.check", h("input#node-all-parents", { type: "checkbox", checked: Boolean(n.all_parents_must_succeed),
        onchange: (event) => { n.all_parents_must_succeed = event.target.checked ? 1 : 0; this.touch(false); } }),
      "Runs only when every line into it fires"));
    }
    parts.push(h("div.toolbar.connect",
      h("label.inline", "Line", h("select#line-result", { "aria-label": "The new line runs the next node",
        onchange: (event) => { this.lineResult = event.target.value; } },
      RESULTS.map(([value, label]) => h("option", { value, selected: value === this.pendingResult() }, label)))),
      h("button#connect", { type: "button", onclick: () => this.startConnect(n.key) }, "Connect to…")));
    const around = [...this.lines.values()].filter((li) => li.from === n.key || li.to === n.key);
    if (around.length) {
      parts.push(h("h3", "Lines"), h("ul.node-lines", around.map((li) => h("li",
        h("button.link", { type: "button", onclick: () => this.select({ kind: "line", id: li.key }) },
          `${this.nodes.get(li.from).name} → ${this.nodes.get(li.to).name}`),
        " ", RESULT_TEXT[resultClass(li.result)]))));
    }
    if (!n.is_start_node) {
      parts.push(h("div.toolbar", h("button.danger#delete-node", { type: "button", onclick: () => this.deleteNode(n.key) }, "Delete node")));
    } else {
      parts.push(h("p.hint", "The start node runs nothing: lines from it start the run. It is deleted only with the workflow."));
    }
    fill(this.panel, ...parts);
  }

  redrawLabel(n) {
    const g = this.view.svg.querySelector(`[data-node="${CSS.escape(n.key)}"] text.label`);
    if (g) g.textContent = n.name;
  }

  drawProblems() {
    if (!this.problems.length) {
      fill(this.problemsEl);
      return;
    }
    fill(this.problemsEl, h("div.problem", { role: "alert" },
      h("strong", this.problems.length === 1 ? "One change was not saved:" : `${this.problems.length} changes were not saved:`),
      h("ul", this.problems.map((p) => h("li", p.node
        ? h("button.link", { type: "button", onclick: () => this.select({ kind: "node", id: p.node }) }, p.what)
        : p.what, ": ", p.message)))));
  }

  // ------------------------------------------------------------ interaction

  touch(redraw = true) {
    this.touched = true;
    if (redraw) this.draw();
    else {
      this.saveButton.textContent = "Save changes";
      this.saveButton.dataset.dirty = "true";
    }
  }

  select(sel) {
    this.selected = sel;
    this.draw();
  }

  pendingResult() {
    return this.lineResult || "successful";
  }

  /** Enter/Space (or a press) on a node: finish a connection, else select it */
  activate(key) {
    if (this.connecting) {
      this.connect(this.connecting, key);
      return;
    }
    this.select({ kind: "node", id: key });
  }

  startConnect(key) {
    this.connecting = key;
    fill(this.status);
    this.draw();
    const first = [...this.nodes.keys()].find((k) => k !== key);
    if (first) this.view.svg.querySelector(`[data-node="${CSS.escape(first)}"]`)?.focus();
  }

  cancelConnect() {
    const source = this.connecting;
    this.connecting = null;
    this.draw();
    if (source) this.view.svg.querySelector(`[data-node="${CSS.escape(source)}"]`)?.focus();
  }

  connect(from, to) {
    this.connecting = null;
    if (from === to) {
      fill(this.status, problem("A line joins two different nodes."));
      this.draw();
      return;
    }
    // the same line twice is refused here; anything else the graph must not hold (a line back, a
    // cycle, a line into the start node) is the API's to refuse on Save, and is shown on the node
    const twin = [...this.lines.values()].find((li) => li.from === from && li.to === to);
    if (twin) {
      fill(this.status, problem("These two nodes are already connected by this line: change its result instead."));
      this.selected = { kind: "line", id: twin.key };
      this.draw();
      return;
    }
    const key = `new-${++this.seq}`;
    this.lines.set(key, { key, id: null, from, to, result: this.pendingResult(), saved: null });
    fill(this.status);
    this.selected = { kind: "node", id: to };
    this.touch();
  }

  key(key, event) {
    const n = this.nodes.get(key);
    if (!n) return;
    const moves = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
    if (moves[event.key]) {
      event.preventDefault();
      const step = event.shiftKey ? STEP * 5 : STEP;
      if (!this.selected || this.selected.id !== key) this.selected = { kind: "node", id: key };
      n.left += moves[event.key][0] * step;
      n.top += moves[event.key][1] * step;
      this.touched = true;
      this.draw();
    } else if (event.key === "Escape" && this.connecting) {
      this.cancelConnect();
    } else if ((event.key === "Delete" || event.key === "Backspace") && !n.is_start_node) {
      event.preventDefault();
      this.deleteNode(key);
    }
  }

  pointerDown(event) {
    if (event.button !== 0) return;
    const g = event.target.closest("g.node");
    if (!g) {
      if (!event.target.closest("g.edge") && !this.connecting && this.selected) this.select(null);
      return;
    }
    const key = g.dataset.node;
    event.preventDefault();
    if (this.connecting) {
      this.connect(this.connecting, key);
      return;
    }
    const n = this.nodes.get(key);
    const at = this.view.point(event);
    this.drag = { key, pointer: event.pointerId, dx: at.x - n.left, dy: at.y - n.top, moved: false, start: at };
    this.view.svg.setPointerCapture(event.pointerId);
    if (!this.selected || this.selected.kind !== "node" || this.selected.id !== key) this.select({ kind: "node", id: key });
    this.view.svg.querySelector(`[data-node="${CSS.escape(key)}"]`)?.focus({ preventScroll: true });
  }

  pointerMove(event) {
    const drag = this.drag;
    if (!drag || drag.pointer !== event.pointerId) return;
    const at = this.view.point(event);
    if (!drag.moved && Math.hypot(at.x - drag.start.x, at.y - drag.start.y) < 3) return;
    drag.moved = true;
    const n = this.nodes.get(drag.key);
    n.left = Math.round(at.x - drag.dx);
    n.top = Math.round(at.y - drag.dy);
    this.view.move(drag.key, n.left, n.top);
  }

  pointerUp(event) {
    const drag = this.drag;
    if (!drag || drag.pointer !== event.pointerId) return;
    this.drag = null;
    if (this.view.svg.hasPointerCapture(event.pointerId)) this.view.svg.releasePointerCapture(event.pointerId);
    if (drag.moved) this.touch();
  }

  async choices(type) {
    const bind = BINDS[type || ""];
    if (!bind) return [];
    if (!this.options[type]) {
      this.options[type] = (async () => {
        if (bind.field === "project") return listAll("/api/project/project/");
        if (bind.field === "host_source") return listAll("/api/project/host/source/");
        const all = await listAll("/api/template/template/");
        return all.filter((t) => (t.template_type || "job") === type && t.id !== this.id);
      })().catch((error) => {
        delete this.options[type];
        throw error;
      });
    }
    return this.options[type];
  }

  async fillBindSelect() {
    const type = this.typeSelect.value;
    const bind = BINDS[type];
    this.bindSelect.hidden = !bind;
    fill(this.bindSelect);
    if (!bind) return;
    this.bindSelect.setAttribute("aria-label", bind.label);
    fill(this.bindSelect, h("option", { value: "" }, "Loading…"));
    try {
      const options = await this.choices(type);
      if (this.typeSelect.value !== type) return;
      fill(this.bindSelect, options.length
        ? options.map((o) => h("option", { value: o.id }, o.name))
        : h("option", { value: "" }, `(no ${bind.label.toLowerCase()}s)`));
    } catch (error) {
      fill(this.bindSelect, h("option", { value: "" }, "(could not load)"));
      fill(this.status, problem(error));
    }
  }

  addNode() {
    const type = this.typeSelect.value;
    const bind = BINDS[type];
    const key = `new-${++this.seq}`;
    const chosen = bind && this.bindSelect.value ? this.bindSelect.selectedOptions[0] : null;
    const name = chosen ? chosen.textContent : type === "approval" ? "Approval" : type === "" ? "Junction" : `New ${NODE_KINDS[type].toLowerCase()} node`;
    const node = { key, id: null, saved: null, name, type, is_start_node: 0, bind_template: null, project: null, host_source: null,
      all_parents_must_succeed: 0, timeout: 0, boundName: chosen ? chosen.textContent : null, ...this.freeSpot() };
    if (bind) node[bind.field] = chosen ? Number(chosen.value) : null;
    this.nodes.set(key, node);
    this.selected = { kind: "node", id: key };
    this.touch();
    this.view.svg.querySelector(`[data-node="${CSS.escape(key)}"]`)?.focus({ preventScroll: true });
  }

  /** where a new node goes: right of the selected node, else right of the rightmost, clear of others */
  freeSpot() {
    const all = [...this.nodes.values()];
    const anchor = (this.selected && this.selected.kind === "node" && this.nodes.get(this.selected.id))
      || all.reduce((a, b) => (b.left > a.left ? b : a), all[0]);
    let left = anchor ? anchor.left + 250 : 30;
    let top = anchor ? anchor.top : 30;
    while (all.some((n) => Math.abs(n.left - left) < 180 && Math.abs(n.top - top) < 60)) top += 90;
    return { left, top };
  }

  deleteNode(key) {
    const n = this.nodes.get(key);
    if (!n || n.is_start_node) return;
    for (const li of [...this.lines.values()]) {
      // the API deletes a node's lines with it: only unsaved lines need forgetting
      if (li.from === key || li.to === key) this.lines.delete(li.key);
    }
    if (n.id) this.removedNodes.push(n.id);
    this.nodes.delete(key);
    this.errors.delete(key);
    this.selected = null;
    this.touch();
  }

  deleteLine(key) {
    const li = this.lines.get(key);
    if (!li) return;
    if (li.id) this.removedLines.push(li.id);
    this.lines.delete(key);
    this.selected = { kind: "node", id: li.from };
    this.touch();
  }

  // ------------------------------------------------------------ saving

  async save() {
    this.saveButton.disabled = true;
    this.connecting = null;
    this.errors.clear();
    this.badLines.clear();
    this.problems = [];
    fill(this.status, spinner("Saving…"));
    let writes = 0;
    const refused = (what, nodeKeys, error) => {
      const message = error instanceof ApiError ? String(error.detail) : String(error);
      for (const key of nodeKeys) if (!this.errors.has(key)) this.errors.set(key, message);
      this.problems.push({ what, node: nodeKeys[0], message });
    };
    try {
      for (const lineId of [...this.removedLines]) {
        await this.write(() => del(`${LINE_PATH}${lineId}/`), true)
          .then(() => { this.removedLines.splice(this.removedLines.indexOf(lineId), 1); writes++; })
          .catch((error) => refused(`Deleting line ${lineId}`, [], error));
      }
      for (const nodeId of [...this.removedNodes]) {
        await this.write(() => del(`${NODE_PATH}${nodeId}/`), true)
          .then(() => { this.removedNodes.splice(this.removedNodes.indexOf(nodeId), 1); writes++; })
          .catch((error) => refused(`Deleting node ${nodeId}`, [], error));
      }
      for (const n of [...this.nodes.values()]) {
        if (n.is_start_node && n.saved && n.saved.top === n.top && n.saved.left === n.left) continue;
        const body = n.id ? changed(n) : { template: this.id, ...pick(n) };
        if (n.is_start_node) { delete body.name; delete body.type; }
        if (!Object.keys(body).length) continue;
        try {
          const saved = n.id ? await patch(`${NODE_PATH}${n.id}/`, body) : await post(NODE_PATH, body);
          writes++;
          if (!n.id) this.rekey(n, saved.id);
          n.saved = pick(saved);
        } catch (error) {
          refused(`Node “${n.name}”`, [n.key], error);
        }
      }
      for (const li of [...this.lines.values()]) {
        const from = this.nodes.get(li.from);
        const to = this.nodes.get(li.to);
        const what = `Line ${from.name} → ${to.name}`;
        if (li.id) {
          if (li.saved && li.saved.result === li.result) continue;
          try {
            await patch(`${LINE_PATH}${li.id}/`, { result: li.result });
            writes++;
            li.saved = { result: li.result };
          } catch (error) {
            this.badLines.add(li.key);
            refused(what, [li.from, li.to], error);
          }
          continue;
        }
        if (!from.id || !to.id) {
          this.problems.push({ what, node: from.id ? to.key : from.key, message: "not saved: a node it joins was not saved" });
          continue;
        }
        try {
          const saved = await post(LINE_PATH, { node: from.id, next_node: to.id, result: li.result,
            source_anchor: "RightMiddle", target_anchor: "LeftMiddle" });
          writes++;
          this.lines.delete(li.key);
          li.key = String(saved.id);
          li.id = saved.id;
          li.saved = { result: li.result };
          this.lines.set(li.key, li);
          if (this.selected && this.selected.kind === "line" && this.selected.id.startsWith("new-")) this.selected = null;
        } catch (error) {
          this.badLines.add(li.key);
          refused(what, this.blamed(error, from, to), error);
        }
      }
    } finally {
      this.saveButton.disabled = false;
    }
    if (this.ctx.gone) return;
    if (this.problems.length) {
      this.touched = true;
      fill(this.status, problem(`${writes} change${writes === 1 ? "" : "s"} saved; the API refused the rest: see the marked nodes.`));
      this.draw();
      return;
    }
    try {
      const graph = await get(`/api/template/template/${this.id}/workflow/`);
      if (this.ctx.gone) return;
      this.load(graph);
      fill(this.status, h("div.notice#saved", writes ? "Saved." : "Nothing to save."));
    } catch (error) {
      fill(this.status, problem(error));
    }
    this.draw();
  }

  /** a delete that finds nothing has nothing left to do */
  async write(fn, missingIsDone = false) {
    try {
      return await fn();
    } catch (error) {
      if (missingIsDone && error instanceof ApiError && error.status === 404) return null;
      throw error;
    }
  }

  /** the nodes a refused line names: `node` is its source, `next_node` its target, and a cycle
   *  message (graph.py describe_path) names every node along the cycle */
  blamed(error, from, to) {
    const fields = error instanceof ApiError ? error.fields : {};
    const detail = error instanceof ApiError ? String(error.detail) : "";
    const out = [];
    if (fields.next_node) out.push(to.key);
    if (fields.node) out.push(from.key);
    const cycle = /would make a cycle: (.*)$/.exec(detail);
    if (cycle) {
      for (const name of cycle[1].split(" → ")) {
        for (const n of this.nodes.values()) if (n.name === name && !out.includes(n.key)) out.push(n.key);
      }
    }
    return out.length ? out : [from.key, to.key];
  }

  /** a new node got its id: its key, its lines, the selection and its error follow */
  rekey(n, newId) {
    const old = n.key;
    const key = String(newId);
    const entries = [...this.nodes.entries()].map(([k, v]) => (k === old ? [key, v] : [k, v]));
    this.nodes = new Map(entries);
    n.key = key;
    n.id = newId;
    for (const li of this.lines.values()) {
      if (li.from === old) li.from = key;
      if (li.to === old) li.to = key;
    }
    if (this.selected && this.selected.kind === "node" && this.selected.id === old) this.selected = { kind: "node", id: key };
    if (this.errors.has(old)) {
      this.errors.set(key, this.errors.get(old));
      this.errors.delete(old);
    }
  }
}

/** the fields of a node Save writes, as the API names them */
function pick(n) {
  const out = {};
  for (const name of NODE_FIELDS) out[name] = n[name] ?? (name === "name" || name === "type" ? "" : null);
  out.all_parents_must_succeed = n.all_parents_must_succeed ? 1 : 0;
  out.timeout = Number(n.timeout) || 0;
  out.top = Math.round(Number(n.top) || 0);
  out.left = Math.round(Number(n.left) || 0);
  return out;
}

/** what changed in a saved node since it was last saved */
function changed(n) {
  const now = pick(n);
  const out = {};
  for (const name of NODE_FIELDS) if (now[name] !== n.saved[name]) out[name] = now[name];
  return out;
}

/** a stored result (a list of codes) as the one code the select shows */
function resultCode(result) {
  return { success: "successful", failure: "failed", always: "any" }[resultClass(result)];
}

function plural(n, word) {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

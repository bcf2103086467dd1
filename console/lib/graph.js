// A workflow graph drawn as SVG: the designer (pages/workflow_designer.js) and the run view
// (pages/workflow_job.js) draw the same boxes and lines, so a run looks like the graph it came from.
//
// Nodes keep their canvas position in the API's own fields (`left`, `top`, spec §4.6); a graph whose
// stored positions say nothing (every node at the same spot, as nodes made through the API or the
// CLI are) is laid out by the API's `levels` instead: one column per level, left to right.

import { s } from "./dom.js";

export const NODE_W = 180;
export const NODE_H = 56;
const PAD = 30;
const COL = 250; // level spacing of the automatic layout
const ROW = 90;

/** a line's stored result codes as the class of its colour: success, failure or always */
export function resultClass(result) {
  const codes = Array.isArray(result) ? result : String(result || "").split(",").filter(Boolean);
  if (!codes.length || codes.includes("any") || (codes.includes("successful") && codes.includes("failed"))) return "always";
  return codes.includes("failed") ? "failure" : "success";
}

export const RESULT_TEXT = { success: "on success", failure: "on failure", always: "always" };

/** what a node runs, as the API labels it (NODE_TYPE_LABELS in chalicelib/services/workflows/graph.py) */
export const NODE_KINDS = {
  job: "Job template", workflow: "Workflow", project_sync: "Project sync",
  inventory_sync: "Inventory sync", approval: "Approval", "": "Junction",
};

export function kindLabel(node) {
  if (node.is_start_node) return "Start node";
  return NODE_KINDS[node.type || ""] || node.type;
}

/**
 * {id: {x, y}} for every node: the stored `left`/`top` when they tell the nodes apart, else the
 * automatic layout by levels (node ids by longest path from a root, as the API answers them).
 */
export function positions(nodes, levels) {
  const seen = new Set();
  let distinct = true;
  for (const n of nodes) {
    const key = `${n.left || 0},${n.top || 0}`;
    if (seen.has(key)) distinct = false;
    seen.add(key);
  }
  const out = {};
  if (distinct && nodes.length) {
    for (const n of nodes) out[n.id] = { x: Number(n.left) || 0, y: Number(n.top) || 0 };
    return out;
  }
  const columns = (levels || []).map((ids) => ids.filter((id) => nodes.some((n) => n.id === id)));
  const rest = nodes.filter((n) => !columns.some((ids) => ids.includes(n.id))).map((n) => n.id);
  if (rest.length) columns.push(rest);
  columns.forEach((ids, level) => ids.forEach((id, row) => {
    out[id] = { x: PAD + level * COL, y: PAD + row * ROW };
  }));
  return out;
}

const LOOP = 50; // how far below its boxes a line back (leading leftwards) runs

/** whether a line leads back (its target is not right of its source): it is drawn underneath */
function backwards(a, b) {
  return b.x < a.x + NODE_W + 20;
}

/** the path of a line from the right of one box to the left of another, or for a line back,
 *  from the bottom of one under both boxes to the bottom of the other */
export function linePath(a, b) {
  if (backwards(a, b)) {
    const xa = a.x + NODE_W / 2;
    const xb = b.x + NODE_W / 2;
    const low = Math.max(a.y, b.y) + NODE_H + LOOP;
    return `M${xa},${a.y + NODE_H} C${xa},${low} ${xb},${low} ${xb},${b.y + NODE_H}`;
  }
  const x1 = a.x + NODE_W;
  const y1 = a.y + NODE_H / 2;
  const x2 = b.x;
  const y2 = b.y + NODE_H / 2;
  const bend = Math.max(40, Math.abs(x2 - x1) / 2);
  return `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}`;
}

function clip(text, most = 24) {
  const value = String(text ?? "");
  return value.length > most ? value.slice(0, most - 1) + "…" : value;
}

/**
 * The drawing of one graph in an <svg class="graph">. `draw(model)` redraws it all; `move(id, x, y)`
 * moves one box and its lines (for dragging, without replacing the element being dragged).
 *
 * model = {nodes: [{id, label, sub, x, y, state, classes: [], title}], lines: [{id, from, to, result,
 *          classes: [], title}], selected: {kind: "node"|"line", id}}
 * options = {label: "aria label", onNode(id, event) (click, Enter, Space), clicks: false (Enter and Space only),
 *            onKey(id, event) (other keys on a node), onLine(id, event), selectable: true (aria-pressed)}
 */
export class GraphView {
  constructor(options = {}) {
    this.options = options;
    this.svg = s("svg", { class: "graph", role: "group", "aria-label": options.label || "Workflow graph" });
    this.svg.append(defs());
    this.edges = s("g", { class: "edges" });
    this.boxes = s("g", { class: "nodes" });
    this.svg.append(this.edges, this.boxes);
    this.model = { nodes: [], lines: [] };
  }

  /** draw the model, updating the boxes and lines already drawn in place (a focused node keeps
   *  its focus, and a test's element stays the same while a live view polls) */
  draw(model) {
    this.model = model;
    const at = {};
    for (const n of model.nodes) at[n.id] = n;
    const lines = model.lines.filter((li) => at[li.from] && at[li.to]);
    reconcile(this.edges, "line", lines, (li) => this.edge(li), (g, li) => this.updateEdge(g, li, at));
    reconcile(this.boxes, "node", model.nodes, (n) => this.box(n), (g, n) => this.updateBox(g, n));
    this.fit();
  }

  box(n) {
    const g = s("g", { "data-node": n.id, tabindex: "0", role: "button" },
      s("title"), s("rect", { width: NODE_W, height: NODE_H, rx: 6 }),
      s("text", { x: 12, y: 23, class: "label" }), s("text", { x: 12, y: 42, class: "sub" }),
      s("text", { x: NODE_W - 14, y: 20, class: "mark", "text-anchor": "middle" }));
    const handler = this.options.onNode;
    if (handler) {
      // the designer handles pointers itself (a press selects and starts a drag): clicks: false
      if (this.options.clicks !== false) g.addEventListener("click", (event) => handler(n.id, event));
      g.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          handler(n.id, event);
        } else if (this.options.onKey) {
          this.options.onKey(n.id, event);
        }
      });
    }
    return g;
  }

  updateBox(g, n) {
    const selected = Boolean(this.model.selected && this.model.selected.kind === "node" && this.model.selected.id === n.id);
    g.setAttribute("class", ["node", ...(n.classes || []), selected ? "selected" : null].filter(Boolean).join(" "));
    g.setAttribute("data-state", n.state || "none");
    g.setAttribute("transform", `translate(${n.x},${n.y})`);
    g.setAttribute("aria-label", [n.label, n.sub, n.title].filter(Boolean).join(", "));
    if (this.options.selectable) g.setAttribute("aria-pressed", String(selected));
    const [title, , label, sub, mark] = g.children;
    title.textContent = [n.label, n.sub, n.title].filter(Boolean).join("\n");
    label.textContent = clip(n.label);
    sub.textContent = clip(n.sub, 28);
    mark.textContent = n.mark || "";
  }

  edge(li) {
    const g = s("g", { "data-line": li.id, tabindex: this.options.onLine ? "0" : null, role: this.options.onLine ? "button" : null },
      s("title"), s("path", { class: "hit" }), s("path"));
    if (this.options.onLine) {
      g.addEventListener("click", (event) => this.options.onLine(li.id, event));
      g.addEventListener("keydown", (event) => {
        if (event.key === "Enter" || event.key === " ") {
          event.preventDefault();
          this.options.onLine(li.id, event);
        }
      });
    }
    return g;
  }

  updateEdge(g, li, at) {
    const result = resultClass(li.result);
    const selected = this.model.selected && this.model.selected.kind === "line" && this.model.selected.id === li.id;
    const d = linePath(at[li.from], at[li.to]);
    const text = `${at[li.from].label} → ${at[li.to].label}: ${RESULT_TEXT[result]}${li.title ? ", " + li.title : ""}`;
    g.setAttribute("class", ["edge", result, ...(li.classes || []), selected ? "selected" : null].filter(Boolean).join(" "));
    for (const [name, value] of [["data-from", li.from], ["data-to", li.to], ["data-result", result], ["aria-label", text]]) {
      g.setAttribute(name, String(value));
    }
    const [title, hit, line] = g.children;
    title.textContent = text;
    hit.setAttribute("d", d);
    line.setAttribute("d", d);
    line.setAttribute("class", `line ${result}`);
    line.setAttribute("marker-end", `url(#arrow-${result})`);
  }

  /** move one box and redraw the lines at its ends (while dragging) */
  move(id, x, y) {
    const n = this.model.nodes.find((m) => m.id === id);
    if (!n) return;
    n.x = x;
    n.y = y;
    const g = this.boxes.querySelector(`[data-node="${CSS.escape(String(id))}"]`);
    if (g) g.setAttribute("transform", `translate(${x},${y})`);
    const at = {};
    for (const m of this.model.nodes) at[m.id] = m;
    for (const li of this.model.lines) {
      if (li.from !== id && li.to !== id) continue;
      const edge = this.edges.querySelector(`[data-line="${CSS.escape(String(li.id))}"]`);
      if (!edge || !at[li.from] || !at[li.to]) continue;
      for (const path of edge.querySelectorAll("path")) path.setAttribute("d", linePath(at[li.from], at[li.to]));
    }
  }

  /** the view box around every node, never smaller than the area a new graph needs */
  fit() {
    const xs = this.model.nodes.map((n) => n.x);
    const ys = this.model.nodes.map((n) => n.y);
    const minX = Math.min(0, ...xs) - PAD / 2;
    const minY = Math.min(0, ...ys) - PAD / 2;
    const maxX = Math.max(760, ...xs.map((x) => x + NODE_W + PAD));
    const at = {};
    for (const n of this.model.nodes) at[n.id] = n;
    const loops = this.model.lines.filter((li) => at[li.from] && at[li.to] && backwards(at[li.from], at[li.to]))
      .map((li) => Math.max(at[li.from].y, at[li.to].y) + NODE_H + LOOP * 0.8 + PAD / 2);
    const maxY = Math.max(300, ...ys.map((y) => y + NODE_H + PAD), ...loops);
    const width = maxX - minX;
    this.svg.setAttribute("viewBox", `${minX} ${minY} ${width} ${maxY - minY}`);
    this.svg.setAttribute("preserveAspectRatio", "xMinYMin meet");
    // at phone width (style.css) the drawing scrolls sideways rather than shrink its text below reading size
    this.svg.style.setProperty("--graph-min-width", `${Math.round(width * 0.8)}px`);
  }

  /** a pointer event's position in the drawing's coordinates */
  point(event) {
    const matrix = this.svg.getScreenCTM();
    if (!matrix) return { x: event.clientX, y: event.clientY };
    const p = new DOMPoint(event.clientX, event.clientY).matrixTransform(matrix.inverse());
    return { x: p.x, y: p.y };
  }
}

/** make `parent`'s children the drawings of `items` (by `data-<kind>` = item id), in order:
 *  an item drawn before keeps its element, updated; one no longer there goes */
function reconcile(parent, kind, items, create, update) {
  const old = new Map([...parent.children].map((el) => [el.getAttribute(`data-${kind}`), el]));
  const next = items.map((item) => {
    const key = String(item.id);
    const el = old.get(key) || create(item);
    old.delete(key);
    update(el, item);
    return el;
  });
  for (const el of old.values()) el.remove();
  next.forEach((el, i) => {
    if (parent.children[i] !== el) parent.insertBefore(el, parent.children[i] || null);
  });
}

function defs() {
  return s("defs", {}, ...["success", "failure", "always"].map((name) => s("marker", {
    id: `arrow-${name}`, class: `arrow ${name}`, viewBox: "0 0 10 10", refX: "9", refY: "5",
    markerWidth: "7", markerHeight: "7", orient: "auto-start-reverse",
  }, s("path", { d: "M0,0 L10,5 L0,10 z" }))));
}

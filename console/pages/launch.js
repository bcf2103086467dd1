// Launch a template (#/templates/:id/launch): the run overrides POST /api/template/template/run/
// accepts, prefilled with the template's own values; only what the user changed is sent (a
// workflow run with overrides of its own stops using what the template's editor vouched for, so
// an untouched field must not count as one). Success opens the new job's page; a 400 marks the
// field it names.

import { ApiError, get, listAll, post } from "../lib/api.js";
import { fill, h, problem, spinner } from "../lib/dom.js";
import { go, href } from "../lib/router.js";

const VERBOSITY = [[0, "0 · Normal"], [1, "1 · Verbose"], [2, "2 · More verbose"], [3, "3 · Debug"], [4, "4 · Connection debug"]];
const JOB_TYPES = [["run", "Run"], ["check", "Check (dry run)"]];

export async function render(ctx) {
  const template = await get(`/api/template/template/${ctx.params.id}/`);
  if (ctx.gone) return;
  const workflow = template.template_type === "workflow";
  document.title = `Launch ${template.name} · OpsGrat`;
  const formEl = h("div.card");
  fill(ctx.el,
    h("nav.crumbs", h("a", { href: href("/r/template") }, "Templates"), " / ",
      h("a", { href: href(`/r/template/${template.id}`) }, template.name)),
    h("div.toolbar", h("h1#launch-title", `Launch ${template.name}`)),
    h("dl.facts.launch-facts.card",
      workflow
        ? [h("dt", "Type"), h("dd", "Workflow")]
        : [h("dt", "Project"), h("dd", template.project_name || "(none)"), h("dt", "Playbook"), h("dd", h("code", template.playbook || "(none)"))],
      h("dt", "Inventory"), h("dd", template.inventory_name || "(none)")),
    formEl);
  fill(formEl, spinner("Loading the form…"));
  const fields = workflow ? await workflowFields(template) : jobFields(template);
  if (ctx.gone) return;
  buildLaunchForm(ctx, formEl, template, fields);
}

/** {name, label, input, hint, original}: `original` is what leaving it alone means (not sent) */
function field(name, label, input, original, hint) {
  return { name, label, input, original, hint };
}

function textInput(name, value) {
  return h("input", { name, value: value ?? "", autocomplete: "off" });
}

function select(name, options, value) {
  return h("select", { name }, options.map(([v, text]) => h("option", { value: String(v), selected: String(v) === String(value) }, text)));
}

function textarea(name, rows, placeholder) {
  return h("textarea", { name, rows, placeholder, spellcheck: "false" });
}

function variablesField(template) {
  return field("variables", "Extra variables", textarea("variables", 6, "key: value"), "",
    template.variables
      ? h("span.hint", " YAML or JSON; merged over the template's:", h("pre.template-vars", template.variables))
      : h("span.hint", " YAML or JSON mapping."));
}

function inventoryStrField() {
  return field("inventory_str", "Hosts instead of the inventory", textarea("inventory_str", 3, "one host per line"), "",
    h("span.hint", " optional: these hosts replace the inventory for this run."));
}

function jobFields(t) {
  return [
    variablesField(t),
    field("limit", "Limit", textInput("limit", t.limit), t.limit || "", h("span.hint", " ansible --limit")),
    field("tags", "Tags", textInput("tags", t.tags), t.tags || "", h("span.hint", " ansible --tags")),
    field("skip_tags", "Skip tags", textInput("skip_tags", t.skip_tags), t.skip_tags || "", h("span.hint", " ansible --skip-tags")),
    field("job_type", "Job type", select("job_type", JOB_TYPES, t.job_type || "run"), t.job_type || "run"),
    field("verbosity", "Verbosity", select("verbosity", VERBOSITY, t.verbosity || 0), String(t.verbosity || 0)),
    inventoryStrField(),
  ];
}

async function workflowFields(t) {
  const [inventories, graph] = await Promise.all([
    listAll("/api/project/inventory/", {}, 500).catch(() => []),
    get(`/api/template/template/${t.id}/workflow/`).catch(() => ({ nodes: [] })),
  ]);
  const nodes = (graph.nodes || []).filter((n) => !n.is_start_node);
  return [
    variablesField(t),
    field("inventory", "Inventory (every node)", select("inventory",
      [["", "(the template's)"], ...inventories.map((i) => [i.id, `${i.name} (#${i.id})`])], t.inventory ?? ""), String(t.inventory ?? "")),
    field("limit", "Limit (every node)", textInput("limit", t.limit), t.limit || ""),
    inventoryStrField(),
    field("node", "Start at", select("node", [["", "(the start)"], ...nodes.map((n) => [n.id, `${n.name || n.type} (#${n.id})`])], ""), "",
      h("span.hint", " run from this node on.")),
  ];
}

function buildLaunchForm(ctx, el, template, fields) {
  const labels = {};
  for (const f of fields) {
    f.input.setAttribute("aria-describedby", `err-${f.name}`);
    labels[f.name] = h("label", { "data-field": f.name }, f.label, f.hint || null, f.input,
      h("span.field-error", { id: `err-${f.name}` }));
  }
  const status = h("div.form-status", { "aria-live": "polite" });
  const button = h("button.primary#launch-submit", { type: "submit" },
    template.template_type === "workflow" ? "Launch workflow" : "Launch");
  const form = h("form#launch.form.launch-form", { "data-template": template.id, "aria-labelledby": "launch-title" },
    h("div.form-grid", fields.map((f) => labels[f.name])), status, h("div.toolbar", button));

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const label of Object.values(labels)) {
      label.classList.remove("invalid");
      label.querySelector(".field-error").textContent = "";
    }
    const body = { id: template.id };
    for (const f of fields) {
      const raw = f.input.value;
      if (raw === f.original) continue;
      if (f.name === "verbosity") body.verbosity = Number(raw);
      else if (f.name === "inventory" || f.name === "node") body[f.name] = raw === "" ? null : Number(raw);
      else body[f.name] = raw;
    }
    button.disabled = true;
    fill(status, spinner("Launching…"));
    try {
      const job = await post("/api/template/template/run/", body);
      if (ctx.gone) return;
      go(`/jobs/${job.id}`);
    } catch (error) {
      if (ctx.gone) return;
      button.disabled = false;
      const named = error instanceof ApiError ? error.fields : {};
      let focused = false;
      for (const [name, message] of Object.entries(named)) {
        const label = labels[name];
        if (!label) continue;
        label.classList.add("invalid");
        label.querySelector(".field-error").textContent = message;
        if (!focused) label.querySelector("input, select, textarea").focus();
        focused = true;
      }
      fill(status, problem(error));
    }
  });
  fill(el, form);
}

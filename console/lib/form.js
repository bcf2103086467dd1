// One form for every family, built from its input schema: text, numbers, choices, references
// (a select of the records the user may see), secrets (write-only), and YAML/JSON text areas.
// A create POSTs every field; an edit PATCHes only what changed. A 400 marks the field it names.

import { ApiError, listAll } from "./api.js";
import { fill, h, problem, spinner } from "./dom.js";
import { titleOf } from "./listview.js";

export const ENCRYPTED = "$encrypted$";
const LONG_TEXT = /variables|script|template|headers|body|private_key|arguments|params|description|header|target_list/;

function kinds(prop) {
  return [].concat(prop.type || "string").filter((t) => t !== "null");
}

/** a choice list's labels: 0/1 flags read as No/Yes */
function choiceLabel(value, prop) {
  if (JSON.stringify(prop.enum) === "[0,1]") return value === 1 ? "Yes" : "No";
  return value === "" ? "(none)" : String(value);
}

async function referenceOptions(families, familyName) {
  const target = families[familyName];
  if (!target) return [];
  const rows = await listAll(target.path, {}, 500);
  return rows.map((rec) => ({ value: rec.id, label: `${target.label(rec)} (#${rec.id})` }));
}

/**
 * buildForm(el, {fam, families, record, fixed, onSaved, save}):
 * `record` is the record to edit (undefined: create); `fixed` are fields set by the page (a
 * host's inventory in the inventory's tab), shown read-only. `save(body)` writes and returns the
 * saved record (the caller chooses POST or PATCH).
 */
export async function buildForm(el, { fam, families, record, fixed = {}, save, onSaved, submitLabel }) {
  fill(el, spinner("Loading the form…"));
  const props = fam.input.properties || {};
  const required = new Set(fam.input.required || []);
  const fieldsEl = h("div.form-grid");
  const inputs = {};
  const labels = {};
  for (const [name, prop] of Object.entries(props)) {
    if (prop.readOnly) continue;
    const current = record ? record[name] : prop.default;
    const secret = fam.secrets.includes(name) || prop.writeOnly;
    const types = kinds(prop);
    let input;
    const refFamily = fam.refs[name];
    if (refFamily) {
      input = h("select", { name });
      input.append(h("option", { value: "" }, required.has(name) ? "Choose…" : "(none)"));
      for (const option of await referenceOptions(families, refFamily)) {
        input.append(h("option", { value: option.value, selected: current === option.value }, option.label));
      }
    } else if (prop.enum) {
      input = h("select", { name });
      // no value and no default in the schema (a new record): the server's default unless one is
      // chosen; preselecting the first choice would send it (a new host's status 0 = disabled)
      if (current === undefined) input.append(h("option", { value: "", selected: true }, "(default)"));
      for (const value of prop.enum) {
        input.append(h("option", { value: JSON.stringify(value), selected: current === value }, choiceLabel(value, prop)));
      }
    } else if (types.includes("boolean")) {
      input = h("input", { type: "checkbox", name, checked: Boolean(current) });
    } else if (types.includes("integer") || types.includes("number")) {
      input = h("input", { type: "number", name, value: current ?? "", min: prop.minimum, max: prop.maximum, step: types.includes("integer") ? 1 : "any" });
    } else if (secret) {
      input = h("input", { type: "password", name, autocomplete: "new-password",
        placeholder: record && current === ENCRYPTED ? "stored; type to replace" : "" });
    } else if (LONG_TEXT.test(name) || (prop.maxLength || 0) > 4096) {
      input = h("textarea", { name, rows: name === "description" ? 2 : 6, value: current ?? "" });
      input.value = current ?? "";
    } else {
      input = h("input", { name, value: current ?? "", maxlength: prop.maxLength });
    }
    if (name in fixed) {
      input.value = typeof fixed[name] === "string" ? fixed[name] : JSON.stringify(fixed[name]);
      if (input.tagName === "SELECT" && ![...input.options].some((o) => o.value === String(fixed[name]))) {
        input.append(h("option", { value: fixed[name], selected: true }, `#${fixed[name]}`));
      }
      input.value = String(fixed[name]);
      input.disabled = true;
    }
    inputs[name] = { input, prop, secret, original: current };
    const message = h("span.field-error", { id: `err-${name}` });
    input.setAttribute("aria-describedby", `err-${name}`);
    const hint = prop.description ? h("span.hint", prop.description) : null;
    labels[name] = input.type === "checkbox"
      ? h("label.check", { "data-field": name }, input, titleOf(name), hint, message)
      : h("label", { "data-field": name }, titleOf(name), required.has(name) ? " *" : "", input, hint, message);
    fieldsEl.append(labels[name]);
  }
  const error = h("div.form-status", { "aria-live": "polite" });
  const button = h("button.primary", { type: "submit" }, submitLabel || (record ? "Save" : "Create"));
  const form = h("form.form", { "data-family": fam.name }, fieldsEl, error, h("div.toolbar", button));

  function value(name) {
    const { input, prop } = inputs[name];
    if (input.type === "checkbox") return input.checked;
    const raw = input.value;
    if (fam.refs[name]) return raw === "" ? null : Number(raw);
    if (prop.enum) return raw === "" ? undefined : JSON.parse(raw);
    const types = kinds(prop);
    if ((types.includes("integer") || types.includes("number")) && !types.includes("string")) {
      return raw === "" ? ([].concat(prop.type).includes("null") ? null : 0) : Number(raw);
    }
    return raw;
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    for (const label of Object.values(labels)) {
      label.classList.remove("invalid");
      label.querySelector(".field-error").textContent = "";
    }
    const body = {};
    for (const name of Object.keys(inputs)) {
      const { secret, original } = inputs[name];
      const v = name in fixed ? fixed[name] : value(name);
      if (v === undefined) continue; // a choice left at "(default)"
      if (secret && v === "") continue; // write-only: empty keeps what is stored
      if (record && !secret && JSON.stringify(v) === JSON.stringify(original ?? (typeof v === "string" ? "" : original))) continue;
      body[name] = v;
    }
    button.disabled = true;
    fill(error, spinner("Saving…"));
    try {
      const saved = await save(body);
      fill(error);
      if (onSaved) await onSaved(saved);
    } catch (e) {
      const fields = e instanceof ApiError ? e.fields : {};
      let shown = false;
      for (const [name, message] of Object.entries(fields)) {
        if (labels[name]) {
          labels[name].classList.add("invalid");
          labels[name].querySelector(".field-error").textContent = message;
          if (!shown) inputs[name].input.focus();
          shown = true;
        }
      }
      fill(error, problem(e));
    } finally {
      button.disabled = false;
    }
  });
  fill(el, form);
  return form;
}

// The families the API serves, read from /api/openapi.json: their paths, fields and the
// `x-opsgrat` facts (natural key, references, secrets). Generic pages are built from these, so a
// new family needs a menu entry, not a new page.

import { get } from "./api.js";

let cached;

export class Family {
  constructor(name, path, schema, inputSchema, listParams, doc) {
    this.name = name;
    this.path = path; // "/api/project/inventory/"
    this.schema = schema; // the record's JSON schema
    this.input = inputSchema || { properties: {} }; // what a create accepts
    this.facts = schema["x-opsgrat"] || {};
    this.listParams = listParams || [];
    this.doc = doc;
  }

  /** "Host source", "Inventory user permission" (grant.inventory.user) */
  get title() {
    if (this.schema.title) return this.schema.title;
    const grant = /^grant\.(.+)\.(user|team)$/.exec(this.name);
    const text = grant ? `${grant[1]} ${grant[2]} permission` : this.name;
    return text.replace(/_/g, " ").replace(/^./, (x) => x.toUpperCase());
  }

  get refs() {
    return this.facts.refs || {};
  }

  get secrets() {
    return this.facts.secrets || [];
  }

  get writable() {
    return !this.facts.read_only;
  }

  /** names accepted as query filters of the list (beyond paging, search and ordering) */
  get filters() {
    return this.listParams.map((p) => p.name).filter((n) => !["offset", "limit", "search", "ordering", "pk"].includes(n));
  }

  get searchable() {
    return this.listParams.some((p) => p.name === "search");
  }

  /** the ordering parameter's allowed values, from its description or enum */
  get orderings() {
    const p = this.listParams.find((x) => x.name === "ordering");
    return p && p.schema && p.schema.enum ? p.schema.enum : [];
  }

  item(id) {
    return `${this.path}${id}/`;
  }

  /** how a person names a record: its natural key's values, else "#id" */
  label(rec) {
    if (!rec) return "";
    for (const key of ["name", "hostname", "username", "tag", "title"]) if (rec[key]) return String(rec[key]);
    return `#${rec.id}`;
  }
}

function resolve(doc, schema) {
  if (schema && schema.$ref) return resolve(doc, doc.components.schemas[schema.$ref.split("/").pop()]);
  return schema;
}

/** {familyName: Family} */
export async function families() {
  if (cached) return cached;
  const doc = await get("/api/openapi.json");
  const out = {};
  for (const [path, ops] of Object.entries(doc.paths)) {
    const list = ops.get;
    if (!list || path.includes("{")) continue;
    const ok = list.responses && list.responses["200"];
    const body = ok && ok.content && ok.content["application/json"] && resolve(doc, ok.content["application/json"].schema);
    const results = body && body.properties && body.properties.results;
    const record = results && resolve(doc, results.items);
    if (!record || !record["x-opsgrat"]) continue;
    const name = record["x-opsgrat"].family;
    if (out[name]) continue;
    const create = ops.post && ops.post.requestBody && ops.post.requestBody.content;
    const input = create && resolve(doc, (create["application/json"] || Object.values(create)[0]).schema);
    out[name] = new Family(name, path.endsWith("/") ? path : path + "/", record, input, list.parameters, doc);
  }
  cached = out;
  return out;
}

/** one family, or an Error naming it */
export async function family(name) {
  const all = await families();
  if (!all[name]) throw new Error(`This server has no "${name}" collection.`);
  return all[name];
}

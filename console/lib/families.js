// What the generic pages need to know per family beyond the OpenAPI document: a title, the
// columns of its list, the pages of records it owns (tabs), and its own actions. Declarations
// only: the list and form pages (pages/resource_list.js, pages/resource_form.js) do the work.

import { post } from "./api.js";
import { go } from "./router.js";

/** grant tabs of a protected family: its user and team grants, by the families' own names */
const grants = (family) => [
  { title: "User permissions", family: `grant.${family}.user`, by: "data" },
  { title: "Team permissions", family: `grant.${family}.team`, by: "data" },
];

const STATE = { badge: true };

export const FAMILIES = {
  template: {
    title: "Templates",
    columns: ["name", "template_type", "project_name", "inventory_name", "playbook"],
    tabs: [
      { title: "Jobs", family: "job", by: "template" },
      { title: "Schedules", family: "schedule", by: "template" },
      { title: "Notifications", family: "template_notification", by: "template" },
      ...grants("template"),
    ],
    actions: (rec) => [
      { label: rec.template_type === "workflow" ? "Launch workflow" : "Launch", primary: true,
        run: () => go(`/templates/${rec.id}/launch`) },
      rec.template_type === "workflow" && { label: "Workflow designer", run: () => go(`/templates/${rec.id}/workflow`) },
    ],
  },
  job: {
    title: "Jobs",
    columns: ["template_name", "kind_name", { name: "state", ...STATE }, "user_name", "created", "elapsed"],
    detail: (id) => `/jobs/${id}`,
    live: true, // the list refreshes while it shows
    filters: ["state", "template"],
    creatable: false,
  },
  schedule: {
    title: "Schedules",
    columns: ["name", "template_name", "type_name", "enabled_name", "next_time", "last_result"],
    actions: (rec) => [{ label: "Preview next runs", run: () => go(`/schedules/${rec.id}/preview`) }],
    tabs: grants("schedule").map((g) => ({ ...g })),
  },
  project: {
    title: "Projects",
    columns: ["name", "project_type_name", "repository_url", "revision", "last_sync_time"],
    tabs: [
      { title: "Playbooks", render: "playbooks" },
      ...grants("project"),
    ],
    actions: (rec) => [{ label: "Sync", primary: true, run: async () => {
      const job = await post(`/api/project/project/${rec.id}/sync/`);
      go(`/jobs/${job.id}`);
    } }],
  },
  inventory: {
    title: "Inventories",
    columns: ["name", "description"],
    tabs: [
      { title: "Hosts", family: "host", by: "inventory" },
      { title: "Groups", family: "group", by: "inventory" },
      { title: "Host sources", family: "host_source", by: "inventory" },
      ...grants("inventory"),
    ],
  },
  host: { title: "Hosts", columns: ["hostname", "inventory_name", "description", "status_name"] },
  group: {
    title: "Groups", columns: ["name", "inventory_name", "description"],
    tabs: [
      { title: "Hosts", family: "group_host", by: "group" },
      { title: "Child groups", family: "group_children", by: "group" },
    ],
  },
  host_source: {
    title: "Host sources", columns: ["name", "source_type", "inventory_name", { name: "state", ...STATE }],
    actions: (rec) => [{ label: "Sync", primary: true, run: async () => {
      const job = await post(`/api/project/host/source/${rec.id}/sync/`);
      go(`/jobs/${job.id}`);
    } }],
  },
  credential: { title: "Credentials", columns: ["name", "type", "user_name", "description"], tabs: grants("credential") },
  execution_environment: { title: "Execution environments", columns: ["name", "image", "description"], tabs: grants("execution_environment") },
  notification: {
    title: "Notifications", columns: ["name", "channel_type_name", "channel_name", "description"], tabs: grants("notification"),
    actions: (rec) => [{ label: "Send a test", run: async () => {
      await post(`/api/notification/notification/${rec.id}/test/`);
      return "A test message was sent.";
    } }],
  },
  user: { title: "Users", columns: ["username", "last_name", "email", "superuser", "active"] },
  team: { title: "Teams", columns: ["name", "description"], tabs: [{ title: "Members", family: "team_member", by: "team" }] },
  job_settings: { title: "Job settings" },
  environment_variable: { title: "Environment variables", columns: ["name", "value", "remark"] },
  module: { title: "Modules", columns: ["name", "comment", "weight"] },
  tag: { title: "Tags", columns: ["tag", "comment", "weight"] },
};

/** the declaration of a family, with defaults */
export function declared(name) {
  return FAMILIES[name] || {};
}

/** the page of one record */
export function detailPath(family, id) {
  const d = declared(family);
  return d.detail ? d.detail(id) : `/r/${family}/${id}`;
}

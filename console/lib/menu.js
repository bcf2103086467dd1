// The main menu: every family a person manages, grouped as the original console groups them.

export const MENU = [
  { title: "Overview", items: [
    { label: "Dashboard", href: "#/" },
    { label: "Activity", href: "#/activity" },
  ] },
  { title: "Automation", items: [
    { label: "Templates", href: "#/r/template" },
    { label: "Jobs", href: "#/r/job" },
    { label: "Schedules", href: "#/r/schedule" },
  ] },
  { title: "Resources", items: [
    { label: "Projects", href: "#/r/project" },
    { label: "Inventories", href: "#/r/inventory" },
    { label: "Credentials", href: "#/r/credential" },
    { label: "Execution environments", href: "#/r/execution_environment" },
  ] },
  { title: "Notifications", items: [
    { label: "Notifications", href: "#/r/notification" },
    { label: "Email settings", href: "#/r/email_setting" },
    { label: "DingTalk settings", href: "#/r/dingtalk_setting" },
    { label: "WeCom settings", href: "#/r/wecom_setting" },
  ] },
  { title: "Access", items: [
    { label: "Users", href: "#/r/user" },
    { label: "Teams", href: "#/r/team" },
  ] },
  { title: "Settings", items: [
    { label: "Job settings", href: "#/r/job_settings" },
    { label: "Environment variables", href: "#/r/environment_variable" },
    { label: "Modules", href: "#/r/module" },
    { label: "Tags", href: "#/r/tag" },
  ] },
];

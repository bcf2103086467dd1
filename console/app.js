// The console's entry point: the shell (menu, user, login), and the routes to each page.

import { api, ApiError, token, whenUnauthorized } from "./lib/api.js";
import { fill, h, problem, spinner } from "./lib/dom.js";
import { current, go, route } from "./lib/router.js";
import { MENU } from "./lib/menu.js";

// specific pages first: a generic route below would match them too
route("/", () => import("./pages/dashboard.js"));
route("/jobs/:id", () => import("./pages/job.js"));
route("/jobs/:id/workflow", () => import("./pages/workflow_job.js"));
route("/templates/:id/launch", () => import("./pages/launch.js"));
route("/templates/:id/workflow", () => import("./pages/workflow_designer.js"));
route("/schedules/:id/preview", () => import("./pages/schedule_preview.js"));
route("/activity", () => import("./pages/activity.js"));
route("/me", () => import("./pages/me.js"));
route("/r/:family", () => import("./pages/resource_list.js"));
route("/r/:family/new", () => import("./pages/resource_form.js"));
route("/r/:family/:id", () => import("./pages/resource_form.js"));

const root = document.getElementById("app");
let user = null;
let cleanups = [];

whenUnauthorized(() => {
  token.clear();
  user = null;
  renderLogin("Your session has ended; log in again.");
});

function leave() {
  for (const fn of cleanups.splice(0)) {
    try {
      fn();
    } catch (error) {
      console.warn("cleanup failed", error);
    }
  }
}

function renderLogin(message) {
  leave();
  delete root.dataset.user;
  const error = h("div.form-error", { role: "alert" }, message || "");
  const form = h("form#login.card.login", { "aria-label": "Log in" },
    h("h1", "OpsGrat"),
    h("label", "Username", h("input", { name: "username", autocomplete: "username", autofocus: true })),
    h("label", "Password", h("input", { name: "password", type: "password", autocomplete: "current-password" })),
    h("details", h("summary", "Use an API token instead"),
      h("label", "Token", h("input", { name: "token", autocomplete: "off" }))),
    error,
    h("button.primary", { type: "submit" }, "Log in"));
  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const data = new FormData(form);
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    fill(error, spinner("Logging in…"));
    try {
      if (data.get("token")) {
        token.set(String(data.get("token")).trim());
      } else {
        const answer = await api("POST", "/api/auth/token/", {
          body: { username: data.get("username"), password: data.get("password") } });
        token.set(answer.token);
      }
      await start();
    } catch (e) {
      token.clear();
      fill(error, e instanceof ApiError ? e.message : String(e));
      button.disabled = false;
    }
  });
  fill(root, h("main.login-page", form));
}

function shell() {
  const nav = h("nav#menu", { "aria-label": "Main" },
    MENU.map((group) => h("div.menu-group",
      h("div.menu-title", group.title),
      group.items.map((item) => h("a", { href: item.href, "data-route": item.href }, item.label)))));
  const toggle = h("button.menu-toggle", { type: "button", "aria-controls": "menu", "aria-expanded": "false",
    onclick: () => {
      const open = document.body.classList.toggle("menu-open");
      toggle.setAttribute("aria-expanded", String(open));
    } }, "☰", h("span.sr-only", "Menu"));
  const header = h("header.topbar",
    toggle,
    h("a.brand", { href: "#/" }, "OpsGrat"),
    h("span.grow"),
    h("a.user", { href: "#/me", title: "Your account" }, user.username, user.superuser ? " (superuser)" : ""),
    h("button.link", { type: "button", onclick: logout }, "Log out"));
  const main = h("main#page", { tabindex: "-1" });
  fill(root, h("a.skip", { href: "#page", onclick: (e) => { e.preventDefault(); main.focus(); } }, "Skip to content"),
    header, h("div.body", nav, main));
  root.dataset.user = user.username;
  return main;
}

async function logout() {
  token.clear();
  user = null;
  go("/");
  renderLogin();
}

async function render() {
  if (!user) return;
  leave();
  const main = document.getElementById("page") || shell();
  document.body.classList.remove("menu-open");
  const where = current();
  for (const link of document.querySelectorAll("#menu a")) {
    const target = link.getAttribute("href").slice(1).split("?")[0];
    const active = target === "/" ? where.path === "/" : where.path === target || where.path.startsWith(target + "/");
    if (active) link.setAttribute("aria-current", "page");
    else link.removeAttribute("aria-current");
  }
  fill(main, spinner());
  if (!where.route) {
    fill(main, h("h1", "Not found"), h("p", "There is no page at ", h("code", where.path), "."));
    return;
  }
  const visit = {};
  const ctx = {
    params: where.params, query: where.query, user, el: main,
    onCleanup: (fn) => cleanups.push(fn),
    /** true once the user has left this page: a late answer must not draw over the next one */
    get gone() { return ctx._visit !== visit; },
    _visit: visit,
  };
  cleanups.push(() => { ctx._visit = null; });
  try {
    const module = await where.route.loader();
    if (ctx.gone) return;
    await module.render(ctx);
  } catch (error) {
    if (ctx.gone) return;
    console.warn(error);
    fill(main, h("h1", "Something went wrong"), problem(error));
  }
}
async function start() {
  const saved = token.get();
  if (!saved) {
    renderLogin();
    return;
  }
  fill(root, spinner("Connecting…"));
  try {
    user = await api("GET", "/api/auth/me/");
  } catch (error) {
    token.clear();
    renderLogin(error.status === 401 ? "" : error.message);
    return;
  }
  shell();
  await render();
}

window.addEventListener("hashchange", render);
start();

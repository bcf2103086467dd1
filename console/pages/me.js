// The user's own page: who they are, and their API token (the "My Token" of the original console).

import { post, token } from "../lib/api.js";
import { fill, h, problem } from "../lib/dom.js";
import { href } from "../lib/router.js";

export async function render(ctx) {
  document.title = "Your account · OpsGrat";
  const shown = h("code#my-token", "••••••••");
  const status = h("div", { "aria-live": "polite" });
  fill(ctx.el,
    h("h1", "Your account"),
    h("div.card", h("dl.facts",
      h("dt", "Username"), h("dd", ctx.user.username),
      h("dt", "Name"), h("dd", ctx.user.last_name || ""),
      h("dt", "E-mail"), h("dd", ctx.user.email || ""),
      h("dt", "Superuser"), h("dd", ctx.user.superuser ? "yes" : "no"))),
    h("h2", "API token"),
    h("p.hint", "The console uses this token; the opsgrat CLI and scripts can too (Authorization: Token …)."),
    h("div.toolbar", shown,
      h("button", { type: "button", onclick: () => { shown.textContent = token.get(); } }, "Show"),
      h("button.danger", { type: "button", onclick: async () => {
        if (!confirm("Revoke every token of yours and issue a new one? Other sessions and scripts stop working.")) return;
        try {
          const answer = await post("/api/auth/token/regenerate/");
          token.set(answer.token);
          shown.textContent = answer.token;
          fill(status, h("div.notice", "A new token was issued; the old ones no longer work."));
        } catch (error) {
          fill(status, problem(error));
        }
      } }, "Regenerate")),
    status,
    h("p", h("a", { href: href("/activity", { user: ctx.user.username }) }, "Your latest operations")));
}

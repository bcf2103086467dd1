// Tabs that are not a list of another family (a project's playbooks).

import { get } from "../lib/api.js";
import { fill, h, problem, spinner } from "../lib/dom.js";

export const TAB_RENDERERS = {
  async playbooks(panel, project) {
    fill(panel, spinner());
    try {
      const answer = await get(`/api/project/project/${project.id}/playbooks/`);
      const names = Array.isArray(answer) ? answer : answer.playbooks || answer.results || [];
      fill(panel, names.length
        ? h("ul.playbooks", names.map((name) => h("li", h("code", typeof name === "string" ? name : JSON.stringify(name)))))
        : h("div.empty", "No playbooks yet: sync the project."));
    } catch (error) {
      fill(panel, problem(error));
    }
  },
};

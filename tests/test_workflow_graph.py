"""Workflow templates, their nodes and lines (spec §4.1, §4.6–§4.8): the graph is checked when it
changes, so that what is stored can always be compiled and run."""
from __future__ import annotations

import pytest

TEMPLATES, NODES, LINES = "/api/template/template/", "/api/template/workflow/node/", "/api/template/workflow/line/"
TEMPLATE_USERS = "/api/template/template/permission/users/"


def workflow(api, name: str = "flow", **extra) -> dict:
    r = api.post(TEMPLATES, {"name": name, "template_type": "workflow", **extra})
    assert r.status_code == 201, r.body
    return r.data


def start_of(api, wf: dict) -> dict:
    return next(n for n in api.get(f"{NODES}?template={wf['id']}").data["results"] if n["is_start_node"])


def node(api, wf: dict, name: str, **extra) -> dict:
    r = api.post(NODES, {"name": name, "template": wf["id"], **extra})
    assert r.status_code == 201, r.body
    return r.data


def line(api, a: dict, b: dict, result="successful", **extra):
    return api.post(LINES, {"node": a["id"], "next_node": b["id"], "result": result, **extra})


def grant(api, user: dict, template_id: int, permission: str) -> None:
    r = api.post(TEMPLATE_USERS, {"username": user["id"], "data": template_id, "permission": permission})
    assert r.status_code == 201, r.body


@pytest.fixture
def wf(api) -> dict:
    return workflow(api)


# ---------------------------------------------------------------- workflow templates


def test_creating_a_workflow_template_creates_its_start_node(api, wf):
    r = api.get(f"{NODES}?template={wf['id']}")
    assert r.data["count"] == 1
    start = r.data["results"][0]
    assert (start["name"], start["type"], start["is_start_node"], start["top"], start["left"]) == ("Start", "", 1, 0, 0)
    assert start["bind_template"] is None and start["template_name"] == "flow"


def test_a_job_template_has_no_start_node(api, template):
    assert api.get(f"{NODES}?template={template['id']}").data["count"] == 0


def test_a_workflow_with_a_project_is_refused_naming_the_field(api, template):
    r = api.post(TEMPLATES, {"name": "flow", "template_type": "workflow", "project": template["project"]})
    assert r.status_code == 400 and r.data["detail"].startswith("project:")


def test_a_workflow_with_a_playbook_is_refused_naming_the_field(api):
    r = api.post(TEMPLATES, {"name": "flow", "template_type": "workflow", "playbook": "site.yml"})
    assert r.status_code == 400 and r.data["detail"].startswith("playbook:")


def test_a_workflow_takes_an_inventory_limit_and_variables(api, template):
    wf = workflow(api, inventory=template["inventory"], limit="web*", variables="a: 1")
    assert (wf["inventory"], wf["limit"], wf["variables"]) == (template["inventory"], "web*", "a: 1")


def test_a_job_template_still_requires_a_project(api):
    r = api.post(TEMPLATES, {"name": "x", "template_type": "job", "playbook": "site.yml"})
    assert r.status_code == 400 and r.data["detail"].startswith("project:")


def test_template_type_cannot_change_after_creation(api, wf, template):
    r = api.patch(f"{TEMPLATES}{wf['id']}/", {"template_type": "job"})
    assert r.status_code == 400 and r.data["detail"].startswith("template_type:")
    r = api.patch(f"{TEMPLATES}{template['id']}/", {"template_type": "workflow"})
    assert r.status_code == 400 and r.data["detail"].startswith("template_type:")


def test_bind_templates_lists_the_workflows_whose_nodes_bind_a_template(api, wf, template):
    r = api.get(f"{TEMPLATES}{template['id']}/")
    assert (r.data["bind_templates"], r.data["is_bind_templates"]) == ([], "No")
    node(api, wf, "deploy", type="job", bind_template=template["id"])
    other = workflow(api, "other")
    node(api, other, "deploy too", type="job", bind_template=template["id"])
    r = api.get(f"{TEMPLATES}{template['id']}/")
    assert r.data["bind_templates"] == sorted([wf["id"], other["id"]]) and r.data["is_bind_templates"] == "Yes"


# ---------------------------------------------------------------- nodes


def test_a_job_node_shows_its_labels(api, wf, template):
    n = node(api, wf, "deploy", type="job", bind_template=template["id"], use_node_params=1, tags="web", top=10, left=20)
    assert (n["template_name"], n["bind_template_name"], n["type_name"]) == ("flow", "deploy", "Job template")
    assert (n["use_node_params"], n["tags"], n["is_start_node"], n["all_parents_must_succeed"], n["timeout"]) == (1, "web", 0, 0, 0)


def test_a_second_start_node_is_refused(api, wf):
    r = api.post(NODES, {"name": "again", "template": wf["id"], "is_start_node": 1})
    assert r.status_code == 400 and r.data["detail"].startswith("is_start_node:") and '"Start"' in r.data["detail"]


def test_a_node_cannot_become_the_start_node(api, wf):
    n = node(api, wf, "a")
    r = api.patch(f"{NODES}{n['id']}/", {"is_start_node": 1})
    assert r.status_code == 400 and r.data["detail"].startswith("is_start_node:")


def test_the_start_node_runs_nothing(api, wf, template):
    start = start_of(api, wf)
    r = api.patch(f"{NODES}{start['id']}/", {"type": "job", "bind_template": template["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("type:")
    r = api.patch(f"{NODES}{start['id']}/", {"bind_template": template["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("bind_template:")


def test_deleting_the_start_node_is_refused(api, wf):
    start = start_of(api, wf)
    r = api.delete(f"{NODES}{start['id']}/")
    assert r.status_code == 400 and "start node" in r.data["detail"] and '"Start"' in r.data["detail"]
    r = api.delete(NODES, {"pk": str(start["id"])})
    assert r.status_code == 400 and r.data["detail"].startswith("pk:")
    assert api.get(f"{NODES}{start['id']}/").status_code == 200


def test_a_node_belongs_to_a_workflow_template(api, template):
    r = api.post(NODES, {"name": "a", "template": template["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("template:") and "job template" in r.data["detail"]


def test_a_node_cannot_move_to_another_workflow(api, wf):
    n = node(api, wf, "a")
    r = api.patch(f"{NODES}{n['id']}/", {"template": workflow(api, "other")["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("template:")


def test_a_job_node_needs_a_bound_template(api, wf):
    r = api.post(NODES, {"name": "a", "template": wf["id"], "type": "job"})
    assert r.status_code == 400 and r.data["detail"].startswith("bind_template:")


def test_a_job_node_cannot_bind_a_workflow_template(api, wf):
    other = workflow(api, "other")
    r = api.post(NODES, {"name": "a", "template": wf["id"], "type": "job", "bind_template": other["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("bind_template:") and "workflow template" in r.data["detail"]


def test_a_workflow_node_cannot_bind_a_job_template(api, wf, template):
    r = api.post(NODES, {"name": "a", "template": wf["id"], "type": "workflow", "bind_template": template["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("bind_template:") and "job template" in r.data["detail"]


def test_a_workflow_node_binds_another_workflow(api, wf):
    inner = workflow(api, "inner")
    n = node(api, wf, "nested", type="workflow", bind_template=inner["id"])
    assert n["bind_template_name"] == "inner" and n["type_name"] == "Workflow"


def test_an_approval_node_binds_nothing(api, wf, template):
    r = api.post(NODES, {"name": "ok?", "template": wf["id"], "type": "approval", "bind_template": template["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("bind_template:")
    assert node(api, wf, "ok?", type="approval", timeout=3600)["timeout"] == 3600


def test_only_approval_nodes_have_a_timeout(api, wf):
    r = api.post(NODES, {"name": "a", "template": wf["id"], "timeout": 60})
    assert r.status_code == 400 and r.data["detail"].startswith("timeout:")


def test_a_project_sync_node_needs_a_project(api, wf, template):
    r = api.post(NODES, {"name": "sync", "template": wf["id"], "type": "project_sync"})
    assert r.status_code == 400 and r.data["detail"].startswith("project:")
    n = node(api, wf, "sync", type="project_sync", project=template["project"])
    assert n["project_name"] == "site"


def test_an_inventory_sync_node_needs_a_host_source(api, wf, template):
    r = api.post(NODES, {"name": "sync", "template": wf["id"], "type": "inventory_sync"})
    assert r.status_code == 400 and r.data["detail"].startswith("host_source:")
    source = api.post("/api/project/host/source/", {"name": "cmdb", "inventory": template["inventory"], "source_type": "script",
                                                     "source_script": "#!/bin/sh\necho '{}'\n"}).data
    n = node(api, wf, "sync", type="inventory_sync", host_source=source["id"])
    assert n["host_source_name"] == "cmdb"


def test_changing_a_nodes_type_drops_what_the_old_type_bound(api, wf, template):
    n = node(api, wf, "a", type="job", bind_template=template["id"])
    r = api.patch(f"{NODES}{n['id']}/", {"type": "approval"})
    assert r.status_code == 200 and r.data["bind_template"] is None


def test_a_workflow_cannot_contain_itself_directly(api, wf):
    r = api.post(NODES, {"name": "me", "template": wf["id"], "type": "workflow", "bind_template": wf["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("bind_template:") and "itself" in r.data["detail"]


def test_a_workflow_cannot_contain_a_workflow_that_contains_it(api):
    outer, inner = workflow(api, "outer"), workflow(api, "inner")
    node(api, outer, "run inner", type="workflow", bind_template=inner["id"])
    r = api.post(NODES, {"name": "run outer", "template": inner["id"], "type": "workflow", "bind_template": outer["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("bind_template:")
    assert "(outer → inner)" in r.data["detail"]


def test_a_workflow_cannot_contain_itself_two_levels_deep(api):
    a, b, c = workflow(api, "a"), workflow(api, "b"), workflow(api, "c")
    node(api, a, "run b", type="workflow", bind_template=b["id"])
    node(api, b, "run c", type="workflow", bind_template=c["id"])
    r = api.post(NODES, {"name": "run a", "template": c["id"], "type": "workflow", "bind_template": a["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("bind_template:")
    assert "(a → b → c)" in r.data["detail"]


def test_deleting_a_job_template_bound_by_a_node_is_refused(api, wf, template):
    n = node(api, wf, "deploy", type="job", bind_template=template["id"])
    r = api.delete(f"{TEMPLATES}{template['id']}/")
    assert r.status_code == 400 and f"workflow_node {n['id']}" in r.data["detail"]
    assert api.get(f"{TEMPLATES}{template['id']}/").status_code == 200


# ---------------------------------------------------------------- lines


def test_a_line_joins_two_nodes_and_carries_their_workflow(api, wf):
    a = node(api, wf, "a")
    r = line(api, start_of(api, wf), a, "any", source_anchor="RightMiddle", target_anchor="LeftMiddle")
    assert r.status_code == 201, r.body
    assert (r.data["template"], r.data["result"], r.data["result_name"]) == (wf["id"], ["any"], "Success or failure")


def test_node_id_is_accepted_for_node(api, wf):
    a, b = node(api, wf, "a"), node(api, wf, "b")
    r = api.post(LINES, {"node_id": a["id"], "next_node": b["id"], "result": "failed"})
    assert r.status_code == 201 and r.data["node"] == a["id"]


@pytest.mark.parametrize("given, stored", [("failed", ["failed"]), (["successful", "failed"], ["failed", "successful"]),
                                           ("successful,failed", ["failed", "successful"]),
                                           (["failed", "failed"], ["failed"])],
                         ids=["one-code", "list", "comma-string", "repeats"])
def test_result_is_one_code_a_list_or_a_comma_string_answered_as_a_sorted_list(api, wf, given, stored):
    r = line(api, node(api, wf, "a"), node(api, wf, "b"), given)
    assert r.status_code == 201, r.body
    assert r.data["result"] == stored
    assert api.get(f"{LINES}{r.data['id']}/").data["result"] == stored


def test_a_form_sends_several_results_as_result_brackets(api, wf):
    a, b = node(api, wf, "a"), node(api, wf, "b")
    r = api.post(LINES, {"node": a["id"], "next_node": b["id"], "result[]": ["successful", "failed"]}, form=True)
    assert r.status_code == 201, r.body
    assert r.data["result"] == ["failed", "successful"]


def test_result_name_joins_the_labels(api, wf):
    r = line(api, node(api, wf, "a"), node(api, wf, "b"), ["successful", "failed"])
    assert r.data["result_name"] == "Failure, Success"


@pytest.mark.parametrize("result", ["", [], "maybe", "successful,maybe", 3, [1]])
def test_a_bad_result_is_refused_naming_the_field(api, wf, result):
    r = line(api, node(api, wf, "a"), node(api, wf, "b"), result)
    assert r.status_code == 400 and r.data["detail"].startswith("result:")


def test_a_cycle_is_refused_naming_it(api, wf):
    a, b, c = node(api, wf, "a"), node(api, wf, "b"), node(api, wf, "c")
    assert line(api, a, b).status_code == 201
    assert line(api, b, c).status_code == 201
    r = line(api, c, a)
    assert r.status_code == 400 and r.data["detail"].startswith("next_node:")
    assert "a → b → c → a" in r.data["detail"]


def test_a_line_across_workflows_is_refused_naming_both_nodes(api, wf):
    a, b = node(api, wf, "a"), node(api, workflow(api, "other"), "b")
    r = line(api, a, b)
    assert r.status_code == 400 and r.data["detail"].startswith("next_node:")
    assert '"a"' in r.data["detail"] and '"b"' in r.data["detail"]


def test_two_nodes_are_connected_only_once(api, wf):
    a, b = node(api, wf, "a"), node(api, wf, "b")
    assert line(api, a, b).status_code == 201
    r = line(api, a, b, "failed")
    assert r.status_code == 400 and r.data["detail"].startswith("next_node:") and "at most once" in r.data["detail"]


def test_a_reverse_connection_is_refused(api, wf):
    a, b = node(api, wf, "a"), node(api, wf, "b")
    assert line(api, a, b).status_code == 201
    r = line(api, b, a)
    assert r.status_code == 400 and r.data["detail"].startswith("next_node:") and "a → b" in r.data["detail"]


def test_no_line_leads_into_the_start_node(api, wf):
    r = line(api, node(api, wf, "a"), start_of(api, wf))
    assert r.status_code == 400 and r.data["detail"].startswith("next_node:") and "start node" in r.data["detail"]


def test_a_node_cannot_lead_to_itself(api, wf):
    a = node(api, wf, "a")
    r = line(api, a, a)
    assert r.status_code == 400 and r.data["detail"].startswith("next_node:") and "itself" in r.data["detail"]


def test_a_line_can_be_saved_again_unchanged(api, wf):
    a, b = node(api, wf, "a"), node(api, wf, "b")
    li = line(api, a, b).data
    r = api.put(f"{LINES}{li['id']}/", {"node": a["id"], "next_node": b["id"], "result": "any"})
    assert r.status_code == 200 and r.data["result"] == ["any"]


def test_deleting_a_node_deletes_the_lines_from_and_into_it(api, wf):
    a, b, c = node(api, wf, "a"), node(api, wf, "b"), node(api, wf, "c")
    line(api, a, b)
    line(api, b, c)
    keep = line(api, a, c).data
    assert api.delete(f"{NODES}{b['id']}/").status_code == 204
    assert [li["id"] for li in api.get(f"{LINES}?template={wf['id']}").data["results"]] == [keep["id"]]


def test_deleting_the_workflow_template_deletes_its_nodes_and_lines(api, wf):
    from chalicelib.services import store

    a, b = node(api, wf, "a"), node(api, wf, "b")
    line(api, start_of(api, wf), a)
    line(api, a, b)
    assert api.delete(f"{TEMPLATES}{wf['id']}/").status_code == 204
    assert store.count("workflow_node") == 0 and store.count("workflow_line") == 0
    assert api.get(f"{NODES}?template={wf['id']}").data["count"] == 0


def test_deleting_a_workflow_bound_in_another_is_refused_and_deletes_nothing(api, wf):
    from chalicelib.services import store

    inner = workflow(api, "inner")
    line(api, start_of(api, inner), node(api, inner, "a"))
    node(api, wf, "nested", type="workflow", bind_template=inner["id"])
    before = store.count("workflow_node"), store.count("workflow_line")
    r = api.delete(f"{TEMPLATES}{inner['id']}/")
    assert r.status_code == 400
    assert (store.count("workflow_node"), store.count("workflow_line")) == before


def test_every_graph_change_tells_the_state_machines(api, wf, monkeypatch):
    from chalicelib.services.workflows import machines

    calls = []
    monkeypatch.setattr(machines, "graph_changed", calls.append)
    a = node(api, wf, "a")
    li = line(api, start_of(api, wf), a).data
    api.patch(f"{NODES}{a['id']}/", {"top": 5})
    api.patch(f"{LINES}{li['id']}/", {"result": "any"})
    api.delete(f"{LINES}{li['id']}/")
    api.delete(f"{NODES}{a['id']}/")
    assert calls == [wf["id"]] * 6


# ---------------------------------------------------------------- permissions


def test_a_reader_of_the_workflow_lists_its_nodes_but_cannot_create_one(api, wf, make_user):
    user, as_user = make_user()
    grant(api, user, wf["id"], "read")
    r = as_user.get(f"{NODES}?template={wf['id']}")
    assert r.status_code == 200 and r.data["count"] == 1
    r = as_user.post(NODES, {"name": "a", "template": wf["id"]})
    assert r.status_code == 403


def test_binding_a_job_template_needs_execute_on_it(api, wf, template, make_user):
    user, as_user = make_user()
    grant(api, user, wf["id"], "write")
    grant(api, user, template["id"], "read")
    body = {"name": "deploy", "template": wf["id"], "type": "job", "bind_template": template["id"]}
    r = as_user.post(NODES, body)
    assert r.status_code == 403 and r.data["detail"].startswith("bind_template:")
    (grant_row,) = api.get(f"{TEMPLATE_USERS}?data={template['id']}&username={user['id']}").data["results"]
    assert api.patch(f"{TEMPLATE_USERS}{grant_row['id']}/", {"permission": "execute"}).status_code == 200
    assert as_user.post(NODES, body).status_code == 201


def test_a_writer_of_the_workflow_cannot_draw_a_line_in_a_workflow_they_only_read(api, make_user):
    user, as_user = make_user()
    mine, theirs = workflow(api, "mine"), workflow(api, "theirs")
    grant(api, user, mine["id"], "write")
    grant(api, user, theirs["id"], "read")
    a, b = node(api, theirs, "a"), node(api, theirs, "b")
    assert as_user.post(LINES, {"node": a["id"], "next_node": b["id"], "result": "any"}).status_code == 403


# ---------------------------------------------------------------- the whole graph


def test_the_workflow_view_shows_nodes_lines_and_levels(api, wf):
    start = start_of(api, wf)
    a, b, c = node(api, wf, "a"), node(api, wf, "b"), node(api, wf, "c")
    for x, y in ((start, a), (start, b), (a, c), (b, c)):
        assert line(api, x, y).status_code == 201
    r = api.get(f"{TEMPLATES}{wf['id']}/workflow/")
    assert r.status_code == 200, r.body
    assert (r.data["template"], r.data["name"]) == (wf["id"], "flow")
    machine = r.data["state_machine"]
    assert machine["name"] == f"opsgrat-wf-{wf['id']}-flow" and machine["deployed"] and machine["states"] == 6
    assert machine["definition"]["StartAt"] == "Start"
    assert [n["name"] for n in r.data["nodes"]] == ["Start", "a", "b", "c"]
    assert len(r.data["lines"]) == 4 and r.data["lines"][0]["result"] == ["successful"]
    assert r.data["levels"] == [[start["id"]], [a["id"], b["id"]], [c["id"]]]


def test_the_workflow_view_of_a_job_template_is_400(api, template):
    r = api.get(f"{TEMPLATES}{template['id']}/workflow/")
    assert r.status_code == 400 and r.data["detail"].startswith("template_type:")


def test_the_workflow_view_needs_read_on_the_template(api, wf, make_user):
    _, as_user = make_user()
    assert as_user.get(f"{TEMPLATES}{wf['id']}/workflow/").status_code == 403


def _machines() -> set[str]:
    import boto3

    return {m["name"] for m in boto3.client("stepfunctions").list_state_machines()["stateMachines"]}


def test_a_graph_change_deploys_the_workflow_s_state_machine(api, wf):
    node(api, wf, "a")
    before = api.get(f"{TEMPLATES}{wf['id']}/workflow/").data["state_machine"]
    assert line(api, start_of(api, wf), node(api, wf, "b")).status_code == 201
    after = api.get(f"{TEMPLATES}{wf['id']}/workflow/").data["state_machine"]
    assert after["deployed"] and after["digest"] != before["digest"] and after["arn"] == before["arn"]


def test_a_renamed_workflow_s_machine_takes_the_new_name(api, wf):
    node(api, wf, "a")
    assert api.patch(f"{TEMPLATES}{wf['id']}/", {"name": "renamed"}).status_code == 200
    assert f"opsgrat-wf-{wf['id']}-renamed" in _machines() and f"opsgrat-wf-{wf['id']}-flow" not in _machines()


def test_deleting_a_workflow_deletes_its_state_machine(api, wf):
    node(api, wf, "a")
    assert f"opsgrat-wf-{wf['id']}-flow" in _machines()
    assert api.delete(f"{TEMPLATES}{wf['id']}/").status_code == 204
    assert not {m for m in _machines() if m.startswith(f"opsgrat-wf-{wf['id']}-")}

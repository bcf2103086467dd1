"""Workflows end to end: graphs of real playbook jobs run by the local stack's Step Functions.

Every test builds its own workflow template through the API (nodes, lines), runs it and reads
`GET /api/job/job/{id}/workflow/`, the run's graph with each node's state and job."""
from __future__ import annotations

import datetime
import os
import secrets
import signal
import time

import pytest

pytestmark = pytest.mark.e2e

PLAYBOOKS = {
    "ok.yml": """- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "ok {{ label | default('') }}"}
""",
    "fail.yml": """- hosts: all
  gather_facts: false
  tasks:
    - fail: {msg: "this node fails"}
      when: should_fail | default(true) | bool
""",
    "sleep.yml": """- hosts: all
  gather_facts: false
  tasks:
    - command: "sleep {{ secs | default(3) }}"
""",
    "half.yml": """- hosts: all
  gather_facts: false
  tasks:
    - fail: {msg: "h2 breaks"}
      when: inventory_hostname == 'h2'
""",
    "stats.yml": """- hosts: all
  gather_facts: false
  tasks:
    - set_stats:
        data: {handed_on: "from-the-first-node"}
""",
    "needs_stats.yml": """- hosts: all
  gather_facts: false
  tasks:
    - assert:
        that: handed_on == "from-the-first-node"
""",
}


@pytest.fixture(scope="module")
def project(stack, tmp_path_factory):
    return stack.synced_project(tmp_path_factory.mktemp("workflows"), PLAYBOOKS, "workflow playbooks")


@pytest.fixture(scope="module")
def inventory(stack):
    return stack.local_inventory("workflow local")


@pytest.fixture(scope="module")
def templates(stack, project, inventory):
    """One job template per playbook, by playbook name (sleep.yml also as sleep60)."""
    out = {}
    for name, playbook, variables in (("ok", "ok.yml", ""), ("fail", "fail.yml", ""), ("sleep", "sleep.yml", ""),
                                      ("sleep60", "sleep.yml", "secs: 60"), ("stats", "stats.yml", ""),
                                      ("needs_stats", "needs_stats.yml", "")):
        r = stack.http("POST", "/api/template/template/", json={
            "name": f"wf-{name}-{secrets.token_hex(3)}", "project": project["id"], "playbook": playbook,
            "inventory": inventory["id"], "variables": variables})
        assert r.status_code == 201, r.text
        out[name] = r.json()["id"]
    return out


class Builder:
    """A workflow template under construction: nodes by name, lines between them."""

    def __init__(self, stack, name: str = ""):
        self.stack = stack
        r = stack.http("POST", "/api/template/template/", json={"name": name or f"wf-{secrets.token_hex(4)}",
                                                                "template_type": "workflow"})
        assert r.status_code == 201, r.text
        self.id = r.json()["id"]
        nodes = stack.http("GET", "/api/template/workflow/node/", params={"template": self.id}).json()["results"]
        assert [n["is_start_node"] for n in nodes] == [1]
        self.nodes = {"start": nodes[0]["id"]}

    def node(self, name: str, template: int | None = None, type: str = "job", **fields) -> "Builder":
        body = {"template": self.id, "name": name, "type": type, "top": 0, "left": 0, **fields}
        if template is not None:
            body["bind_template"] = template
        r = self.stack.http("POST", "/api/template/workflow/node/", json=body)
        assert r.status_code == 201, r.text
        self.nodes[name] = r.json()["id"]
        return self

    def line(self, source: str, target: str, result="successful") -> "Builder":
        r = self.stack.http("POST", "/api/template/workflow/line/", json={
            "node": self.nodes[source], "next_node": self.nodes[target], "result": result,
            "source_anchor": "BottomCenter", "target_anchor": "TopCenter"})
        assert r.status_code == 201, r.text
        return self

    def run(self, **body) -> dict:
        r = self.stack.http("POST", "/api/template/template/run/", json={"id": self.id, **body})
        assert r.status_code == 201, r.text
        return r.json()


def wait(stack, job: dict, timeout: float = 180) -> tuple[dict, dict]:
    """The finished workflow job and its run graph, nodes by name."""
    final = stack.wait_job(job["id"], timeout=timeout)
    view = stack.http("GET", f"/api/job/job/{job['id']}/workflow/").json()
    return final, {n["name"]: n for n in view["nodes"]}


def states(nodes: dict) -> dict:
    return {name: n["state"] for name, n in nodes.items()}


def reasons(nodes: dict) -> dict:
    """For failure messages: each node's state and why."""
    return {name: (n["state"], n["reason"]) for name, n in nodes.items()}


def moment(text: str) -> float:
    return datetime.datetime.fromisoformat(text).timestamp()


def test_a_chain_runs_its_nodes_one_after_another(stack, templates):
    wf = Builder(stack).node("a", templates["ok"]).node("b", templates["ok"]).node("c", templates["ok"])
    wf.line("start", "a").line("a", "b").line("b", "c")
    job, nodes = wait(stack, wf.run())
    assert job["state"] == "successful" and job["kind"] == "workflow", (job["reason"], nodes)
    assert states(nodes) == {"Start": "successful", "a": "successful", "b": "successful", "c": "successful"}
    assert moment(nodes["a"]["finished"]) <= moment(nodes["b"]["started"]) <= moment(nodes["c"]["started"])
    child = stack.http("GET", f"/api/job/job/{nodes['b']['job']}/").json()
    assert (child["job"], child["node"], child["template"]) == (job["id"], wf.nodes["b"], templates["ok"])


def test_a_merge_node_runs_once_after_both_of_its_parents(stack, templates):
    wf = Builder(stack).node("left", templates["ok"]).node("right", templates["sleep"]).node("merge", templates["ok"])
    wf.line("start", "left").line("start", "right").line("left", "merge").line("right", "merge")
    job, nodes = wait(stack, wf.run())
    assert job["state"] == "successful", job
    children = stack.http("GET", "/api/job/job/", params={"template": templates["ok"], "limit": 200}).json()["results"]
    merge_runs = [c for c in children if c["job"] == job["id"] and c["node"] == wf.nodes["merge"]]
    assert len(merge_runs) == 1
    assert moment(nodes["merge"]["started"]) >= max(moment(nodes["left"]["finished"]), moment(nodes["right"]["finished"]))


def test_fan_out_runs_branches_at_the_same_time(stack, templates):
    wf = Builder(stack).node("one", templates["sleep"]).node("two", templates["sleep"])
    wf.line("start", "one").line("start", "two")
    job, nodes = wait(stack, wf.run())
    assert job["state"] == "successful"
    one, two = nodes["one"], nodes["two"]
    assert moment(one["started"]) < moment(two["finished"]) and moment(two["started"]) < moment(one["finished"])


def test_a_failure_takes_the_failure_line_and_skips_the_success_line(stack, templates):
    wf = Builder(stack).node("deploy", templates["fail"]).node("rollback", templates["ok"]).node("announce", templates["ok"])
    wf.line("start", "deploy").line("deploy", "rollback", "failed").line("deploy", "announce", "successful")
    job, nodes = wait(stack, wf.run())
    assert states(nodes) == {"Start": "successful", "deploy": "failed", "rollback": "successful", "announce": "skipped"}
    assert nodes["announce"]["job"] is None
    assert job["state"] == "successful", "a failure with a failure path is handled"
    view = stack.http("GET", f"/api/job/job/{job['id']}/workflow/").json()
    taken = {(line["node"], line["next_node"]): line["taken"] for line in view["lines"]}
    assert taken[(wf.nodes["deploy"], wf.nodes["rollback"])] and not taken[(wf.nodes["deploy"], wf.nodes["announce"])]


def test_a_failure_without_a_failure_line_fails_the_workflow(stack, templates):
    wf = Builder(stack).node("breaks", templates["fail"]).node("after", templates["ok"])
    wf.line("start", "breaks").line("breaks", "after")
    job, nodes = wait(stack, wf.run())
    assert job["state"] == "failed" and "breaks" in job["reason"]
    assert states(nodes)["after"] == "skipped"


def test_an_any_line_runs_whatever_the_parent_did(stack, templates):
    wf = Builder(stack).node("breaks", templates["fail"]).node("cleanup", templates["ok"])
    wf.line("start", "breaks").line("breaks", "cleanup", "any")
    job, nodes = wait(stack, wf.run())
    assert states(nodes)["cleanup"] == "successful"
    assert job["state"] == "successful"


def test_a_line_may_fire_on_several_results(stack, templates):
    wf = Builder(stack).node("breaks", templates["fail"]).node("cleanup", templates["ok"])
    wf.line("start", "breaks").line("breaks", "cleanup", ["successful", "failed"])
    job, nodes = wait(stack, wf.run())
    assert states(nodes)["cleanup"] == "successful"


def test_all_parents_convergence_does_not_run_when_a_parent_fails(stack, templates):
    wf = Builder(stack).node("good", templates["ok"]).node("bad", templates["fail"])
    wf.node("merge", templates["ok"], all_parents_must_succeed=1)
    wf.line("start", "good").line("start", "bad").line("good", "merge").line("bad", "merge")
    job, nodes = wait(stack, wf.run())
    assert states(nodes)["merge"] == "skipped"
    assert job["state"] == "failed"


def test_any_parent_convergence_runs_when_one_parent_succeeds(stack, templates):
    wf = Builder(stack).node("good", templates["ok"]).node("bad", templates["fail"]).node("merge", templates["ok"])
    wf.line("start", "good").line("start", "bad").line("good", "merge").line("bad", "merge")
    job, nodes = wait(stack, wf.run())
    assert states(nodes)["merge"] == "successful"


def test_all_parents_convergence_does_not_run_when_a_parent_is_canceled(stack, templates):
    wf = Builder(stack).node("good", templates["ok"]).node("slow", templates["sleep60"])
    wf.node("merge", templates["ok"], all_parents_must_succeed=1)
    wf.line("start", "good").line("start", "slow").line("good", "merge").line("slow", "merge")
    job = wf.run()
    slow = _child_when_running(stack, job, "slow")
    assert stack.http("POST", f"/api/job/job/{slow}/cancel/").status_code == 202
    final, nodes = wait(stack, job)
    assert states(nodes)["slow"] == "canceled" and states(nodes)["merge"] == "skipped"
    assert final["state"] == "failed"


def test_a_nested_workflow_runs_as_a_child_workflow_job(stack, templates):
    inner = Builder(stack).node("inner-step", templates["ok"])
    inner.line("start", "inner-step")
    outer = Builder(stack).node("nested", inner.id, type="workflow").node("after", templates["ok"])
    outer.line("start", "nested").line("nested", "after")
    job, nodes = wait(stack, outer.run())
    assert job["state"] == "successful"
    assert states(nodes) == {"Start": "successful", "nested": "successful", "after": "successful"}
    child = stack.http("GET", f"/api/job/job/{nodes['nested']['job']}/").json()
    assert (child["kind"], child["job"], child["template"]) == ("workflow", job["id"], inner.id)
    inner_view = stack.http("GET", f"/api/job/job/{child['id']}/workflow/").json()
    assert {n["name"]: n["state"] for n in inner_view["nodes"]}["inner-step"] == "successful"


def test_artifacts_of_a_node_reach_the_nodes_after_it(stack, templates):
    wf = Builder(stack).node("produce", templates["stats"]).node("consume", templates["needs_stats"])
    wf.line("start", "produce").line("produce", "consume")
    job, nodes = wait(stack, wf.run())
    assert states(nodes)["consume"] == "successful", stack.http("GET", f"/api/job/job/{nodes['consume']['job']}/stdout/").text


def _pending(stack, job: dict, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = stack.http("GET", f"/api/job/job/{job['id']}/").json()["pending_approvals"]
        if pending:
            return pending
        time.sleep(0.2)
    raise AssertionError("no approval became pending")


def _approval_workflow(stack, templates, **approval) -> Builder:
    wf = Builder(stack).node("gate", type="approval", **approval).node("ship", templates["ok"])
    return wf.line("start", "gate").line("gate", "ship")


def test_an_approved_approval_lets_the_workflow_go_on(stack, templates):
    wf = _approval_workflow(stack, templates)
    job = wf.run()
    assert [p["name"] for p in _pending(stack, job)] == ["gate"]
    r = stack.http("POST", f"/api/job/job/{job['id']}/approve/", json={})
    assert r.status_code == 200, r.text
    final, nodes = wait(stack, job)
    assert states(nodes) == {"Start": "successful", "gate": "successful", "ship": "successful"}
    assert final["state"] == "successful" and final["pending_approvals"] == []


def test_a_denied_approval_fails_its_node(stack, templates):
    wf = _approval_workflow(stack, templates)
    job = wf.run()
    pending = _pending(stack, job)
    assert stack.http("POST", f"/api/job/job/{job['id']}/deny/", json={"node": pending[0]["node"]}).status_code == 200
    final, nodes = wait(stack, job)
    assert states(nodes)["gate"] == "failed" and "denied" in nodes["gate"]["reason"]
    assert states(nodes)["ship"] == "skipped" and final["state"] == "failed"


def test_an_approval_that_times_out_fails_its_node(stack, templates):
    wf = _approval_workflow(stack, templates, timeout=2)
    final, nodes = wait(stack, wf.run(), timeout=60)
    assert states(nodes)["gate"] == "failed" and "2 s" in nodes["gate"]["reason"]
    assert final["state"] == "failed"


def test_a_run_can_start_at_a_chosen_node(stack, templates):
    wf = Builder(stack).node("a", templates["ok"]).node("b", templates["ok"]).node("c", templates["ok"])
    wf.line("start", "a").line("a", "b").line("b", "c")
    job, nodes = wait(stack, wf.run(node=wf.nodes["b"]))
    assert states(nodes) == {"Start": "skipped", "a": "skipped", "b": "successful", "c": "successful"}, reasons(nodes)
    assert job["state"] == "successful"


def _fail_then_fix(stack, templates):
    """A workflow whose middle node fails until its template is fixed; returns (builder, fixer)."""
    r = stack.http("GET", f"/api/template/template/{templates['fail']}/").json()
    fragile = stack.http("POST", "/api/template/template/", json={
        "name": f"fragile-{secrets.token_hex(3)}", "project": r["project"], "playbook": "fail.yml",
        "inventory": r["inventory"], "variables": "should_fail: true"}).json()
    wf = Builder(stack).node("first", templates["ok"]).node("fragile", fragile["id"]).node("last", templates["ok"])
    wf.line("start", "first").line("first", "fragile").line("fragile", "last")

    def fix():
        fixed = stack.http("PATCH", f"/api/template/template/{fragile['id']}/", json={"variables": "should_fail: false"})
        assert fixed.status_code == 200, fixed.text
    return wf, fix


def test_resume_from_failed_reruns_only_what_failed_or_never_ran(stack, templates):
    wf, fix = _fail_then_fix(stack, templates)
    first, before = wait(stack, wf.run())
    assert first["state"] == "failed" and states(before)["last"] == "skipped"
    fix()
    r = stack.http("POST", f"/api/job/job/{first['id']}/relaunch/", json={"from": "failed"})
    assert r.status_code == 201, r.text
    second, after = wait(stack, r.json())
    assert second["state"] == "successful" and second["relaunch_of"] == first["id"]
    assert after["first"]["reused"] and after["first"]["job"] == before["first"]["job"]
    assert after["fragile"]["job"] != before["fragile"]["job"] and states(after)["fragile"] == "successful"
    assert states(after)["last"] == "successful"


def test_relaunch_from_a_node_reruns_that_node_and_what_follows(stack, templates):
    wf, fix = _fail_then_fix(stack, templates)
    first, before = wait(stack, wf.run())
    fix()
    r = stack.http("POST", f"/api/job/job/{first['id']}/relaunch/", json={"from": wf.nodes["fragile"]})
    assert r.status_code == 201, r.text
    second, after = wait(stack, r.json())
    assert after["first"]["reused"] and not after["fragile"]["reused"]
    assert states(after) == {"Start": "successful", "first": "successful", "fragile": "successful", "last": "successful"}


def test_relaunch_of_failed_hosts_reruns_a_job_node_on_the_hosts_that_failed(stack, project):
    inv = stack.http("POST", "/api/project/inventory/", json={"name": f"two hosts {secrets.token_hex(3)}"}).json()
    for host in ("h1", "h2"):
        stack.http("POST", "/api/project/host/", json={"inventory": inv["id"], "hostname": host,
                                                       "variables": "ansible_connection: local"})
    half = stack.http("POST", "/api/template/template/", json={"name": f"half-{secrets.token_hex(3)}", "project": project["id"],
                                                               "playbook": "half.yml", "inventory": inv["id"]}).json()
    wf = Builder(stack).node("half", half["id"])
    wf.line("start", "half")
    first, before = wait(stack, wf.run())
    assert states(before)["half"] == "failed"
    r = stack.http("POST", f"/api/job/job/{first['id']}/relaunch/", json={"from": "failed", "hosts": "failed"})
    assert r.status_code == 201, r.text
    second, after = wait(stack, r.json())
    assert stack.http("GET", f"/api/job/job/{after['half']['job']}/").json()["limit"] == "h2"


def _child_when_running(stack, job: dict, name: str, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        nodes = {n["name"]: n for n in stack.http("GET", f"/api/job/job/{job['id']}/workflow/").json()["nodes"]}
        if nodes[name]["state"] == "running":
            return nodes[name]["job"]
        time.sleep(0.2)
    raise AssertionError(f"node {name} did not start")


def test_cancel_stops_the_workflow_and_its_running_children(stack, templates):
    wf = Builder(stack).node("slow", templates["sleep60"]).node("after", templates["ok"])
    wf.line("start", "slow").line("slow", "after", "any")
    job = wf.run()
    child = _child_when_running(stack, job, "slow")
    assert stack.http("POST", f"/api/job/job/{job['id']}/cancel/").status_code == 202
    final = stack.wait_job(job["id"], timeout=30)
    assert final["state"] == "canceled"
    assert stack.wait_job(child, timeout=30)["state"] == "canceled"
    time.sleep(2)  # the execution, told the child ended, must not start the next node
    nodes = {n["name"]: n for n in stack.http("GET", f"/api/job/job/{job['id']}/workflow/").json()["nodes"]}
    assert nodes["after"]["job"] is None


def test_a_killed_child_runner_fails_its_node_and_the_workflow_goes_on(stack, templates):
    wf = Builder(stack).node("doomed", templates["sleep60"]).node("recover", templates["ok"])
    wf.line("start", "doomed").line("doomed", "recover", "failed")
    job = wf.run()
    child = _child_when_running(stack, job, "doomed")
    runner = int((stack.home / "runners" / f"job-{child}.pid").read_text())
    os.kill(runner, signal.SIGKILL)
    final, nodes = wait(stack, job, timeout=90)
    assert states(nodes)["doomed"] == "failed" and states(nodes)["recover"] == "successful"
    assert final["state"] == "successful"


def test_a_run_follows_its_snapshot_when_the_graph_is_edited(stack, templates):
    wf = Builder(stack).node("slow", templates["sleep"]).node("next", templates["ok"])
    wf.line("start", "slow").line("slow", "next")
    job = wf.run()
    _child_when_running(stack, job, "slow")
    lines = stack.http("GET", "/api/template/workflow/line/", params={"template": wf.id}).json()["results"]
    for line in lines:
        assert stack.http("DELETE", f"/api/template/workflow/line/{line['id']}/").status_code == 204
    wf.node("added", templates["ok"]).line("start", "added")
    final, nodes = wait(stack, job)
    assert final["state"] == "successful"
    assert states(nodes) == {"Start": "successful", "slow": "successful", "next": "successful"}


def test_a_user_without_execute_on_a_bound_template_cannot_run_its_node(stack, templates):
    username = f"wfuser-{secrets.token_hex(3)}"
    user = stack.http("POST", "/api/system/user/", json={"username": username, "password": "s3cret-pass"}).json()
    token = stack.http("POST", "/api/auth/token/", json={"username": username, "password": "s3cret-pass"}).json()["token"]
    wf = Builder(stack).node("guarded", templates["ok"])
    wf.line("start", "guarded")
    grant = stack.http("POST", "/api/template/template/permission/users/",
                       json={"username": user["id"], "data": wf.id, "permission": "execute"})
    assert grant.status_code == 201, grant.text
    headers = {"Authorization": f"Token {token}"}
    r = stack.http("POST", "/api/template/template/run/", json={"id": wf.id}, headers=headers)
    assert r.status_code == 201, r.text
    final, nodes = wait(stack, r.json())
    assert states(nodes)["guarded"] == "failed" and "execute" in nodes["guarded"]["reason"]
    assert nodes["guarded"]["job"] is None or stack.http("GET", f"/api/job/job/{nodes['guarded']['job']}/").status_code == 404
    assert final["state"] == "failed"

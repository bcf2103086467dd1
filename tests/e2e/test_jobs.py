"""Running playbooks end to end through the local stack: project sync, template, launch, output."""
from __future__ import annotations

import time

import pytest

from tests.gitrepo import make_repo
from tests.playbooks import FAIL, sleeping

pytestmark = pytest.mark.e2e

PLAYBOOKS = {
    "site.yml": """- hosts: all
  gather_facts: false
  tasks:
    - name: greet
      debug:
        msg: "hello {{ who | default('world') }}"
""",
    "fail.yml": FAIL,
    "sleep.yml": sleeping(120),
}


@pytest.fixture(scope="module")
def project(stack, tmp_path_factory):
    repo = make_repo(tmp_path_factory.mktemp("repo"), PLAYBOOKS)
    r = stack.http("POST", "/api/project/project/", json={"name": "e2e playbooks", "repository_url": f"file://{repo}",
                                                          "branch_specifier": "main"})
    assert r.status_code == 201, r.text
    project = r.json()
    sync = stack.http("POST", f"/api/project/project/{project['id']}/sync/")
    assert sync.status_code == 201, sync.text
    job = stack.wait_job(sync.json()["id"])
    assert job["state"] == "successful", stack.http("GET", f"/api/job/job/{job['id']}/stdout/").text
    return stack.http("GET", f"/api/project/project/{project['id']}/").json()


@pytest.fixture(scope="module")
def inventory(stack):
    inv = stack.http("POST", "/api/project/inventory/", json={"name": "e2e local"}).json()
    r = stack.http("POST", "/api/project/host/", json={"inventory": inv["id"], "hostname": "localhost",
                                                       "variables": "ansible_connection: local"})
    assert r.status_code == 201, r.text
    return inv


def _template(stack, project, inventory, name, playbook, **extra):
    r = stack.http("POST", "/api/template/template/", json={"name": name, "project": project["id"], "playbook": playbook,
                                                            "inventory": inventory["id"], **extra})
    assert r.status_code == 201, r.text
    return r.json()


def test_project_sync_records_revision_and_playbooks(project):
    assert sorted(project["playbooks"]) == ["fail.yml", "site.yml", "sleep.yml"]
    assert len(project["revision"]) == 40


def test_template_run_succeeds_with_expected_output(stack, project, inventory):
    _template(stack, project, inventory, "e2e hello", "site.yml")
    r = stack.http("POST", "/api/template/template/run/", json={"name": "e2e hello", "variables": "who: operator"})
    assert r.status_code == 201, r.text
    job = stack.wait_job(r.json()["id"])
    stdout = stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=txt").text
    assert job["state"] == "successful", stdout
    assert "hello operator" in stdout
    assert job["start_time"] and job["finish_time"] and job["revision"] == project["revision"]
    log = stack.http("GET", f"/api/job/log/?job={job['id']}").json()["results"][0]
    assert "hello operator" in log["log"]
    summaries = stack.http("GET", f"/api/job/job/{job['id']}/host_summaries/").json()["results"]
    assert [(s["host"], s["ok"], s["failures"]) for s in summaries] == [("localhost", 1, 0)]


def test_failing_playbook_ends_failed_with_its_error(stack, project, inventory):
    template = _template(stack, project, inventory, "e2e fail", "fail.yml")
    job = stack.wait_job(stack.http("POST", "/api/template/template/run/", json={"id": template["id"]}).json()["id"])
    assert job["state"] == "failed"
    assert "this play fails on purpose" in stack.http("GET", f"/api/job/job/{job['id']}/stdout/").text


def test_cancel_stops_a_long_job(stack, project, inventory):
    template = _template(stack, project, inventory, "e2e sleep", "sleep.yml")
    job = stack.http("POST", "/api/template/template/run/", json={"id": template["id"]}).json()
    stack.wait_job(job["id"], states=("running",))
    r = stack.http("POST", f"/api/job/job/{job['id']}/cancel/")
    assert r.status_code == 202, r.text
    assert stack.wait_job(job["id"], timeout=60)["state"] == "canceled"


def test_adhoc_command_runs_a_module(stack, inventory):
    r = stack.http("POST", "/api/job/job/", json={"module": "command", "arguments": "echo adhoc-ok",
                                                  "inventory": inventory["id"]})
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "adhoc"
    job = stack.wait_job(r.json()["id"])
    stdout = stack.http("GET", f"/api/job/job/{job['id']}/stdout/").text
    assert job["state"] == "successful", stdout
    assert "adhoc-ok" in stdout


def _runner_pid(stack, job_id: int) -> int:
    """The local runner backend records each job's runner process id."""
    return int((stack.home / "runners" / f"job-{job_id}.pid").read_text())


def test_a_killed_runner_leaves_the_job_failed_within_the_heartbeat(stack, project, inventory):
    import os
    import signal

    template = stack.http("GET", "/api/template/template/?name=e2e%20sleep").json()["results"]
    template = template[0] if template else _template(stack, project, inventory, "e2e sleep", "sleep.yml")
    job = stack.http("POST", "/api/template/template/run/", json={"id": template["id"]}).json()
    stack.wait_job(job["id"], states=("running",))
    os.killpg(_runner_pid(stack, job["id"]), signal.SIGKILL)
    final = stack.wait_job(job["id"], timeout=60)
    assert final["state"] == "failed"
    assert "heartbeat" in final["reason"]


def test_job_timeout_fails_the_job_with_a_reason(stack, project, inventory):
    settings = stack.http("POST", "/api/system/system/jobsettings/",
                          json={"workspace": "/tmp", "job_timeout": 3, "idle_timeout": 0, "keep_days": 0})
    assert settings.status_code == 201, settings.text
    try:
        template = stack.http("GET", "/api/template/template/?name=e2e%20sleep").json()["results"]
        template = template[0] if template else _template(stack, project, inventory, "e2e sleep", "sleep.yml")
        job = stack.http("POST", "/api/template/template/run/", json={"id": template["id"]}).json()
        final = stack.wait_job(job["id"], timeout=90)
    finally:
        stack.http("DELETE", f"/api/system/system/jobsettings/{settings.json()['id']}/")
    assert final["state"] == "failed"
    assert "timed out" in final["reason"]


SCRIPT_SOURCE = """#!/bin/sh
if [ "$1" = "--list" ]; then
  echo '{"web": {"hosts": ["w1", "w2"], "vars": {"tier": "front"}}, "_meta": {"hostvars": {"w1": {"n": 1}, "w2": {}}}}'
else
  echo '{}'
fi
"""


def test_host_source_sync_is_a_job_that_imports_hosts(stack):
    inv = stack.http("POST", "/api/project/inventory/", json={"name": "synced"}).json()
    source = stack.http("POST", "/api/project/host/source/", json={
        "name": "script", "inventory": inv["id"], "source_type": "script", "source_script": SCRIPT_SOURCE})
    assert source.status_code == 201, source.text
    r = stack.http("POST", f"/api/project/host/source/{source.json()['id']}/sync/")
    assert r.status_code == 201, r.text
    assert r.json()["kind"] == "inventory_update"
    job = stack.wait_job(r.json()["id"])
    assert job["state"] == "successful", stack.http("GET", f"/api/job/job/{job['id']}/stdout/").text
    hosts = stack.http("GET", f"/api/project/host/?inventory={inv['id']}&ordering=hostname").json()["results"]
    assert [h["hostname"] for h in hosts] == ["w1", "w2"]
    rendered = stack.http("GET", f"/api/project/inventory/{inv['id']}/script/").json()
    assert sorted(rendered["web"]["hosts"]) == ["w1", "w2"] and rendered["web"]["vars"] == {"tier": "front"}


def test_job_log_shows_output_while_the_job_runs(stack, tmp_path):
    repo = make_repo(tmp_path, {"slow.yml": """- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "first-line-before-the-wait"}
    - command: sleep 60
"""})
    project = stack.http("POST", "/api/project/project/", json={"name": "live", "repository_url": f"file://{repo}"}).json()
    assert stack.wait_job(stack.http("POST", f"/api/project/project/{project['id']}/sync/").json()["id"])["state"] == "successful"
    inv = stack.http("POST", "/api/project/inventory/", json={"name": "live"}).json()
    stack.http("POST", "/api/project/host/", json={"inventory": inv["id"], "hostname": "localhost",
                                                   "variables": "ansible_connection: local"})
    job = stack.http("POST", "/api/job/job/", json={"project": project["id"], "playbook": "slow.yml",
                                                    "inventory": inv["id"]}).json()
    try:
        stack.wait_job(job["id"], states=("running",))
        seen = ""
        for _ in range(300):
            seen = stack.http("GET", f"/api/job/log/?job={job['id']}").json()["results"][0]["log"]
            if "first-line-before-the-wait" in seen:
                break
            time.sleep(0.1)
        assert "first-line-before-the-wait" in seen
        assert stack.http("GET", f"/api/job/job/{job['id']}/").json()["state"] == "running"
    finally:
        stack.http("POST", f"/api/job/job/{job['id']}/cancel/")
    assert stack.wait_job(job["id"])["state"] == "canceled"

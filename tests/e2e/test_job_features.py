"""Job features end to end: ssh credentials against a real sshd, become, check mode, tags,
limit, relaunch of failed hosts, redaction and output formats (the manual's walkthroughs: test_walkthroughs.py)."""
from __future__ import annotations

import secrets

import pytest

from tests.gitserver import init_repo, publish_bare

pytestmark = pytest.mark.e2e

SECRET = "Sw0rdfish-" + secrets.token_hex(4)

PLAYBOOKS = {
    "whoami.yml": """- hosts: all
  gather_facts: false
  tasks:
    - command: whoami
      register: me
    - debug:
        msg: "running as {{ me.stdout }}"
""",
    "touch.yml": """- hosts: all
  gather_facts: false
  tasks:
    - file:
        path: "{{ target }}"
        state: touch
""",
    "tagged.yml": """- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "step-alpha"}
      tags: [alpha]
    - debug: {msg: "step-beta"}
      tags: [beta]
""",
    "half.yml": """- hosts: all
  gather_facts: false
  tasks:
    - fail: {msg: "h2 breaks"}
      when: inventory_hostname == 'h2'
    - debug: {msg: "reached {{ inventory_hostname }}"}
""",
    "leak.yml": """- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: "the password is {{ leak }}"
""",
}


@pytest.fixture(scope="module")
def repo_url(tmp_path_factory):
    root = tmp_path_factory.mktemp("features")
    init_repo(str(root / "work"), PLAYBOOKS)
    return "file://" + publish_bare(str(root / "work"), str(root / "repo.git"))


@pytest.fixture(scope="module")
def project(stack, repo_url):
    project = stack.http("POST", "/api/project/project/", json={"name": "features", "repository_url": repo_url}).json()
    job = stack.wait_job(stack.http("POST", f"/api/project/project/{project['id']}/sync/").json()["id"])
    assert job["state"] == "successful"
    return project


def _inventory(stack, name: str, hosts: dict[str, str]) -> dict:
    inv = stack.http("POST", "/api/project/inventory/", json={"name": name}).json()
    for hostname, variables in hosts.items():
        r = stack.http("POST", "/api/project/host/", json={"inventory": inv["id"], "hostname": hostname,
                                                           "variables": variables})
        assert r.status_code == 201, r.text
    return inv


@pytest.fixture(scope="module")
def local_inventory(stack):
    return _inventory(stack, "features local", {"h1": "ansible_connection: local", "h2": "ansible_connection: local"})


@pytest.fixture(scope="module")
def ssh_inventory(stack, sshd):
    return _inventory(stack, "features ssh", {"sshhost": f"ansible_host: {sshd.host}\nansible_port: {sshd.port}"})


def _credential(stack, **fields) -> dict:
    r = stack.http("POST", "/api/project/credential/", json={"name": "cred-" + secrets.token_hex(3), **fields})
    assert r.status_code == 201, r.text
    return r.json()


def _run(stack, project, inventory, playbook, **template_fields) -> tuple[dict, str]:
    r = stack.http("POST", "/api/template/template/", json={
        "name": "t-" + secrets.token_hex(4), "project": project["id"], "playbook": playbook,
        "inventory": inventory["id"], **template_fields})
    assert r.status_code == 201, r.text
    job = stack.http("POST", "/api/template/template/run/", json={"id": r.json()["id"]}).json()
    final = stack.wait_job(job["id"])
    return final, stack.http("GET", f"/api/job/job/{job['id']}/stdout/").text


def test_ssh_run_with_a_password_credential(stack, project, ssh_inventory, sshd):
    cred = _credential(stack, type="ssh", user_name=sshd.user, password=sshd.password)
    job, stdout = _run(stack, project, ssh_inventory, "whoami.yml", credential=cred["id"])
    assert job["state"] == "successful", stdout
    assert f"running as {sshd.user}" in stdout


def test_ssh_run_with_a_passphrase_protected_key_credential(stack, project, ssh_inventory, sshd):
    cred = _credential(stack, type="ssh", user_name=sshd.user, private_key=sshd.protected_key,
                       passphrase=sshd.passphrase)
    job, stdout = _run(stack, project, ssh_inventory, "whoami.yml", credential=cred["id"])
    assert job["state"] == "successful", stdout
    assert f"running as {sshd.user}" in stdout


def test_become_runs_tasks_as_root(stack, project, ssh_inventory, sshd):
    cred = _credential(stack, type="ssh", user_name=sshd.user, private_key=sshd.private_key,
                       become_method="sudo", become_user="root", become_pass=sshd.password)
    job, stdout = _run(stack, project, ssh_inventory, "whoami.yml", credential=cred["id"], become_enabled=1)
    assert job["state"] == "successful", stdout
    assert "running as root" in stdout


def test_check_mode_changes_nothing(stack, project, local_inventory, tmp_path):
    target = tmp_path / "touched"
    job, stdout = _run(stack, project, local_inventory, "touch.yml", job_type="check", limit="h1",
                       variables=f"target: {target}")
    assert job["state"] == "successful", stdout
    assert not target.exists()


def test_tags_and_limit_select_what_runs(stack, project, local_inventory):
    job, stdout = _run(stack, project, local_inventory, "tagged.yml", tags="beta", limit="h2")
    assert job["state"] == "successful", stdout
    assert "step-beta" in stdout and "step-alpha" not in stdout
    hosts = [s["host"] for s in stack.http("GET", f"/api/job/job/{job['id']}/host_summaries/").json()["results"]]
    assert hosts == ["h2"]


def test_skip_tags_leave_tasks_out(stack, project, local_inventory):
    job, stdout = _run(stack, project, local_inventory, "tagged.yml", skip_tags="beta", limit="h1")
    assert "step-alpha" in stdout and "step-beta" not in stdout


def test_relaunch_on_failed_hosts_runs_only_those(stack, project, local_inventory):
    job, stdout = _run(stack, project, local_inventory, "half.yml")
    assert job["state"] == "failed", stdout
    r = stack.http("POST", f"/api/job/job/{job['id']}/relaunch/", json={"hosts": "failed"})
    assert r.status_code == 201, r.text
    again = stack.wait_job(r.json()["id"])
    assert again["limit"] == "h2" and again["relaunch_of"] == job["id"]
    hosts = [s["host"] for s in stack.http("GET", f"/api/job/job/{again['id']}/host_summaries/").json()["results"]]
    assert hosts == ["h2"]


def test_relaunch_of_a_job_without_failed_hosts_is_refused(stack, project, local_inventory):
    job, _ = _run(stack, project, local_inventory, "tagged.yml")
    r = stack.http("POST", f"/api/job/job/{job['id']}/relaunch/", json={"hosts": "failed"})
    assert r.status_code == 400
    assert "hosts" in r.json()["detail"]


def test_a_credential_secret_printed_by_a_playbook_is_redacted(stack, project, local_inventory):
    cred = _credential(stack, type="ssh", user_name="nobody", password=SECRET)
    job, stdout = _run(stack, project, local_inventory, "leak.yml", credential=cred["id"], limit="h1",
                       variables=f"leak: {SECRET}")
    assert job["state"] == "successful", stdout
    assert "the password is" in stdout
    assert SECRET not in stdout
    events = stack.http("GET", f"/api/job/job/{job['id']}/events/?limit=200").text
    assert SECRET not in events
    assert SECRET not in stack.http("GET", f"/api/job/log/?job={job['id']}").text


def test_stdout_formats_and_download(stack, project, local_inventory):
    job, _ = _run(stack, project, local_inventory, "tagged.yml", limit="h1")
    ansi = stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=ansi")
    assert "\x1b[" in ansi.text
    as_json = stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=json").json()
    assert as_json["id"] == job["id"] and "step-alpha" in as_json["content"] and "\x1b[" not in as_json["content"]
    download = stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=txt&download=1")
    assert download.headers["Content-Disposition"] == f'attachment; filename="job_{job["id"]}.txt"'
    assert stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=xml").status_code == 400


def test_events_are_paged_by_counter(stack, project, local_inventory):
    job, _ = _run(stack, project, local_inventory, "tagged.yml")
    first = stack.http("GET", f"/api/job/job/{job['id']}/events/?limit=3").json()
    assert first["count"] > 3 and len(first["results"]) == 3 and first["next"]
    counters = [e["counter"] for e in first["results"]]
    assert counters == sorted(counters)
    after = stack.http("GET", f"/api/job/job/{job['id']}/events/?counter__gt={counters[-1]}&limit=200").json()
    assert after["count"] == first["count"] - 3
    ok = [e for e in after["results"] + first["results"] if e["event"] == "runner_on_ok"]
    assert {e["host"] for e in ok} == {"h1", "h2"} and all(e["task"] for e in ok)

"""A project's requirements (roles/requirements.yml, collections/requirements.yml): installed by
`ansible-galaxy` in the job zone at sync, cached by revision, used by the jobs of that revision.

The sources work offline: the role is a git repository served over loopback (dumb HTTP: the job
zone's sandbox sees none of the test's files, so a file:// path of the test's would not exist in
there), the collection a tarball built here with `ansible-galaxy collection build` and shipped in
the project (`type: file`, a path within the checkout).
"""
from __future__ import annotations

import os
import secrets
import subprocess
import sys

import pytest

from tests.gitserver import commit, init_repo, publish_bare, serve_http

GALAXY = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
ROLE = {
    "tasks/main.yml": '- name: greet\n  ansible.builtin.debug:\n    msg: "hello from the greeter role"\n',
    "meta/main.yml": "galaxy_info:\n  author: test\n  description: greets\n  license: MIT\n"
                     '  min_ansible_version: "2.14"\n  platforms: []\ndependencies: []\n',
}
FILTER = '''def shout(value):
    return str(value).upper() + "!"


class FilterModule:
    def filters(self):
        return {"shout": shout}
'''
SITE = '''- hosts: all
  gather_facts: false
  roles:
    - greeter
    - greeter_too
  tasks:
    - name: use the collection's filter
      ansible.builtin.debug:
        msg: "{{ 'from the collection' | testns.tools.shout }}"
'''


def _build_collection(root: str, dest: str) -> str:
    subprocess.run([GALAXY, "collection", "init", "testns.tools", "--init-path", root], check=True,
                   capture_output=True)
    plugin_dir = os.path.join(root, "testns", "tools", "plugins", "filter")
    os.makedirs(plugin_dir, exist_ok=True)
    with open(os.path.join(plugin_dir, "shout.py"), "w", encoding="utf-8") as handle:
        handle.write(FILTER)
    os.makedirs(dest, exist_ok=True)
    subprocess.run([GALAXY, "collection", "build", os.path.join(root, "testns", "tools"), "--output-path", dest],
                   check=True, capture_output=True)
    return "testns-tools-1.0.0.tar.gz"


def _stdout(stack, job: dict) -> str:
    return stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=txt").text


@pytest.fixture(scope="module")
def sources(tmp_path_factory):
    """The role's repository on loopback HTTP, and the project's work tree with the collection."""
    root = tmp_path_factory.mktemp("requirements")
    init_repo(str(root / "role"), ROLE)
    publish_bare(str(root / "role"), str(root / "served" / "greeter.git"))
    tarball = _build_collection(str(root / "build"), str(root / "work" / "collections"))
    with serve_http(str(root / "served")) as base:
        init_repo(str(root / "work"), {
            "site.yml": SITE,
            "roles/requirements.yml": f"- src: git+{base}/greeter.git\n  name: greeter\n",
            "collections/requirements.yml": f"collections:\n  - name: collections/{tarball}\n    type: file\n",
            "requirements.yml": f"roles:\n  - src: git+{base}/greeter.git\n    name: greeter_too\n",
        })
        yield root


@pytest.fixture(scope="module")
def project(stack, sources):
    url = "file://" + publish_bare(str(sources / "work"), str(sources / "repo.git"))
    project = stack.http("POST", "/api/project/project/", json={"name": "requirements", "repository_url": url}).json()
    sync = stack.wait_job(stack.http("POST", f"/api/project/project/{project['id']}/sync/").json()["id"])
    return {**stack.http("GET", f"/api/project/project/{project['id']}/").json(), "sync": sync,
            "sync_stdout": _stdout(stack, sync)}


@pytest.fixture(scope="module")
def template(stack, project):
    inventory = stack.local_inventory("requirements")
    r = stack.http("POST", "/api/template/template/", json={"name": "requirements site", "project": project["id"],
                                                            "playbook": "site.yml", "inventory": inventory["id"]})
    assert r.status_code == 201, r.text
    return r.json()


def _run(stack, template) -> tuple[dict, str]:
    job = stack.http("POST", "/api/template/template/run/", json={"id": template["id"]}).json()
    final = stack.wait_job(job["id"])
    return final, _stdout(stack, final)


@pytest.fixture(scope="module")
def first_job(stack, template):
    return _run(stack, template)


def test_the_role_and_the_collection_install_at_sync(project):
    stdout = project["sync_stdout"]
    assert project["sync"]["state"] == "successful", stdout
    assert "ansible-galaxy role install -r roles/requirements.yml" in stdout
    assert "greeter was installed successfully" in stdout
    assert "testns.tools:1.0.0 was installed successfully" in stdout
    assert "ansible-galaxy install -r requirements.yml" in stdout and "greeter_too was installed successfully" in stdout
    assert f"requirements: installed for revision {project['revision']}" in stdout


def test_a_job_uses_the_installed_role_and_collection(first_job):
    job, stdout = first_job
    assert job["state"] == "successful", stdout
    assert "TASK [greeter : greet]" in stdout and "TASK [greeter_too : greet]" in stdout
    assert "hello from the greeter role" in stdout
    assert "FROM THE COLLECTION!" in stdout


def test_a_second_job_on_the_revision_does_not_reinstall(stack, project, template, first_job):
    job, stdout = _run(stack, template)
    assert job["state"] == "successful", stdout
    assert f"requirements: using those installed for revision {project['revision']} by an earlier sync" in stdout
    assert "ansible-galaxy" not in stdout


def test_a_job_on_a_revision_the_sync_did_not_see_installs_it(stack, sources, project, template, first_job):
    revision = commit(str(sources / "work"), {"README.md": "moved on\n"}, "after the sync")
    publish_bare(str(sources / "work"), str(sources / "repo.git"))
    job, stdout = _run(stack, template)
    assert job["state"] == "successful", stdout
    assert job["revision"] == revision
    assert f"requirements: installed for revision {revision}" in stdout
    assert "hello from the greeter role" in stdout


def test_an_unreachable_source_fails_the_sync_with_the_galaxy_error(stack, tmp_path):
    init_repo(str(tmp_path / "work"), {
        "site.yml": SITE,
        "roles/requirements.yml": f"- src: git+file:///nonexistent/{secrets.token_hex(4)}.git\n  name: missing\n"})
    url = "file://" + publish_bare(str(tmp_path / "work"), str(tmp_path / "repo.git"))
    project = stack.http("POST", "/api/project/project/", json={"name": "unreachable", "repository_url": url}).json()
    job = stack.wait_job(stack.http("POST", f"/api/project/project/{project['id']}/sync/").json()["id"])
    stdout = _stdout(stack, job)
    assert job["state"] == "failed", stdout
    assert "does not appear to be a git repository" in stdout
    assert job["reason"].startswith("the project's requirements could not be installed"), job["reason"]
    assert "missing was NOT installed successfully" in job["reason"]

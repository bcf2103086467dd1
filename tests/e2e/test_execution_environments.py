"""Execution environments in the local stack: a template that names one with a venv runs its
ansible with that venv's Python (here ansible-core 2.18 beside the stack's 2.19); a venv that is
not there fails the job with the reason; an image-only one runs with the stack's own ansible and
says so.

The venv is built once for the module: `python -m venv --without-pip` and the stack's own pip
installing into it (`pip --python`), which saves bootstrapping a pip of its own: a few seconds
with pip's wheel cache warm (the job zone imports ansible_runner, pexpect/ptyprocess, yaml and
cryptography: ansible-core and ansible-runner bring them all).
"""
from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

#: the newest 2.18 (the last ansible-core line before the stack's 2.19 that runs on Python 3.11)
EE_ANSIBLE = "2.18.19"
ROOT = Path(__file__).resolve().parents[2]
PLAYBOOKS = {"version.yml": """- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: "ansible-core {{ ansible_version.full }} under {{ ansible_playbook_python }}"
"""}


def locked(package: str) -> str:
    """The version runner_image/requirements.txt locks `package` at."""
    text = (ROOT / "runner_image" / "requirements.txt").read_text()
    return re.search(rf"^{re.escape(package)}==(\S+)$", text, re.M).group(1)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("ee") / "ansible-2.18"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(path / "bin" / "python"), "install", "--quiet",
                    "--no-warn-script-location", f"ansible-core=={EE_ANSIBLE}",
                    f"ansible-runner=={locked('ansible-runner')}"], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)
    return path


@pytest.fixture(scope="module")
def template(stack, tmp_path_factory) -> dict:
    return stack.playbook_templates(tmp_path_factory.mktemp("ee-project"), PLAYBOOKS, "ee")["version.yml"]


def execution_environment(stack, name: str, **fields) -> dict:
    r = stack.http("POST", "/api/system/execution_environment/", json={"name": name, **fields})
    assert r.status_code == 201, r.text
    return r.json()


def run(stack, template: dict, ee: dict | None) -> tuple[dict, str]:
    """A run of a copy of the template naming `ee` (None: none); the final job and its output."""
    body = {k: template[k] for k in ("project", "playbook", "inventory")}
    copy = stack.http("POST", "/api/template/template/", json={
        **body, "name": f"{template['name']} {ee['name'] if ee else 'default'}",
        "execution_environment": ee["id"] if ee else None})
    assert copy.status_code == 201, copy.text
    job = stack.http("POST", "/api/template/template/run/", json={"id": copy.json()["id"]}).json()
    final = stack.wait_job(job["id"])
    return final, stack.http("GET", f"/api/job/job/{job['id']}/stdout/").text


def test_a_job_whose_template_names_a_venv_runs_that_venvs_ansible(stack, template, venv):
    ee = execution_environment(stack, "ansible 2.18", venv=str(venv))
    job, stdout = run(stack, template, ee)
    assert job["state"] == "successful", stdout
    assert job["execution_environment"] == ee["id"]
    assert f"ansible-core {EE_ANSIBLE} under {venv}/bin/python" in stdout
    assert f"venv {venv}" in stdout


def test_a_job_without_execution_environment_runs_the_stacks_ansible(stack, template):
    job, stdout = run(stack, template, None)
    assert job["state"] == "successful", stdout
    assert f"ansible-core {locked('ansible-core')} under" in stdout


def test_a_job_whose_venv_does_not_exist_fails_with_the_reason(stack, template, tmp_path):
    missing = tmp_path / "no-venv"
    job, stdout = run(stack, template, execution_environment(stack, "missing venv", venv=str(missing)))
    assert job["state"] == "failed"
    assert job["reason"].startswith(f"execution_environment: {missing}/bin/python does not exist"), job["reason"]


def test_an_image_only_execution_environment_runs_locally_with_the_stacks_ansible_and_says_so(stack, template):
    job, stdout = run(stack, template, execution_environment(stack, "aws image", image="registry.example.com/ee:2.18"))
    assert job["state"] == "successful", stdout
    assert "image registry.example.com/ee:2.18 (not used by the local stack" in stdout
    assert f"ansible-core {locked('ansible-core')} under" in stdout

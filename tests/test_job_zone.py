"""The runner's side of the job zone, without a stack: how the sandbox is chosen and built, and
that nothing a zone sends back is trusted."""
from __future__ import annotations

import os
import sys
import time

import pytest

from runner_image.opsgrat_runner import sandbox as sandbox_module
from runner_image.opsgrat_runner import workdir
from runner_image.opsgrat_runner.execute import RunSpec
from runner_image.opsgrat_runner.sandbox import Mode, Sandbox, SandboxUnavailable
from runner_image.opsgrat_runner.zone import JobZone


class ScriptedSandbox(Sandbox):
    """No isolation, and the zone's program replaced by a script writing to the protocol fd."""

    def __init__(self, script: str):
        super().__init__(Mode.NONE)
        self.script = script

    def command(self, argv, *, writable, cwd, job_home=None):
        return [sys.executable, "-c", self.script, argv[-1]]


@pytest.fixture
def dirs():
    created = workdir.create(4242, None)
    yield created
    workdir.remove(created)


def _run(sandbox: Sandbox, dirs, should_cancel=lambda: False, deadline=None):
    events: list[dict] = []
    zone = JobZone(sandbox, dirs).start()
    try:
        spec = RunSpec(kind="adhoc", module="ping", ssh_password="hunter2-secret", workdir=dirs.zone)
        return zone.run(spec, on_event=events.append, should_cancel=should_cancel, deadline=deadline), events
    finally:
        zone.close()


def test_the_job_zone_environment_is_built_not_inherited(monkeypatch):
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "runner-only")
    monkeypatch.setenv("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "/v2/credentials/secret-path")
    monkeypatch.setenv("OPSGRAT_HOME", "/srv/stack")
    env = Sandbox(Mode.NONE).environment("/jobs/1/zone/home")
    assert not [name for name in env if name.startswith(("AWS_", "OPSGRAT_"))]
    assert env["HOME"] == "/jobs/1/zone/home" and env["PATH"].startswith(os.path.dirname(sys.executable))


def test_without_bubblewrap_or_root_jobs_refuse_to_run_unisolated(monkeypatch):
    monkeypatch.setattr(sandbox_module.shutil, "which", lambda name: None)
    monkeypatch.setattr(sandbox_module.os, "geteuid", lambda: 1000)
    monkeypatch.delenv("OPSGRAT_SANDBOX", raising=False)
    with pytest.raises(SandboxUnavailable, match="no isolation"):
        Sandbox.from_environment()
    monkeypatch.setenv("OPSGRAT_SANDBOX", "none")
    assert Sandbox.from_environment().mode == Mode.NONE


def test_bubblewrap_mounts_only_the_system_the_python_and_the_jobs_own_directories():
    box = Sandbox(Mode.BWRAP, system_paths=["/usr", "/etc", "/opt/python"])
    argv = box.command(["ansible-playbook"], writable=["/tmp/opsgrat-job-1-x/zone"], cwd="/tmp/opsgrat-job-1-x/zone")
    binds = [(argv[i], argv[i + 1], argv[i + 2]) for i, a in enumerate(argv) if a in ("--ro-bind", "--bind")]
    assert {(kind, src) for kind, src, _ in binds} == {("--ro-bind", "/usr"), ("--ro-bind", "/etc"),
                                                       ("--ro-bind", "/opt/python"), ("--bind", "/tmp/opsgrat-job-1-x/zone")}
    for option in ("--unshare-pid", "--die-with-parent", "--new-session", "--proc", "--dev"):
        assert option in argv
    assert argv[-1] == "ansible-playbook"


def test_zone_lines_that_are_not_json_objects_or_too_long_are_dropped(dirs, monkeypatch):
    monkeypatch.setattr("runner_image.opsgrat_runner.zone.MAX_LINE", 200)
    script = (
        "import os, sys, json\n"
        "out = os.fdopen(int(sys.argv[1]), 'w')\n"
        "out.write('not json\\n[1, 2]\\n' + json.dumps({'event': 'a string'}) + '\\n')\n"
        "out.write(json.dumps({'event': {'stdout': 'x' * 500}}) + '\\n')\n"
        "out.write(json.dumps({'event': {'stdout': 'password ********'}}) + '\\n')\n"
        "out.write(json.dumps({'result': {'status': 'successful', 'rc': 0, 'host_summaries': [{'host': 'h', 'ok': 1}]}}) + '\\n')\n"
    )
    result, events = _run(ScriptedSandbox(script), dirs)
    assert events == [{"stdout": "password ********"}]
    assert result.status == "successful" and [s.host for s in result.host_summaries] == ["h"]


def test_a_zone_cannot_report_a_status_that_does_not_exist(dirs):
    script = ("import os, sys, json\n"
              "os.fdopen(int(sys.argv[1]), 'w').write(json.dumps({'result': {'status': 'superuser', 'rc': 0}}) + '\\n')\n")
    result, _ = _run(ScriptedSandbox(script), dirs)
    assert result.status == "failed"


def test_a_zone_that_dies_without_a_result_fails_the_job_with_its_stderr_masked(dirs):
    script = "import sys\nsys.stderr.write('boom hunter2-secret\\n')\nsys.exit(3)\n"
    result, _ = _run(ScriptedSandbox(script), dirs)
    assert result.status == "failed"
    assert "without a result (exit 3)" in result.error and "boom ********" in result.error


def test_cancel_kills_the_zone_within_a_second(dirs):
    script = "import time\ntime.sleep(60)\n"
    asked = time.monotonic()
    result, _ = _run(ScriptedSandbox(script), dirs, should_cancel=lambda: time.monotonic() - asked > 0.2)
    assert result.status == "canceled"
    assert time.monotonic() - asked < 5


def test_a_zone_past_its_deadline_is_stopped_as_timed_out(dirs):
    result, _ = _run(ScriptedSandbox("import time\ntime.sleep(60)\n"), dirs, deadline=time.monotonic() + 0.3)
    assert result.status == "timeout" and "timeout" in result.error


def test_removing_a_jobs_directories_leaves_other_jobs_alone():
    mine, other, longer = workdir.create(7, None), workdir.create(8, None), workdir.create(77, None)
    try:
        assert workdir.remove_job_dirs(7) == 1
        assert not os.path.exists(mine.root)
        assert os.path.isdir(other.root) and os.path.isdir(longer.root)
    finally:
        for dirs in (mine, other, longer):
            workdir.remove(dirs)

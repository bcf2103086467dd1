"""Running jobs from the `opsgrat` command line, end to end: the real executable against the
shared local stack (launch, follow, exit statuses, the status line, outages, job actions,
workflow trees, schedule previews).

One set of templates serves the whole module (built once); the playbooks are short, and only the
tests that need a running job sleep."""
from __future__ import annotations

import json
import queue
import re
import shlex
import shutil
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest

from tests.flaky_proxy import PASS, UNAVAILABLE, FlakyProxy

pytestmark = pytest.mark.e2e

TICKS = 8
PLAYBOOKS = {
    "ok.yml": """- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "hello {{ who | default('world') }}"}
""",
    "fail.yml": """- hosts: all
  gather_facts: false
  tasks:
    - fail: {msg: "this play fails on purpose"}
""",
    "sleep.yml": """- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "going to sleep"}
    - command: "sleep {{ secs | default(60) }}"
""",
    "ticks.yml": f"""- hosts: all
  gather_facts: false
  tasks:
    - debug: {{msg: "tick {{{{ item }}}}"}}
      loop: "{{{{ range(1, {TICKS + 1}) | list }}}}"
      loop_control: {{pause: 0.4}}
""",
}
SUMMARY = re.compile(r"^job (\d+) (successful|failed|canceled) in [\d.]+ s — localhost: ok=\d+ changed=\d+ failed=\d+ "
                     r"unreachable=\d+ skipped=\d+$", re.M)
#: the status line on a terminal: spinner, job, state, elapsed time
STATUS = re.compile(r"job \d+ (new|waiting|running) · \d+\.\d s")


@pytest.fixture(scope="module")
def templates(stack, tmp_path_factory) -> dict[str, dict]:
    """One job template per playbook, by playbook (names "cli-jobs <playbook>")."""
    return stack.playbook_templates(tmp_path_factory.mktemp("cli-jobs"), PLAYBOOKS, "cli-jobs")


@pytest.fixture(scope="module")
def finished_job(stack, templates) -> dict:
    """A successful run of ok.yml, launched through the API."""
    return stack.wait_job(run(stack, templates["ok.yml"])["id"])


@pytest.fixture(scope="module")
def workflow(stack, templates) -> dict:
    """A workflow template of two nodes: build (ok.yml), then on success deploy (ok.yml)."""
    wf = stack.http("POST", "/api/template/template/", json={"name": "cli-jobs pipeline", "template_type": "workflow"}).json()
    start = stack.http("GET", "/api/template/workflow/node/", params={"template": wf["id"]}).json()["results"][0]["id"]
    nodes = {}
    for name in ("build", "deploy"):
        r = stack.http("POST", "/api/template/workflow/node/", json={"template": wf["id"], "name": name, "type": "job",
                                                                     "top": 0, "left": 0,
                                                                     "bind_template": templates["ok.yml"]["id"]})
        assert r.status_code == 201, r.text
        nodes[name] = r.json()["id"]
    for source, target in ((start, nodes["build"]), (nodes["build"], nodes["deploy"])):
        r = stack.http("POST", "/api/template/workflow/line/", json={"node": source, "next_node": target,
                                                                     "result": "successful"})
        assert r.status_code == 201, r.text
    return wf


@pytest.fixture
def flaky(stack):
    proxy = FlakyProxy(stack.url).start()
    yield proxy
    proxy.stop()


def run(stack, template: dict, **body) -> dict:
    r = stack.http("POST", "/api/template/template/run/", json={"id": template["id"], **body})
    assert r.status_code == 201, r.text
    return r.json()


class Lines:
    """A stream read line by line on a thread, so a test can wait for a line with a timeout."""

    def __init__(self, stream):
        self.lines: list[str] = []
        self._queue: queue.Queue = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, pattern: str, timeout: float = 60) -> re.Match:
        deadline = time.monotonic() + timeout
        while True:
            for line in self.lines:
                if found := re.search(pattern, line):
                    return found
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no line matching {pattern!r} within {timeout} s: {self.lines}")
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                continue
            if line is None:
                raise AssertionError(f"the stream ended without a line matching {pattern!r}: {self.lines}")
            self.lines.append(line)

    def text(self, timeout: float = 60) -> str:
        """Everything, once the stream has ended."""
        self._thread.join(timeout)
        while not self._queue.empty():
            line = self._queue.get()
            if line is not None:
                self.lines.append(line)
        return "".join(self.lines)


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
    proc.wait(10)


# ----------------------------------------------------------------------------- launch and exit codes


def test_launch_follow_prints_the_output_and_a_summary_and_exits_0(opsgrat, templates):
    done = opsgrat("launch", templates["ok.yml"]["name"], "-e", "who=cli-user", "--follow")
    assert done.returncode == 0, done.stderr
    assert '"msg": "hello cli-user"' in done.stdout
    summary = SUMMARY.search(done.stderr)
    assert summary and summary.group(2) == "successful", done.stderr
    assert "ok=1 changed=0 failed=0" in summary.group(0)


def test_a_failing_playbook_exits_1(opsgrat, templates):
    done = opsgrat("launch", templates["fail.yml"]["name"], "--follow")
    assert done.returncode == 1, done.stderr
    assert "this play fails on purpose" in done.stdout
    assert SUMMARY.search(done.stderr).group(2) == "failed"


def test_a_canceled_job_exits_2(stack, opsgrat, templates):
    proc = opsgrat.popen("launch", templates["sleep.yml"]["name"], "--follow")
    try:
        job_id = int(Lines(proc.stderr).wait_for(r"^job (\d+): ").group(1))
        assert stack.wait_job(job_id, timeout=60, states=("running",))["state"] == "running"
        assert stack.http("POST", f"/api/job/job/{job_id}/cancel/").status_code == 202
        assert proc.wait(60) == 2
    finally:
        stop(proc)


def test_launch_without_follow_prints_the_new_job(stack, opsgrat, templates):
    done = opsgrat("launch", str(templates["ok.yml"]["id"]), "-o", "json")
    assert done.returncode == 0, done.stderr
    job = json.loads(done.stdout)
    assert job["template"] == templates["ok.yml"]["id"] and job["state"] in ("new", "waiting", "running")
    assert stack.wait_job(job["id"], timeout=60)["state"] == "successful"


# ----------------------------------------------------------------------------- following


def test_following_a_finished_job_prints_all_of_its_output(opsgrat, finished_job):
    followed = opsgrat("job", "follow", str(finished_job["id"]))
    assert followed.returncode == 0, followed.stderr
    stdout = opsgrat("job", "stdout", str(finished_job["id"]))
    assert stdout.returncode == 0, stdout.stderr
    assert '"msg": "hello world"' in followed.stdout
    assert followed.stdout == stdout.stdout


def test_follow_survives_the_api_answering_503(stack, opsgrat, templates, flaky):
    job = run(stack, templates["ticks.yml"])
    proc = opsgrat.popen("job", "follow", str(job["id"]), env={"OPSGRAT_URL": flaky.url})
    try:
        out = Lines(proc.stdout)
        out.wait_for(r'"msg": "tick 2"')
        flaky.mode = UNAVAILABLE
        time.sleep(1.5)
        flaky.mode = PASS
        assert proc.wait(60) == 0, proc.stderr.read()
        ticks = re.findall(r'"msg": "tick (\d+)"', out.text())
        assert ticks == [str(i) for i in range(1, TICKS + 1)]
        assert flaky.counts[UNAVAILABLE] > 0
        assert "connection lost (HTTP 503)" in proc.stderr.read()
    finally:
        stop(proc)


def _tmux(sock: Path, *args: str, env: dict | None = None) -> str:
    return subprocess.run(["/usr/bin/tmux", "-u", "-S", str(sock), *args], env=env, capture_output=True, text=True,
                          check=True, timeout=30).stdout


def test_a_terminal_shows_a_status_line_that_the_output_replaces(opsgrat, templates):
    home = Path(tempfile.mkdtemp(prefix="tmux-"))  # short: a unix socket's path is at most ~100 bytes
    sock = home / "sock"
    command = shlex.join(opsgrat.command("launch", templates["sleep.yml"]["name"], "-e", "secs=3", "--follow"))
    env = opsgrat.env({"LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"})
    try:
        _tmux(sock, "new-session", "-d", "-x", "120", "-y", "20", f"{command}; echo exit=$?; sleep 300", env=env)
        seen, final = "", ""
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            screen = _tmux(sock, "capture-pane", "-p")
            if STATUS.search(screen):
                seen = seen or screen
            if "exit=" in screen:
                final = screen
                break
            time.sleep(0.1)
        assert seen, "the status line never showed"
        assert "exit=0" in final, final
        assert not STATUS.search(final), final
        assert '"msg": "going to sleep"' in final and SUMMARY.search(final), final
    finally:
        subprocess.run(["/usr/bin/tmux", "-S", str(sock), "kill-server"], capture_output=True, timeout=30)
        shutil.rmtree(home, ignore_errors=True)


def test_piped_stderr_gets_plain_state_lines(opsgrat, templates):
    done = opsgrat("launch", templates["ok.yml"]["name"], "--follow")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^job \d+: new$", done.stderr, re.M), done.stderr
    assert "\r" not in done.stderr and "\x1b" not in done.stderr


# ----------------------------------------------------------------------------- job actions


def test_job_cancel_cancels_a_running_job(stack, opsgrat, templates):
    job = run(stack, templates["sleep.yml"])
    try:
        stack.wait_job(job["id"], timeout=60, states=("running",))
        done = opsgrat("job", "cancel", str(job["id"]), "-o", "json")
        assert done.returncode == 0, done.stderr
        answered = json.loads(done.stdout)
        assert answered["id"] == job["id"] and answered["state"] in ("running", "canceled")
    finally:
        stack.http("POST", f"/api/job/job/{job['id']}/cancel/")
    assert stack.wait_job(job["id"], timeout=60)["state"] == "canceled"


def test_job_cancel_of_a_finished_job_exits_4(opsgrat, finished_job):
    done = opsgrat("job", "cancel", str(finished_job["id"]))
    assert done.returncode == 4
    assert "already finished" in done.stderr


def test_job_summary_is_the_apis_host_summaries(stack, opsgrat, finished_job):
    done = opsgrat("job", "summary", str(finished_job["id"]), "-o", "json")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == stack.http("GET", f"/api/job/job/{finished_job['id']}/host_summaries/").json()["results"]


def test_job_events_are_the_apis_events(stack, opsgrat, finished_job):
    done = opsgrat("job", "events", str(finished_job["id"]), "--all", "-o", "json")
    assert done.returncode == 0, done.stderr
    api = stack.http("GET", f"/api/job/job/{finished_job['id']}/events/", params={"limit": 200}).json()["results"]
    assert json.loads(done.stdout) == api and len(api) > 3


# ----------------------------------------------------------------------------- workflows and schedules


def test_workflow_show_draws_both_nodes_with_their_states(stack, opsgrat, workflow):
    job = stack.wait_job(stack.http("POST", "/api/template/template/run/", json={"id": workflow["id"]}).json()["id"])
    assert job["state"] == "successful", job
    done = opsgrat("workflow", "show", str(job["id"]))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(f"workflow job {job['id']} · cli-jobs pipeline · successful"), lines
    assert re.fullmatch(r"└─ build \[successful\] job \d+", lines[2]), lines
    assert re.fullmatch(r"   └─ \(on success\) deploy \[successful\] job \d+", lines[3]), lines


def test_launch_follow_of_a_workflow_prints_its_nodes(opsgrat, workflow):
    done = opsgrat("launch", "cli-jobs pipeline", "--follow")
    assert done.returncode == 0, done.stderr
    finals = re.findall(r"^node (\w+): successful \(job \d+\)$", done.stdout, re.M)
    assert finals == ["build", "deploy"], done.stdout
    assert re.search(r"^workflow job \d+ successful in [\d.]+ s — 2 nodes: 2 successful$", done.stderr, re.M), done.stderr


def test_schedule_preview_prints_the_next_runs(stack, opsgrat, templates):
    r = stack.http("POST", "/api/job/schedule/", json={"name": "cli-jobs nightly", "template": templates["ok.yml"]["id"],
                                                       "type": "cron", "minute": "30", "hour": "2",
                                                       "timezone": "Europe/Berlin", "enabled": 0})
    assert r.status_code == 201, r.text
    done = opsgrat("schedule", "preview", str(r.json()["id"]), "--count", "4", "-o", "table")
    assert done.returncode == 0, done.stderr
    runs = re.findall(r"^\d+\s+(\S+T02:30:00\+0[12]:00)\s+\S+Z", done.stdout, re.M)
    assert len(runs) == 4, done.stdout


# ----------------------------------------------------------------------------- syncs and approvals


def test_project_sync_follow_prints_the_sync_and_exits_0(stack, opsgrat, templates):
    done = opsgrat("project", "sync", "cli-jobs", "--follow")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^job \d+ successful in ", done.stderr, re.M), done.stderr
    assert done.stdout.strip(), "a sync prints its own output"


def test_job_approve_lets_a_waiting_workflow_go_on(stack, opsgrat):
    wf = stack.http("POST", "/api/template/template/", json={"name": "cli-jobs gate", "template_type": "workflow"}).json()
    start = stack.http("GET", "/api/template/workflow/node/", params={"template": wf["id"]}).json()["results"][0]["id"]
    gate = stack.http("POST", "/api/template/workflow/node/", json={"template": wf["id"], "name": "gate", "type": "approval",
                                                                    "top": 0, "left": 0})
    assert gate.status_code == 201, gate.text
    line = stack.http("POST", "/api/template/workflow/line/", json={"node": start, "next_node": gate.json()["id"],
                                                                    "result": "successful"})
    assert line.status_code == 201, line.text
    job = stack.http("POST", "/api/template/template/run/", json={"id": wf["id"]}).json()
    deadline = time.monotonic() + 60
    while not stack.http("GET", f"/api/job/job/{job['id']}/workflow/").json()["pending_approvals"]:
        assert time.monotonic() < deadline, "the approval never became pending"
        time.sleep(0.1)
    done = opsgrat("job", "approve", str(job["id"]), "--node", "gate")
    assert done.returncode == 0, done.stderr
    assert stack.wait_job(job["id"])["state"] == "successful"

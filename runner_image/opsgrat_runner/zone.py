"""The runner's side of the job zone: start it in its sandbox, hand it the job, read what it says.

`JobZone.start()` starts the job zone's program (`opsgrat_runner.jobzone`) in the sandbox as soon
as the job's directories exist, so its interpreter starts and imports ansible-runner while the
runner checks the project out and renders the inventory. `JobZone.run(spec)` then hands it the
job and reads its events until it reports the result, is canceled, or overruns its deadline:
then the sandbox is killed, and with it every process of the job.

Nothing that comes back is trusted: events are JSON lines read with a size cap (the zone's
`execute.run` masks secrets in them: masking is a courtesy, not a wall, as a job can always
print a secret it holds in another form); a status the zone reports must be one a run can have;
a zone that dies without a result is a failed job with the last lines of its stderr, masked.
"""
from __future__ import annotations

import collections
import dataclasses
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

from .execute import STATUSES, RunResult, RunSpec
from .redact import Redactor
from .sandbox import CODE_ROOT, SYSTEM_PATH, Sandbox
from .summary import HostSummary
from .workdir import JobDirs

#: the longest event line read from a job zone; longer ones are cut (a task printing megabytes)
MAX_LINE = 4 * 1024 * 1024
_BOOT = (f"import sys; sys.path.insert(0, {CODE_ROOT!r}); "
         "from runner_image.opsgrat_runner import jobzone; sys.exit(jobzone.main(sys.argv))")


class JobZone:
    """`python`: the interpreter that runs the zone's program, and so ansible (an execution
    environment's venv, mounted read-only in the sandbox); None: the runner's own."""

    def __init__(self, sandbox: Sandbox, dirs: JobDirs, env: dict[str, str] | None = None, python: str | None = None):
        self.sandbox = sandbox
        self.dirs = dirs
        self.env = env or {}
        self.python = python or sys.executable
        if python:
            sandbox.mount_python(python)
            # ansible's commands beside that Python first (the zone's execute.run puts them first too)
            self.env = {"PATH": os.path.dirname(python) + os.pathsep + SYSTEM_PATH, **self.env}
        self.process: subprocess.Popen | None = None
        self._read_fd = -1
        self._stderr: collections.deque[str] = collections.deque(maxlen=20)
        self._stopped: str = ""  # why the runner ended the zone: "canceled" | "timeout"

    def start(self) -> "JobZone":
        """Start the zone's program, which waits for its spec on stdin."""
        read_fd, write_fd = os.pipe()
        argv = self.sandbox.command([self.python, "-I", "-c", _BOOT, str(write_fd)],
                                    writable=[self.dirs.project, self.dirs.zone], cwd=self.dirs.zone,
                                    job_home=self.dirs.home)
        try:
            self.process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                            stderr=subprocess.PIPE, pass_fds=(write_fd,), cwd=self.dirs.zone,
                                            env=self.sandbox.environment(self.dirs.home, self.env))
        finally:
            os.close(write_fd)
        self._read_fd = read_fd
        threading.Thread(target=self._drain_stderr, name="zone-stderr", daemon=True).start()
        return self

    def _drain_stderr(self) -> None:
        assert self.process is not None and self.process.stderr is not None
        for raw in self.process.stderr:
            self._stderr.append(raw.decode("utf-8", "replace").rstrip()[:500])

    def run(self, spec: RunSpec, *, on_event: Callable[[dict[str, Any]], None],
            should_cancel: Callable[[], bool], deadline: float | None = None) -> RunResult:
        """Hand the zone its job and follow it to the end (see the module docstring).

        `should_cancel` is asked twice a second; `deadline` (a time.monotonic() value) is the
        hard stop behind the job's own timeouts, which the zone enforces itself."""
        assert self.process is not None and self.process.stdin is not None
        redactor = Redactor(spec.secret_values())
        done = threading.Event()
        watcher = threading.Thread(target=self._watch, args=(should_cancel, deadline, done), name="zone-watch",
                                   daemon=True)
        watcher.start()
        result: dict | None = None
        try:
            try:
                self.process.stdin.write(json.dumps(dataclasses.asdict(spec)).encode())
                self.process.stdin.close()
            except (BrokenPipeError, OSError):
                pass  # the zone died at start: its stderr says why
            read_fd, self._read_fd = self._read_fd, -1
            with os.fdopen(read_fd, "rb") as stream:
                while True:
                    line = stream.readline(MAX_LINE)
                    if not line:
                        break
                    message = _parse(line)
                    if "event" in message and isinstance(message["event"], dict):
                        on_event(message["event"])  # redacted in the zone by execute.run
                    elif "result" in message and isinstance(message["result"], dict):
                        result = message["result"]
            self.process.wait()
        finally:
            done.set()
            self.sandbox.kill(self.process)
            self.sandbox.cleanup()
            watcher.join(timeout=5)
        return self._result(result, redactor)

    def _watch(self, should_cancel: Callable[[], bool], deadline: float | None, done: threading.Event) -> None:
        while not done.wait(0.5):
            reason = ""
            try:
                if should_cancel():
                    reason = "canceled"
            except Exception:  # noqa: BLE001 - a failing check (a throttled read) is not a cancel
                pass
            if not reason and deadline is not None and time.monotonic() > deadline:
                reason = "timeout"
            if reason:
                self._stopped = reason
                self.sandbox.kill(self.process)
                return

    def _result(self, raw: dict | None, redactor: Redactor) -> RunResult:
        if self._stopped == "canceled":
            return RunResult(status="canceled", rc=-1, stdout="", host_summaries=_summaries(raw), events_count=0)
        if self._stopped == "timeout":
            return RunResult(status="timeout", rc=-1, stdout="", host_summaries=_summaries(raw), events_count=0,
                             error="the job overran its timeout and was stopped")
        if raw is None:
            tail = redactor.text(" | ".join(self._stderr))[-1000:]
            return RunResult(status="failed", rc=-1, stdout="", host_summaries=[], events_count=0,
                             error=f"the job's sandbox ended without a result (exit {self.process.returncode})"
                                   + (f": {tail}" if tail else ""))
        status = raw.get("status") if raw.get("status") in STATUSES else "failed"
        return RunResult(status=status, rc=int(raw.get("rc") or 0) if isinstance(raw.get("rc"), int) else -1,
                         stdout="", host_summaries=_summaries(raw), events_count=int(raw.get("events_count") or 0),
                         error=redactor.text(str(raw.get("error") or "")))

    def close(self) -> None:
        """Kill the zone if it is still there (the job ended before it was handed over)."""
        if self.process is not None and self.process.poll() is None:
            self.sandbox.kill(self.process)
            self.process.wait()
        self.sandbox.cleanup()
        if self._read_fd >= 0:
            try:
                os.close(self._read_fd)
            except OSError:
                pass


def _parse(line: bytes) -> dict:
    try:
        message = json.loads(line)
    except ValueError:
        return {}
    return message if isinstance(message, dict) else {}


def _summaries(raw: dict | None) -> list[HostSummary]:
    out = []
    fields = {f.name for f in dataclasses.fields(HostSummary)}
    for row in (raw or {}).get("host_summaries") or []:
        if isinstance(row, dict) and isinstance(row.get("host"), str):
            out.append(HostSummary(**{k: (v if k == "host" else int(v) if isinstance(v, int) else 0)
                                      for k, v in row.items() if k in fields}))
    return out


class ZoneCommands:
    """A `host_sources.CommandRunner` that runs a user's program (an inventory script,
    `ansible-inventory` with the project's plugins) in the job zone, like a playbook."""

    def __init__(self, sandbox: Sandbox, dirs: JobDirs):
        self.sandbox = sandbox
        self.dirs = dirs

    def __call__(self, argv: list[str], *, cwd: str, env: dict[str, str], timeout: float):
        from chalicelib.services.host_sources import CommandResult

        for path in (self.dirs.project, self.dirs.zone):  # what the runner wrote there is the job's now
            self.sandbox.hand_over(path)
        command = self.sandbox.command(argv, writable=[self.dirs.project, self.dirs.zone], cwd=cwd,
                                       job_home=self.dirs.home)
        environment = {**env, **self.sandbox.environment(self.dirs.home)}
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   cwd=cwd, env=environment)
        try:
            out, err = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise TimeoutError(f"{argv[0]} did not finish within {timeout} s") from None
        finally:
            self.sandbox.kill(process)
            process.wait()
            self.sandbox.cleanup()
        return CommandResult(process.returncode, out, err)

"""The local stack's runner backend: each job's runner is a process of its own on this machine.

Runners fork from a fork server that has imported the runner and created its AWS clients once
(`runner_image.warm`), instead of starting a fresh interpreter that imports boto3, PynamoDB and
ansible-runner again (~0.5 s per job). Each runner runs the container entrypoint's `main` in its
own session; its output goes to `$OPSGRAT_HOME/runners/job-<id>.log`.

Cancel sends the runner SIGTERM (it stops ansible and reports the job canceled, as an ECS task
does on StopTask); stop kills its process group, and the job's sandbox dies with it. When a
runner process ends, however it ends, its job's private directories are removed: no key file of
a killed job stays on disk.
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from chalicelib.services import runners


def _run_forked(job_id: int, log_path: str) -> None:
    """Body of a runner process: its own session (so a kill reaches everything it started),
    output to the job's runner log, then the container entrypoint."""
    os.setsid()
    from runner_image import entrypoint

    entrypoint.catch_sigterm()  # before anything else: a cancel may come at once
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    code = 1
    try:
        code = entrypoint.main(["runner", str(job_id)])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


class LocalBackend:
    name = "local"

    def __init__(self, home: Path):
        self.logs = Path(home) / "runners"
        self._context = None
        self._running: dict[int, object] = {}  # pid -> multiprocessing.Process
        self._lock = threading.Lock()

    def _forkserver(self):
        if self._context is None:
            import multiprocessing

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["runner_image.warm"])
            self._context = context
        return self._context

    def start(self, job_id: int) -> str:
        self.logs.mkdir(parents=True, exist_ok=True)
        process = self._forkserver().Process(target=_run_forked, args=(job_id, str(self.logs / f"job-{job_id}.log")),
                                             name=f"runner-job-{job_id}", daemon=False)
        process.start()
        (self.logs / f"job-{job_id}.pid").write_text(f"{process.pid}\n")
        with self._lock:
            self._running[process.pid] = process
        threading.Thread(target=self._reap, args=(job_id, process), name=f"reap-{process.pid}", daemon=True).start()
        return str(process.pid)

    def _reap(self, job_id: int, process) -> None:
        """Join the runner when it exits (no zombie), then remove what its job left on disk."""
        process.join()
        with self._lock:
            self._running.pop(process.pid, None)
        from chalicelib.services import jobs
        from runner_image.opsgrat_runner import workdir

        workdir.remove_job_dirs(job_id, jobs.settings().get("workspace"))

    def cancel(self, ident: str) -> None:
        self._signal(ident, signal.SIGTERM, group=False)

    def stop(self, ident: str) -> None:
        self._signal(ident, signal.SIGKILL, group=True)

    @staticmethod
    def _signal(ident: str, signum: int, group: bool) -> None:
        try:
            (os.killpg if group else os.kill)(int(ident), signum)
        except (ProcessLookupError, PermissionError, ValueError):
            pass

    def stop_all(self) -> None:
        """Kill every runner still running (the local stack is stopping)."""
        with self._lock:
            pids = list(self._running)
        for pid in pids:
            self.stop(str(pid))


def install(home: Path) -> LocalBackend:
    """Register the local backend and make it the default of this process."""
    backend = LocalBackend(home)
    runners.register(backend)
    os.environ.setdefault("OPSGRAT_RUNNER_BACKEND", backend.name)
    return backend



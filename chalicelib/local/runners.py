"""The local stack's runner backend: each job's runner is a process of its own on this machine.

Runners fork from a fork server that has imported the runner and created its AWS clients once
(`runner_image.warm`), instead of starting a fresh interpreter that imports boto3, PynamoDB and
ansible-runner again (~0.5 s per job). Each runner runs the container entrypoint's `main` in its
own session; its output goes to `$OPSGRAT_HOME/runners/job-<id>.log`.

At most `capacity` runners run at once (`LocalBackend`); more jobs wait in a queue. Cancel sends
the runner SIGTERM (it stops ansible and reports the job canceled, as an ECS task does on
StopTask); stop kills its process group, and the job's sandbox dies with it. When a runner
process ends, however it ends, its job's private directories are removed: no key file of a
killed job stays on disk.
"""
from __future__ import annotations

import collections
import os
import signal
import sys
import threading
import time
from pathlib import Path

from chalicelib.services import runners

CAPACITY_ENV = "OPSGRAT_LOCAL_CAPACITY"


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


def default_capacity() -> int:
    """Runners at once: OPSGRAT_LOCAL_CAPACITY, else 2 per CPU core. Ansible on local hosts is
    CPU-bound (measured: 50 ping jobs on 2 cores take 29 s with 2 or 4 at once, 32 s with 8 and
    39 s all at once); raise it for playbooks that mostly wait on their hosts."""
    configured = os.environ.get(CAPACITY_ENV, "")
    if configured.isdigit() and int(configured) > 0:
        return int(configured)
    return 2 * (os.cpu_count() or 1)


class LocalBackend:
    """Runner processes on this machine, at most `capacity` at once (AWX's instance capacity).

    A job over capacity waits, `waiting`, in a first-in first-out queue; the backend heartbeats
    its task so that the state machine does not take it for lost, and starts it when a runner
    ends. Fifty jobs on two cores run faster one batch after another than all at once, where
    fifty ansible processes and their runners fight over the cores. The runner id is the job id.
    """

    name = "local"

    def __init__(self, home: Path, capacity: int | None = None):
        self.logs = Path(home) / "runners"
        self.capacity = capacity or default_capacity()
        self._context = None
        self._running: dict[int, object] = {}  # job id -> its runner's multiprocessing.Process
        self._queue: collections.deque[int] = collections.deque()
        self._changed = threading.Condition()
        self._scheduler: threading.Thread | None = None
        self._stopping = False

    def _forkserver(self):
        if self._context is None:
            import multiprocessing

            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["chalicelib.local.runner_env", "runner_image.warm"])
            self._context = context
        return self._context

    def warm(self) -> None:
        """Start the fork server now, in the background: its preload (boto3, PynamoDB, the
        runner) takes seconds on a busy machine, and a stack's first job must not spend them
        after its launch, where its task heartbeat is already counting."""
        import multiprocessing.forkserver

        self._forkserver()
        threading.Thread(target=multiprocessing.forkserver.ensure_running, name="forkserver-warm", daemon=True).start()

    def start(self, job_id: int) -> str:
        with self._changed:
            if len(self._running) < self.capacity and not self._queue:
                self._launch(job_id)
            else:
                self._queue.append(job_id)
                self._ensure_scheduler()
        return str(job_id)

    def _launch(self, job_id: int) -> None:
        """Fork the job's runner (the caller holds the lock)."""
        self.logs.mkdir(parents=True, exist_ok=True)
        process = self._forkserver().Process(target=_run_forked, args=(job_id, str(self.logs / f"job-{job_id}.log")),
                                             name=f"runner-job-{job_id}", daemon=False)
        process.start()
        (self.logs / f"job-{job_id}.pid").write_text(f"{process.pid}\n")
        self._running[job_id] = process
        threading.Thread(target=self._reap, args=(job_id, process), name=f"reap-{job_id}", daemon=True).start()

    def _reap(self, job_id: int, process) -> None:
        """Join the runner when it exits (no zombie), free its place, remove what it left on disk."""
        process.join()
        with self._changed:
            if self._running.get(job_id) is process:
                del self._running[job_id]
            self._changed.notify_all()
        from chalicelib.services import jobs
        from runner_image.opsgrat_runner import workdir

        workdir.remove_job_dirs(job_id, jobs.settings().get("workspace"))

    def _ensure_scheduler(self) -> None:
        if self._scheduler is None or not self._scheduler.is_alive():
            self._scheduler = threading.Thread(target=self._schedule, name="runner-queue", daemon=True)
            self._scheduler.start()

    def _schedule(self) -> None:
        """Start queued jobs as places free up; heartbeat the ones still waiting."""
        from chalicelib.services import jobs

        beat_every = max(1.0, jobs.heartbeat_seconds() / 3)
        next_beat = time.monotonic() + beat_every
        while True:
            with self._changed:
                self._changed.wait(timeout=max(0.0, next_beat - time.monotonic()))
                while self._queue and len(self._running) < self.capacity and not self._stopping:
                    self._launch(self._queue.popleft())
                if self._stopping or not self._queue:
                    self._scheduler = None
                    return
                waiting = list(self._queue)
            if time.monotonic() >= next_beat:
                _heartbeat(waiting)
                next_beat = time.monotonic() + beat_every

    def cancel(self, ident: str) -> None:
        """SIGTERM to a running runner; a queued job's runner starts at once and reports it canceled."""
        job_id = _job_id(ident)
        with self._changed:
            if job_id in self._queue:
                self._queue.remove(job_id)
                self._launch(job_id)  # it finds the cancel flag and ends the job "canceled before it started"
                return
            process = self._running.get(job_id)
        if process is not None:
            _signal(process.pid, signal.SIGTERM, group=False)

    def stop(self, ident: str) -> None:
        job_id = _job_id(ident)
        with self._changed:
            if job_id in self._queue:
                self._queue.remove(job_id)
            process = self._running.get(job_id)
        if process is not None:
            _signal(process.pid, signal.SIGKILL, group=True)

    def stop_all(self) -> None:
        """Kill every runner still running and forget the queue (the local stack is stopping)."""
        with self._changed:
            self._stopping = True
            self._queue.clear()
            processes = list(self._running.values())
            self._changed.notify_all()
        for process in processes:
            _signal(process.pid, signal.SIGKILL, group=True)


def _job_id(ident: str) -> int:
    try:
        return int(ident)
    except ValueError:
        return -1


def _signal(pid: int, signum: int, group: bool) -> None:
    try:
        (os.killpg if group else os.kill)(pid, signum)
    except (ProcessLookupError, PermissionError):
        pass


def _heartbeat(job_ids: list[int]) -> None:
    """Tell the state machine that queued jobs are alive (their runner has not started yet)."""
    from chalicelib import aws
    from chalicelib.services import store

    for job_id in job_ids:
        token = (store.get("job", job_id) or {}).get("task_token")
        if token:
            try:
                aws.client("stepfunctions").send_task_heartbeat(taskToken=token)
            except Exception:  # noqa: BLE001 - the execution ended meanwhile (canceled, timed out)
                pass


def install(home: Path) -> LocalBackend:
    """Register the local backend and make it the default of this process."""
    backend = LocalBackend(home)
    backend.warm()
    runners.register(backend)
    os.environ.setdefault("OPSGRAT_RUNNER_BACKEND", backend.name)
    return backend



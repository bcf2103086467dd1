"""Runner backends: where a job's container (or process) runs.

`ecs` starts a Fargate task on AWS; `local` starts the same entrypoint as a subprocess in the
local stack. This is the only place that differs between the two (OPSGRAT_RUNNER_BACKEND).
"""
from __future__ import annotations

import os
import signal
import sys
import threading
from pathlib import Path

from chalicelib import aws, config

ROOT = Path(__file__).resolve().parent.parent.parent


def start(job_id: int) -> str:
    """Start the runner for a job; returns an id that `stop` understands."""
    backend = config.env("OPSGRAT_RUNNER_BACKEND", "ecs")
    if backend == "local":
        return _start_local(job_id)
    return _start_ecs(job_id)


def stop(runner_id: str) -> None:
    """Stop a runner for good (a lost or timed-out job). Missing runners are fine."""
    if not runner_id or runner_id == "pending":
        return
    kind, _, ident = runner_id.partition(":")
    if kind == "local":
        try:
            os.killpg(int(ident), signal.SIGKILL)
        except (ProcessLookupError, PermissionError, ValueError):
            pass
    elif kind == "ecs":
        try:
            aws.client("ecs").stop_task(cluster=config.env("OPSGRAT_ECS_CLUSTER"), task=ident, reason="job ended")
        except Exception:  # noqa: BLE001 - already stopped
            pass


_FORKSERVER = None
_LOCAL: dict[int, object] = {}  # pid -> multiprocessing.Process of the running local runners


def _forkserver():
    """A fork server that has imported the runner once: each job's process forks from it instead
    of starting a fresh interpreter and importing boto3, PynamoDB and ansible-runner again
    (~0.5 s per job). The child still runs the entrypoint's `main` in a process of its own."""
    global _FORKSERVER
    if _FORKSERVER is None:
        import multiprocessing

        context = multiprocessing.get_context("forkserver")
        context.set_forkserver_preload(["runner_image.warm"])
        _FORKSERVER = context
    return _FORKSERVER


def _run_forked(job_id: int, log_path: str) -> None:
    """Body of a local runner process: its own session (so a kill takes its ansible children
    too), output to the job's runner log, then the container entrypoint."""
    os.setsid()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    os.dup2(fd, 1)
    os.dup2(fd, 2)
    from runner_image import entrypoint

    code = 1
    try:
        code = entrypoint.main(["runner", str(job_id)])
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _start_local(job_id: int) -> str:
    home = Path(config.env("OPSGRAT_HOME", ".opsgrat"))
    logs = home / "runners"
    logs.mkdir(parents=True, exist_ok=True)
    process = _forkserver().Process(target=_run_forked, args=(job_id, str(logs / f"job-{job_id}.log")),
                                    name=f"runner-job-{job_id}", daemon=False)
    process.start()
    (logs / f"job-{job_id}.pid").write_text(f"{process.pid}\n")
    _LOCAL[process.pid] = process

    def reap() -> None:  # join the child when it exits, so no zombie stays behind
        process.join()
        _LOCAL.pop(process.pid, None)

    threading.Thread(target=reap, name=f"reap-{process.pid}", daemon=True).start()
    return f"local:{process.pid}"


def stop_local_runners() -> None:
    """Kill every local runner still running (the local stack is stopping)."""
    for pid in list(_LOCAL):
        stop(f"local:{pid}")


def _start_ecs(job_id: int) -> str:
    subnets = [s for s in config.env("OPSGRAT_SUBNETS").split(",") if s]
    groups = [g for g in config.env("OPSGRAT_SECURITY_GROUPS").split(",") if g]
    response = aws.client("ecs").run_task(
        cluster=config.env("OPSGRAT_ECS_CLUSTER"), taskDefinition=config.env("OPSGRAT_RUNNER_TASK_DEFINITION"),
        launchType="FARGATE", count=1, startedBy=f"job-{job_id}"[:36],
        networkConfiguration={"awsvpcConfiguration": {"subnets": subnets, "securityGroups": groups,
                                                      "assignPublicIp": config.env("OPSGRAT_ASSIGN_PUBLIC_IP", "ENABLED")}},
        overrides={"containerOverrides": [{"name": "runner", "command": [str(job_id)]}]},
    )
    if response.get("failures") or not response.get("tasks"):
        raise RuntimeError(f"ECS could not start the runner: {response.get('failures')}")
    return "ecs:" + response["tasks"][0]["taskArn"]

"""Runner backends: where a job's container (or process) runs.

`ecs` starts a Fargate task on AWS; `local` starts the same entrypoint as a subprocess in the
local stack. This is the only place that differs between the two (OPSGRAT_RUNNER_BACKEND).
"""
from __future__ import annotations

import os
import signal
import subprocess
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


def _start_local(job_id: int) -> str:
    home = Path(config.env("OPSGRAT_HOME", ".opsgrat"))
    logs = home / "runners"
    logs.mkdir(parents=True, exist_ok=True)
    with open(logs / f"job-{job_id}.log", "ab") as log:
        proc = subprocess.Popen([sys.executable, "-m", "runner_image.entrypoint", str(job_id)], cwd=ROOT,
                                env=dict(os.environ), stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
    # reap the child when it exits, so no zombie stays behind
    threading.Thread(target=proc.wait, name=f"reap-{proc.pid}", daemon=True).start()
    return f"local:{proc.pid}"


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

"""Runner backends: where a job's runner (the container or process that runs its playbook) runs.

A backend starts a runner for a job, cancels it (the runner stops ansible and reports the job
`canceled`) and stops it for good (a lost or timed-out job: nothing of it may keep running).
`ecs` (AWS: one Fargate task per job) is defined here; the local stack registers its own backend
(`chalicelib.local.runners`) at start. OPSGRAT_RUNNER_BACKEND names the one in use.

A runner id is `<backend>:<backend's own id>`, so a stop always reaches the backend that started
the runner, whichever one is configured now.
"""
from __future__ import annotations

from typing import Protocol

from chalicelib import aws, config

#: the runner id a job carries while its runner is being started (between claim and start)
PENDING = "pending"


class RunnerBackend(Protocol):
    name: str

    def start(self, job_id: int) -> str:
        """Start the job's runner; returns this backend's id for it."""

    def cancel(self, ident: str) -> None:
        """Ask the runner to stop ansible now and report the job canceled (it may already be gone)."""

    def stop(self, ident: str) -> None:
        """Stop the runner and every process of its job for good (it may already be gone)."""


class EcsBackend:
    """One ECS Fargate task per job, running the runner image with the job id as its command.

    ECS stops a task with SIGTERM, then SIGKILL after the task's stop timeout: the runner takes
    SIGTERM as "cancel" (stop ansible, report), so cancel and stop are the same call; a runner
    that does not finish within the timeout is killed with its whole container."""

    name = "ecs"

    def start(self, job_id: int) -> str:
        subnets = [s for s in config.env("OPSGRAT_SUBNETS").split(",") if s]
        groups = [g for g in config.env("OPSGRAT_SECURITY_GROUPS").split(",") if g]
        response = aws.client("ecs").run_task(
            cluster=config.env("OPSGRAT_ECS_CLUSTER"), taskDefinition=config.env("OPSGRAT_RUNNER_TASK_DEFINITION"),
            launchType="FARGATE", count=1, startedBy=f"job-{job_id}"[:36],
            networkConfiguration={"awsvpcConfiguration": {
                "subnets": subnets, "securityGroups": groups,
                "assignPublicIp": config.env("OPSGRAT_ASSIGN_PUBLIC_IP", "ENABLED")}},
            overrides={"containerOverrides": [{"name": "runner", "command": [str(job_id)]}]},
        )
        if response.get("failures") or not response.get("tasks"):
            raise RuntimeError(f"ECS could not start the runner: {response.get('failures')}")
        return response["tasks"][0]["taskArn"]

    def cancel(self, ident: str) -> None:
        self.stop(ident)

    def stop(self, ident: str) -> None:
        try:
            aws.client("ecs").stop_task(cluster=config.env("OPSGRAT_ECS_CLUSTER"), task=ident, reason="job ended")
        except Exception:  # noqa: BLE001 - already stopped
            pass


_BACKENDS: dict[str, RunnerBackend] = {}


def register(backend: RunnerBackend) -> None:
    _BACKENDS[backend.name] = backend


register(EcsBackend())


def backend(name: str | None = None) -> RunnerBackend:
    name = name or config.env("OPSGRAT_RUNNER_BACKEND", "ecs")
    try:
        return _BACKENDS[name]
    except KeyError:
        raise RuntimeError(f"no runner backend {name!r} is registered (have: {', '.join(sorted(_BACKENDS))})") from None


def start(job_id: int) -> str:
    """Start the runner for a job; returns its runner id."""
    chosen = backend()
    return f"{chosen.name}:{chosen.start(job_id)}"


def _split(runner_id: str) -> tuple[RunnerBackend, str] | None:
    if not runner_id or runner_id == PENDING:
        return None
    name, _, ident = runner_id.partition(":")
    return (_BACKENDS[name], ident) if name in _BACKENDS else None


def cancel(runner_id: str) -> None:
    """Ask a job's runner to cancel it now (the runner also notices the job's cancel flag)."""
    found = _split(runner_id)
    if found:
        found[0].cancel(found[1])


def stop(runner_id: str) -> None:
    """Stop a runner for good (a lost or timed-out job). Missing runners are fine."""
    found = _split(runner_id)
    if found:
        found[0].stop(found[1])

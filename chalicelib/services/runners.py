"""Runner backends: where a job's runner (the container or process that runs its playbook) runs.

A backend starts a runner for a job, cancels it (the runner stops ansible and reports the job
`canceled`) and stops it for good (a lost or timed-out job: nothing of it may keep running).
`ecs` (AWS: one Fargate task per job) is defined here; the local stack registers its own backend
(`chalicelib.local.runners`) at start. OPSGRAT_RUNNER_BACKEND names the one in use.

A runner id is `<backend>:<backend's own id>`, so a stop always reaches the backend that started
the runner, whichever one is configured now.
"""
from __future__ import annotations

import hashlib
import threading
from typing import Protocol

from botocore.exceptions import ClientError

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


class ExecutionEnvironmentError(RuntimeError):
    """The job's execution environment cannot run on this backend (the job fails with this reason)."""


def job_environment(job_id: int) -> dict | None:
    """The execution environment the job names (None: the installation's runner image)."""
    from chalicelib.services import store

    env_id = (store.get("job", job_id) or {}).get("execution_environment")
    if not env_id:
        return None
    rec = store.get("execution_environment", int(env_id))
    if rec is None:
        raise ExecutionEnvironmentError(f"execution_environment: execution environment {env_id} no longer exists")
    return rec


#: what a task definition for another image copies from the installation's (RegisterTaskDefinition's parameters)
_COPIED = ("taskRoleArn", "executionRoleArn", "networkMode", "containerDefinitions", "volumes",
           "placementConstraints", "requiresCompatibilities", "cpu", "memory", "pidMode", "ipcMode",
           "proxyConfiguration", "inferenceAccelerators", "ephemeralStorage", "runtimePlatform")


def image_family(base_family: str, image: str) -> str:
    """The task definition family of `image`: the installation's family and a digest of the image
    (`opsgrat-runner-<12 hex>`: what the dispatch role may run and register)."""
    return f"{base_family}-{hashlib.sha256(image.encode()).hexdigest()[:12]}"


def _registration(definition: dict, image: str) -> dict:
    """The RegisterTaskDefinition parameters of `definition` with the runner container's image set to `image`."""
    out = {key: definition[key] for key in _COPIED if definition.get(key) not in (None, [], {})}
    out["containerDefinitions"] = [{**c, "image": image} if c.get("name") == "runner" else c
                                   for c in definition["containerDefinitions"]]
    return out


class ImageTaskDefinitions:
    """Task definitions for execution environments' images: copies of the installation's task
    definition with the runner container's image replaced, one family per image.

    The installation's definition is described once per process; a copy is looked up by its
    family (its latest revision) and reused when it is still the installation's with that image,
    else registered. Two dispatchers registering the same copy at once make two identical
    revisions, either of which is right: registering is idempotent in effect, with no lock."""

    def __init__(self):
        self._lock = threading.Lock()
        self._described: dict[str, dict] = {}
        self._arns: dict[tuple[str, str], str] = {}

    def arn(self, default_arn: str, image: str) -> str:
        key = (default_arn, image)
        with self._lock:
            if key in self._arns:
                return self._arns[key]
        ecs = aws.client("ecs")
        base = self._described.get(default_arn)
        if base is None:
            base = self._described[default_arn] = ecs.describe_task_definition(taskDefinition=default_arn)["taskDefinition"]
        wanted = _registration(base, image)
        family = image_family(base["family"], image)
        try:
            current = ecs.describe_task_definition(taskDefinition=family)["taskDefinition"]
        except ClientError:
            current = None  # not registered yet
        if current is not None and current.get("status", "ACTIVE") == "ACTIVE" and _registration(current, image) == wanted:
            found = current["taskDefinitionArn"]
        else:
            found = ecs.register_task_definition(family=family, **wanted)["taskDefinition"]["taskDefinitionArn"]
        with self._lock:
            self._arns[key] = found
        return found

    def forget(self) -> None:
        with self._lock:
            self._described.clear()
            self._arns.clear()


class EcsBackend:
    """One ECS Fargate task per job, running the runner image with the job id as its command.

    ECS stops a task with SIGTERM, then SIGKILL after the task's stop timeout: the runner takes
    SIGTERM as "cancel" (stop ansible, report), so cancel and stop are the same call; a runner
    that does not finish within the timeout is killed with its whole container.

    A job whose execution environment names an image runs in that image's task definition
    (`ImageTaskDefinitions`); one that names a venv is refused: Fargate tasks have no venvs."""

    name = "ecs"

    def __init__(self):
        self.images = ImageTaskDefinitions()

    def task_definition(self, job_id: int) -> str:
        default = config.env("OPSGRAT_RUNNER_TASK_DEFINITION")
        env = job_environment(job_id)
        if env is None:
            return default
        if env.get("venv"):
            raise ExecutionEnvironmentError(
                f'execution_environment: execution environment {env["id"]} "{env.get("name")}" names a venv '
                f'({env["venv"]}), which exists only in the local stack; on AWS it needs an image')
        return self.images.arn(default, env["image"]) if env.get("image") else default

    def start(self, job_id: int) -> str:
        subnets = [s for s in config.env("OPSGRAT_SUBNETS").split(",") if s]
        groups = [g for g in config.env("OPSGRAT_SECURITY_GROUPS").split(",") if g]
        response = aws.client("ecs").run_task(
            cluster=config.env("OPSGRAT_ECS_CLUSTER"), taskDefinition=self.task_definition(job_id),
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

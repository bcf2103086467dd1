"""Job state: transitions, settings and the timeouts a job runs with."""
from __future__ import annotations

import datetime
import enum
import time
from collections.abc import Callable

from chalicelib.services import store
from chalicelib.services.resources import get


class JobState(enum.StrEnum):
    """The life of a job: new -> waiting (a runner is starting) -> running -> one final state.

    A StrEnum: members are the strings stored in DynamoDB and shown by the API, so a stored
    value compares (and hashes) equal to its member."""

    NEW = "new"
    WAITING = "waiting"
    RUNNING = "running"
    SUCCESSFUL = "successful"
    FAILED = "failed"
    CANCELED = "canceled"

    @property
    def label(self) -> str:
        return self.value.capitalize()

    @property
    def final(self) -> bool:
        return self in FINAL


class JobKind(enum.StrEnum):
    """What a job runs: a template's playbook, an ad-hoc command, or a sync."""

    JOB = "job"
    ADHOC = "adhoc"
    PROJECT_UPDATE = "project_update"
    INVENTORY_UPDATE = "inventory_update"
    #: a workflow template's run: its nodes are child jobs (`job` = this one, `node` = theirs)
    WORKFLOW = "workflow"


KIND_LABELS = {JobKind.JOB: "Automation job", JobKind.ADHOC: "Command",
               JobKind.PROJECT_UPDATE: "Project sync", JobKind.INVENTORY_UPDATE: "Inventory sync",
               JobKind.WORKFLOW: "Workflow job"}

FINAL = frozenset({JobState.SUCCESSFUL, JobState.FAILED, JobState.CANCELED})
UNFINISHED = (JobState.NEW, JobState.WAITING, JobState.RUNNING)
#: seconds without a runner heartbeat before a job is declared lost; on AWS it must cover a
#: Fargate task's start (image pull, ENI), which often takes a minute
DEFAULT_HEARTBEAT = 180


def settings() -> dict:
    """The global job settings record, or defaults when none was saved."""
    row = next(iter(store.scan_partition("job_settings", limit=1)), None)
    return row or {"workspace": "/tmp", "job_timeout": 0, "idle_timeout": 0, "keep_days": 0}


def heartbeat_seconds() -> int:
    from chalicelib import config

    return int(config.env("OPSGRAT_HEARTBEAT_SECONDS", str(DEFAULT_HEARTBEAT)))


def mutate(job_id: int, change: Callable[[dict], bool | None], attempts: int = 10,
           current: dict | None = None, tallies: Callable[[dict, dict], list] | None = None) -> dict | None:
    """`store.mutate` on a job: its writers are the API, the dispatcher and the runner. Every
    state change goes through here; the row counters of the `state` index count jobs by state
    in the same transaction."""
    return store.mutate(get("job"), job_id, change, attempts, current, tallies)


def expiry(finish_time: int, job_settings: dict | None = None) -> int | None:
    """When a job finished at `finish_time` expires (keep_days), or None to keep it."""
    keep_days = int((job_settings or settings()).get("keep_days") or 0)
    return finish_time + keep_days * 86400 if keep_days > 0 else None


def iso(moment: float) -> str:
    """ISO 8601 UTC with microseconds, the form AWX gives `started` and `finished`."""
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).isoformat().replace("+00:00", "Z")


def running(job: dict) -> None:
    """Mark a job as started by its runner (spec `start_time`, AWX `started`)."""
    now = time.time()
    job.update(state=JobState.RUNNING, start_time=int(now), started=iso(now))


def finish(job_id: int, state: JobState, reason: str = "", job_settings: dict | None = None, **fields) -> dict | None:
    """Move a job to a final state once; later calls (a late runner, a late timeout) change nothing.

    A workflow node's job carries the task token of its node's state (`node_token`): the one
    that moves it to its final state settles that token, so the workflow goes on however the job
    ended (runner report, timeout, lost runner, cancel)."""
    moment = time.time()
    now = int(moment)
    exp = expiry(now, job_settings)
    moved = []

    def change(job: dict):
        moved.clear()
        if job.get("state") in FINAL:
            return False
        moved.append(True)
        job.update(fields)
        job["state"] = state
        job["tallied"] = 1  # counted in the dashboard's figures (job_stats.finish_tallies): no backfill
        job["finish_time"] = now
        job["finished"] = iso(moment)
        started = job.get("started")
        job["elapsed"] = round(moment - datetime.datetime.fromisoformat(started).timestamp(), 3) if started else 0.0
        if not job.get("start_time"):
            job["start_time"] = now
        if reason:
            job["reason"] = reason
        if exp:
            job["_expires"] = exp

    from chalicelib.services import job_stats

    # the dashboard's per-day and per-template figures count the transition that is stored, once
    job = mutate(job_id, change, tallies=job_stats.finish_tallies)
    if moved and job and job.get("node_token"):
        # the waiting workflow state learns that this node's job has ended (its state is stored)
        settle_task(job["node_token"], {"job_id": job["id"], "status": str(job.get("state"))})
    if moved and job:
        announce(job, "finished")
    return job


def announce(job: dict, event: str) -> None:
    """Put a job's start or end on the event bus (notifications); never fails the job."""
    from chalicelib.services.notifications import events

    events.publish(job, events.JobEvent(event))


def settle_task(token: str, output: dict) -> bool:
    """SendTaskSuccess for a waiting state; False when its execution has ended already (a timeout,
    a lost runner, a canceled workflow), which is no error for whoever reports late."""
    import json

    from chalicelib import aws

    try:
        aws.client("stepfunctions").send_task_success(taskToken=token, output=json.dumps(output))
        return True
    except Exception:  # noqa: BLE001 - see above
        return False


def fail_unfinished(reason: str) -> list[int]:
    """Fail every job that is not in a final state; returns their ids.

    For a local stack that starts again: its executions, queued messages and runners did not
    survive the stop, so nothing else would ever finish these jobs. Reads the state index, so
    the cost grows with the unfinished jobs, not with all jobs.
    """
    resource = get("job")
    ids = [rec["id"] for state in UNFINISHED for rec in store.scan_index(resource, "state", state)]
    for job_id in ids:
        finish(job_id, JobState.FAILED, reason)
    return ids

"""Job state: transitions, settings and the timeouts a job runs with."""
from __future__ import annotations

import time
from typing import Callable

from chalicelib.services import store
from chalicelib.services.errors import Conflict
from chalicelib.services.resources import get

FINAL = ("successful", "failed", "canceled")
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


def mutate(job_id: int, change: Callable[[dict], bool | None], attempts: int = 10) -> dict | None:
    """Apply `change(job)` with optimistic locking, re-reading on a concurrent write.

    `change` edits the dict in place and returns False to skip the write. Returns the saved job
    (or the unchanged one when skipped; None when the job is gone).
    """
    jobs = get("job")
    for _ in range(attempts):
        job = store.get("job", job_id)
        if job is None:
            return None
        before = dict(job)
        if change(job) is False or job == before:
            return job
        try:
            return store.update(jobs, before, job)
        except Conflict:
            time.sleep(0.05)
    raise Conflict(f"job {job_id} is being changed by too many writers")


def expiry(finish_time: int, job_settings: dict | None = None) -> int | None:
    """When a job finished at `finish_time` expires (keep_days), or None to keep it."""
    keep_days = int((job_settings or settings()).get("keep_days") or 0)
    return finish_time + keep_days * 86400 if keep_days > 0 else None


def finish(job_id: int, state: str, reason: str = "", job_settings: dict | None = None, **fields) -> dict | None:
    """Move a job to a final state once; later calls (a late runner, a late timeout) change nothing."""
    now = int(time.time())
    exp = expiry(now, job_settings)

    def change(job: dict):
        if job.get("state") in FINAL:
            return False
        job.update(fields)
        job["state"] = state
        job["finish_time"] = now
        if not job.get("start_time"):
            job["start_time"] = now
        if reason:
            job["reason"] = reason
        if exp:
            job["_expires"] = exp

    return mutate(job_id, change)

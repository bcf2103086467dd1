"""Firing a schedule: one due time, one decision, at most one job.

EventBridge Scheduler (on AWS) and the local ticker send the launch queue
`{"schedule_id": N, "scheduled_time": "2026-12-06T03:00:00Z"}`; `handle` decides what that due
time does, once:

  1. The first delivery of a (schedule, due time) claims it in the records table and reserves
     the job id it will use; a duplicate delivery finds the claim and makes no second job (and
     one that finds a claim but no job, because the first delivery stopped halfway, finishes
     the launch under the same reserved id, so that even then there is one job).
  2. A disabled schedule, a time outside its window or a delivery later than `max_delay`
     launches nothing (AWX fired jobs hours late after an outage: ansible/awx #5014).
  3. The launch goes through the one door (`launch.launch_template`) with the permissions the
     schedule's owner holds now: an owner who lost `execute` gets no job.

Every decision is written on the schedule (`last_result`, and `last_time` / `last_job` for a
launch), so a schedule always says what its last due time did.
"""
from __future__ import annotations

import datetime
import enum
import time
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from chalicelib.services import launch, rbac, store
from chalicelib.services.catalog.schedule import next_time
from chalicelib.services.errors import Conflict, PermissionDenied, ValidationError
from chalicelib.services.resources import get
from chalicelib.services.schedules import mirror

logger = Logger(service="opsgrat-schedules")

#: how long a claim outlives its due time (TTL): far beyond any redelivery
CLAIM_SECONDS = 7 * 24 * 3600


class FireResult(enum.StrEnum):
    LAUNCHED = "launched"
    #: the due time was handled already (a duplicate delivery)
    DUPLICATE = "duplicate"
    #: the schedule launches nothing at this time (disabled, outside its window, too late)
    SKIPPED = "skipped"
    #: the launch was refused (the owner's permissions, the template's state)
    REFUSED = "refused"
    #: the schedule no longer exists
    GONE = "gone"


@dataclass(frozen=True)
class Outcome:
    result: FireResult
    detail: str
    job: int | None = None


def parse(message: dict) -> tuple[int, int]:
    """(schedule id, due time as epoch seconds) from a launch queue message."""
    schedule_id = message.get("schedule_id")
    if isinstance(schedule_id, bool) or not isinstance(schedule_id, int):
        raise ValueError(f"schedule_id must be an integer: {schedule_id!r}")
    raw = message.get("scheduled_time")
    if isinstance(raw, int) and not isinstance(raw, bool):
        return schedule_id, raw
    if not isinstance(raw, str):
        raise ValueError(f"scheduled_time must be an ISO 8601 time: {raw!r}")
    when = datetime.datetime.fromisoformat(raw.replace("Z", "+00:00"))
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return schedule_id, int(when.timestamp())


def message(schedule_id: int, scheduled: int) -> dict:
    """What EventBridge Scheduler sends, as the local ticker sends it."""
    return {"schedule_id": schedule_id, "scheduled_time": iso(scheduled)}


def iso(epoch: int) -> str:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def handle(body: dict) -> Outcome:
    """The launch queue's handler (one message)."""
    schedule_id, scheduled = parse(body)
    outcome = fire(schedule_id, scheduled)
    logger.info("schedule fired", extra={"schedule": schedule_id, "scheduled_time": iso(scheduled),
                                         "result": outcome.result, "detail": outcome.detail, "job": outcome.job})
    return outcome


def fire(schedule_id: int, scheduled: int, now: float | None = None) -> Outcome:
    """Decide and do what due time `scheduled` of the schedule does (see the module docstring)."""
    now = time.time() if now is None else now
    rec = store.get("schedule", schedule_id, consistent=True)
    if rec is None:
        return Outcome(FireResult.GONE, f"schedule {schedule_id} no longer exists")
    partition = f"fire|schedule={schedule_id}"
    won, claim = store.claim(partition, scheduled, {"job": store.next_id("job")}, scheduled + CLAIM_SECONDS)
    job_id = int(claim["job"])
    if not won and (claim.get("decided") or store.get("job", job_id) is not None):
        return Outcome(FireResult.DUPLICATE, f"due time {iso(scheduled)} was handled already", job_id)
    outcome = _decide(rec, scheduled, now, job_id)
    if outcome.result == FireResult.DUPLICATE:
        return outcome
    if outcome.result != FireResult.LAUNCHED:
        store.settle_claim(partition, scheduled, {"job": job_id, "decided": outcome.result})
    _record(rec, scheduled, now, outcome)
    return outcome


def _decide(rec: dict, scheduled: int, now: float, job_id: int) -> Outcome:
    reason = why_not(rec, scheduled, now)
    if reason:
        return Outcome(FireResult.SKIPPED, reason)
    owner = store.get("user", int(rec["cuser"])) if rec.get("cuser") else None
    if owner is None or not owner.get("active", 1):
        what = "no longer exists" if owner is None else "is deactivated"
        return Outcome(FireResult.REFUSED, f"not launched: its owner (user {rec.get('cuser')}) {what}")
    origin = launch.Origin(schedule=rec["id"], job_id=job_id)
    try:
        job = launch.launch_template(rbac.Principal(owner), {"id": rec["template"]}, origin)
    except (PermissionDenied, ValidationError) as exc:
        return Outcome(FireResult.REFUSED, f"not launched: {exc.detail}")
    except Conflict:  # a concurrent delivery created the reserved job first
        return Outcome(FireResult.DUPLICATE, f"due time {iso(scheduled)} was handled already", job_id)
    return Outcome(FireResult.LAUNCHED, f"launched job {job['id']}", int(job["id"]))


def why_not(rec: dict, scheduled: int, now: float) -> str:
    """Why due time `scheduled` launches nothing, or "" when it may launch."""
    if not rec.get("enabled"):
        return "skipped: the schedule is disabled"
    if rec.get("start_time") is not None and scheduled < int(rec["start_time"]):
        return "skipped: before the schedule's start_time"
    if rec.get("end_time") is not None and scheduled > int(rec["end_time"]):
        return "skipped: after the schedule's end_time"
    late = int(now - scheduled)
    max_delay = int(rec.get("max_delay") or 0)
    if late > max_delay:
        return f"skipped: handled {late} s after its due time, later than max_delay ({max_delay} s)"
    return ""


def _record(rec: dict, scheduled: int, now: float, outcome: Outcome) -> None:
    after = max(int(now), scheduled)

    def change(r: dict) -> None:
        r["last_result"] = f"{iso(scheduled)}: {outcome.detail}"[:2048]
        if outcome.result == FireResult.LAUNCHED:
            r["last_time"], r["last_job"] = scheduled, outcome.job
        if r.get("next_time") is None or r["next_time"] <= after:  # not moved on already (the ticker)
            r["next_time"] = next_time(r, after)

    saved = store.mutate(get("schedule"), rec["id"], change, current=rec)
    if saved is not None:
        mirror.fired(saved)

"""Each schedule record as an EventBridge Scheduler schedule in the installation's group.

The record is the source of truth; this keeps its mirror in step when the record is saved,
deleted or has fired. The mirror's target is the launch queue, with the message
`{"schedule_id": N, "scheduled_time": "<aws.scheduler.scheduled-time>"}` that
`chalicelib.services.schedules.firing` handles. In the local stack the same calls go to moto,
which stores schedules but never fires them: the local ticker sends the same message instead.

Daylight saving: EventBridge Scheduler skips a cron time that does not exist on the day clocks
spring forward, where this product runs it at the same wall time shifted forward (the local
ticker does). So when a schedule's next run is such a shifted time, a one-time `at()`
companion schedule (`schedule-<id>-dst`, deleted after it ran) covers it.
"""
from __future__ import annotations

import datetime
import json
import time
import zoneinfo

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from chalicelib import aws, config
from chalicelib.services.schedules import timing
from chalicelib.stack import STACK

logger = Logger(service="opsgrat-schedules")

#: the placeholder EventBridge Scheduler replaces with the due time (ISO 8601, UTC)
SCHEDULED_TIME = "<aws.scheduler.scheduled-time>"
#: Scheduler's retries of a delivery that failed (its maximum)
MAX_RETRIES = 185


def schedule_name(schedule_id: int) -> str:
    return f"schedule-{schedule_id}"


def companion_name(schedule_id: int) -> str:
    return f"schedule-{schedule_id}-dst"


def saved(rec: dict, now: int | None = None) -> None:
    """Create or replace the mirror of a stored schedule (best effort: a refusal is logged and
    recorded on the schedule's `last_result`, the record stays as saved)."""
    _guarded(rec, _mirror, now)


def fired(rec: dict, now: int | None = None) -> None:
    """After a run: the next run may be a shifted DST time that needs its companion."""
    _guarded(rec, _cover_gap, now)


def deleted(rec: dict) -> None:
    for name in (schedule_name(rec["id"]), companion_name(rec["id"])):
        _delete(name)


def target(rec: dict) -> dict:
    """Where and what the mirror sends: the launch queue, the schedule id and the due time.
    Scheduler stops retrying a delivery once it is older than the schedule's max_delay, the same
    limit past which the launch handler would not start it."""
    out = {"Arn": config.env(STACK.LAUNCH_QUEUE_ARN_ENV), "RoleArn": config.env(STACK.SCHEDULER_ROLE_ARN_ENV),
           "Input": json.dumps({"schedule_id": rec["id"], "scheduled_time": SCHEDULED_TIME}),
           "RetryPolicy": {"MaximumEventAgeInSeconds": int(rec.get("max_delay") or 600),
                           "MaximumRetryAttempts": MAX_RETRIES}}
    if config.env(STACK.LAUNCH_DLQ_ARN_ENV):
        out["DeadLetterConfig"] = {"Arn": config.env(STACK.LAUNCH_DLQ_ARN_ENV)}
    return out


def parameters(rec: dict, now: int) -> dict:
    """CreateSchedule's parameters for the record: expression, time zone, window and state. A
    schedule with no next run (ended, done, disabled) is kept DISABLED rather than deleted, so
    that enabling it again is one update."""
    expr = timing.eventbridge(timing.Rule.from_record(rec, now), now)
    params = {"ScheduleExpression": expr.expression, "ScheduleExpressionTimezone": expr.timezone,
              "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": target(rec),
              "State": "ENABLED" if rec.get("enabled") and rec.get("next_time") is not None else "DISABLED",
              "Description": f"OpsGrat schedule {rec['id']}: {rec.get('name', '')}"[:512]}
    if expr.start is not None and expr.start > now:
        params["StartDate"] = _utc(expr.start)
    if expr.end is not None and expr.end > now:
        params["EndDate"] = _utc(expr.end)
    return params


def _mirror(rec: dict, now: int) -> None:
    _put(schedule_name(rec["id"]), parameters(rec, now))
    _cover_gap(rec, now)


def _cover_gap(rec: dict, now: int) -> None:
    rule = timing.Rule.from_record(rec, now)
    due = timing.next_due(rule, now) if rec.get("enabled") and rule.type == timing.ScheduleType.CRON else None
    if due is None or not due.shifted:
        _delete(companion_name(rec["id"]))
        return
    local = datetime.datetime.fromtimestamp(due.at, tz=zoneinfo.ZoneInfo(rule.timezone)).replace(tzinfo=None)
    _put(companion_name(rec["id"]), {
        "ScheduleExpression": f"at({local.isoformat(timespec='seconds')})", "ScheduleExpressionTimezone": rule.timezone,
        "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": target(rec), "State": "ENABLED",
        "ActionAfterCompletion": "DELETE",
        "Description": f"OpsGrat schedule {rec['id']}: its run shifted by daylight saving time"})


def _put(name: str, params: dict) -> None:
    scheduler = aws.client("scheduler")
    try:
        scheduler.update_schedule(Name=name, GroupName=STACK.schedule_group, **params)
    except scheduler.exceptions.ResourceNotFoundException:
        scheduler.create_schedule(Name=name, GroupName=STACK.schedule_group, **params)


def _delete(name: str) -> None:
    scheduler = aws.client("scheduler")
    try:
        scheduler.delete_schedule(Name=name, GroupName=STACK.schedule_group)
    except scheduler.exceptions.ResourceNotFoundException:
        pass


def _guarded(rec: dict, step, now: int | None) -> None:
    try:
        step(rec, int(time.time()) if now is None else now)
    except ClientError as exc:
        detail = exc.response.get("Error", {}).get("Message") or str(exc)
        logger.warning("schedule not mirrored", extra={"schedule": rec["id"], "error": detail})
        from chalicelib.services import store
        from chalicelib.services.resources import get

        note = f"not mirrored to EventBridge Scheduler (it will not fire on AWS until saved again): {detail}"
        store.mutate(get("schedule"), rec["id"], lambda r: r.update(last_result=note[:2048]))


def _utc(epoch: int) -> datetime.datetime:
    return datetime.datetime.fromtimestamp(epoch, tz=datetime.UTC)

"""Schedules (spec §2.2) and their grants (§2.4 users, §2.5 teams).

A schedule launches its template on a cron pattern, at a fixed interval or once, within a
start/end window, in its own time zone. Creating one needs `execute` on the template; at each
due time it launches with the permissions its owner (`cuser`) holds then. The record is the
source of truth: saving it recomputes `next_time` (the `due` index the local ticker reads) and
mirrors it as an EventBridge Scheduler schedule (`chalicelib.services.schedules.mirror`);
deleting it, or its template, deletes that too.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from chalicelib.services.catalog.grants import protect
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Bool01, Int, Label, Ref, Str
from chalicelib.services.resources import Access, Resource, register
from chalicelib.services.schedules import timing

TYPES = {"cron": "Scheduled task", "interval": "Fixed interval", "date": "Run once at a specific time"}
INTERVAL_TYPES = {"seconds": "Seconds", "minutes": "Minutes", "hours": "Hours", "days": "Days", "weeks": "Weeks"}
MISSED_RUN_POLICIES = {"skip": "Skip missed runs", "run_once": "Run once, if not later than max_delay"}
ENABLED = {0: "Disabled", 1: "Enabled"}
#: the fields a schedule's timing is computed from: a change to any of them moves next_time
TIMING_FIELDS = ("type", *timing.CRON_FIELDS, "interval", "interval_type", "start_time", "end_time", "timezone",
                 "enabled")
#: epoch seconds beyond it are no time a schedule can mean (the end of 9999)
LAST_EPOCH = timing.LAST_INSTANT
DEFAULT_MAX_DELAY = 600
#: seconds a date schedule's start_time may lie in the past (a form filled in a minute ago)
PAST_SLACK = 60


@dataclass
class CronField(Str):
    """One field of a cron pattern: a string (`"*/15"`, `"mon-fri"`); a number is taken as its
    digits, since clients send `"day": 3` as readily as `"day": "3"`. The pattern's rules are
    checked by `timing.cron_string`, which names the field."""

    max_length: int = 200

    def parse(self, value: Any) -> Any:
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        return super().parse(value)


def _epoch(name: str, description: str, read_only: bool = False) -> Int:
    return Int(name, default=None, minimum=0, maximum=LAST_EPOCH, description=description, read_only=read_only)


#: what a rule is made of, shared by the record and `POST /api/job/schedule/preview/`
RULE_FIELDS = [
    Str("type", required=True, blank=False, choices=tuple(TYPES), default="cron",
        description="cron (the five cron fields), interval (every interval x interval_type) or date (once, at start_time)."),
    _epoch("start_time", "Epoch seconds: no run before it; the one run of a date schedule; the phase of an interval. "
                         "Default: when the schedule is saved."),
    _epoch("end_time", "Epoch seconds: no run after it."),
    CronField("minute", description="Cron minute (0-59); empty means *."),
    CronField("hour", description="Cron hour (0-23); empty means *."),
    CronField("day", description="Cron day of month (1-31); empty means *."),
    CronField("month", description="Cron month (1-12 or jan-dec); empty means *."),
    CronField("week", description="Cron day of week (0-7, 0 and 7 are Sunday, or sun-sat); empty means *. "
                                  "Cannot be combined with day (EventBridge Scheduler runs one or the other)."),
    Str("interval_type", default="minutes", choices=tuple(INTERVAL_TYPES), blank=False,
        description="Unit of interval: seconds, minutes, hours, days or weeks."),
    Int("interval", default=None, minimum=0, maximum=10**9,
        description="Interval length in interval_type units; at least 60 seconds, a whole number of minutes."),
    Str("timezone", default="UTC", max_length=64, description="IANA time zone the cron fields and dates are read in."),
]


def rule_of(rec: dict, now: int | None = None) -> timing.Rule:
    """The schedule's rule (validated; errors name the field)."""
    return timing.Rule.from_record(rec, int(time.time()) if now is None else now)


def next_time(rec: dict, after: int, rule: timing.Rule | None = None) -> int | None:
    """When the schedule runs next, strictly after `after`: None when it is disabled, has ended
    or is done. `rule` is the record's, when the caller has it already."""
    if not rec.get("enabled"):
        return None
    due = timing.next_due(rule or rule_of(rec, after), after)
    return due.at if due else None


def _validate(change) -> None:
    data = change.data
    now = int(time.time())
    data["timezone"] = timing.check_timezone(data.get("timezone"))
    if data.get("start_time") is None and data.get("type") != "date":
        data["start_time"] = now
    rule = rule_of(data, now)
    if rule.type == timing.ScheduleType.DATE and (change.creating or change.changed & {"type", "start_time"}) \
            and rule.start < now - PAST_SLACK:
        raise ValidationError("start_time", "is in the past: a date schedule runs once, at start_time")
    timing.eventbridge(rule, now)  # refuses what EventBridge Scheduler cannot express, naming the field
    data["cron"] = rule.cron if rule.type == timing.ScheduleType.CRON else ""
    if change.creating or change.changed & set(TIMING_FIELDS):
        data["next_time"] = next_time(data, now, rule)


def _timer(rec: dict) -> int | None:
    """The local ticker's index entry: enabled schedules with a next run."""
    return rec.get("next_time") if rec.get("enabled") else None


def _after_save(principal, rec: dict, previous: dict | None) -> None:
    from chalicelib.services.schedules import mirror

    mirror.saved(rec)


def _after_delete(principal, rec: dict) -> None:
    from chalicelib.services.schedules import mirror

    mirror.deleted(rec)


SCHEDULES = register(Resource(
    family="schedule", path="/api/job/schedule", title="Schedules",
    description="Launch a template (job or workflow) on a cron pattern, every interval, or once, in the schedule's "
                "time zone, within start_time..end_time. Needs execute on the template; each run launches with the "
                "owner's (cuser's) permissions at that time, and last_result says what the last due time did. "
                "GET /api/job/schedule/{id}/preview/ lists the next runs; GET /api/job/job/?schedule={id} its jobs.",
    access=Access.protected(),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Schedule name."),
        Ref("template", family="template", required=True, needs="execute", on_delete="cascade",
            aliases=("template_id",), description="Template to launch; needs execute on it."),
        *RULE_FIELDS,
        Bool01("enabled", default=1, description="0: the schedule launches nothing until enabled again."),
        Str("missed_run_policy", default="skip", choices=tuple(MISSED_RUN_POLICIES), blank=False,
            description="A due time that could not fire (the local stack was down): skip it, or run_once "
                        "(the latest one, if not later than max_delay)."),
        Int("max_delay", default=DEFAULT_MAX_DELAY, minimum=60, maximum=86400,
            description="Seconds after its due time beyond which a run is never started."),
        Str("cron", read_only=True, description="The five cron fields as one string (cron schedules)."),
        _epoch("last_time", "When the schedule last launched (its due time).", read_only=True),
        _epoch("next_time", "Its next due time; null when it will not run again (ended, done, disabled).",
               read_only=True),
        Ref("last_job", family="job", read_only=True, description="The job its last run launched."),
        Str("last_result", read_only=True, max_length=2048,
            description="What the last due time did: the job it launched, or why it launched none."),
        Int("cuser", read_only=True, default=None, description="Owner: the user whose permissions each run uses."),
    ],
    labels=[
        Label("template_name", "template", family="template"),
        Label("type_name", "type", choices=TYPES),
        Label("interval_type_name", "interval_type", choices=INTERVAL_TYPES),
        Label("missed_run_policy_name", "missed_run_policy", choices=MISSED_RUN_POLICIES),
        Label("enabled_name", "enabled", choices=ENABLED),
        Label("user_name", "cuser", family="user", attr="username"),
    ],
    search=("name",), filters=("name", "template", "type", "enabled"), ordering=("name", "next_time", "last_time"),
    indexes=("template",), validate=_validate, timer=_timer, after_save=_after_save, after_delete=_after_delete,
))

SCHEDULE_USERS, SCHEDULE_TEAMS = protect(SCHEDULES, "/api/job/schedule/permission/users",
                                         "/api/job/schedule/permission/team")

"""The next runs of a schedule, saved or not (AWX shows them too: users check a rule before
they trust it), with the EventBridge Scheduler expression it becomes."""
from __future__ import annotations

import time

from chalicelib.services import crud, rbac
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Int
from chalicelib.services.schedules import timing

COUNT = Int("count", default=10, minimum=1, maximum=100, description="How many runs to show (1-100, default 10).")


def of_record(principal: rbac.Principal, schedule_id, count) -> dict:
    """`GET /api/job/schedule/{id}/preview/`: needs read on the schedule."""
    from chalicelib.services.catalog.schedule import SCHEDULES

    rec = crud.load(SCHEDULES, schedule_id)
    rbac.require(principal, SCHEDULES, rec, "read")
    return _preview({**rec, "enabled": 1}, COUNT.parse(count), schedule=rec["id"])


def of_fields(payload: dict, count) -> dict:
    """`POST /api/job/schedule/preview/`: the rule fields of an unsaved schedule, checked as a
    save would check them (errors name the field)."""
    from chalicelib.services.catalog.schedule import RULE_FIELDS

    if not isinstance(payload, dict):
        raise ValidationError(None, "Expected a JSON object or a form body.")
    data = {f.name: f.parse(payload.get(f.name)) for f in RULE_FIELDS}
    data["timezone"] = timing.check_timezone(data.get("timezone"))
    return _preview(data, COUNT.parse(payload.get("count", count)))


def _preview(rec: dict, count: int, schedule: int | None = None) -> dict:
    now = int(time.time())
    rule = timing.Rule.from_record(rec, now)
    expression = timing.eventbridge(rule, now)
    runs = [timing.describe(due, rule.timezone) for due in timing.due_times(rule, now, count)]
    return {"schedule": schedule, "type": rule.type.value, "timezone": rule.timezone, "cron": rule.cron or None,
            "eventbridge": {"expression": expression.expression, "timezone": expression.timezone},
            "count": len(runs), "results": runs}

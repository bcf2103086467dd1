"""Schedules through the API (in-process, moto): the record, its EventBridge Scheduler mirror,
permissions, previews, and what each due time does when the launch queue's handler fires it."""
from __future__ import annotations

import json
import time

import pytest

from chalicelib import aws
from chalicelib.stack import STACK

HOUR = 3600
#: 2027-03-27 12:00 UTC
SPRING_2027_EVE = 1806148800


def _scheduler_schedule(schedule_id: int, suffix: str = "") -> dict | None:
    scheduler = aws.client("scheduler")
    try:
        return scheduler.get_schedule(Name=f"schedule-{schedule_id}{suffix}", GroupName=STACK.schedule_group)
    except scheduler.exceptions.ResourceNotFoundException:
        return None


@pytest.fixture
def schedule(api, template):
    """Every Sunday at 03:00 Shanghai time."""
    r = api.post("/api/job/schedule/", {"name": "patch sunday", "template": template["id"], "type": "cron",
                                        "minute": "0", "hour": "3", "week": "sun", "timezone": "Asia/Shanghai"})
    assert r.status_code == 201, r.body
    return r.data


def _fire(schedule_id: int, scheduled: int, now: float | None = None):
    from chalicelib.services.schedules import firing

    return firing.fire(schedule_id, scheduled, now=now if now is not None else scheduled + 1)


def _jobs_of(api, schedule_id: int) -> list[dict]:
    r = api.get(f"/api/job/job/?schedule={schedule_id}")
    assert r.status_code == 200, r.body
    return r.data["results"]


# ---------------------------------------------------------------- the record


def test_a_cron_schedule_shows_its_pattern_labels_owner_and_next_run(api, schedule, template):
    assert schedule["cron"] == "0 3 * * sun"
    assert schedule["type_name"] == "Scheduled task"
    assert schedule["template_name"] == template["name"]
    assert schedule["timezone"] == "Asia/Shanghai"
    assert schedule["enabled"] == 1 and schedule["missed_run_policy"] == "skip"
    assert schedule["cuser"] is not None and schedule["last_time"] is None
    # Sunday 03:00 in Shanghai is Saturday 19:00 UTC
    assert time.gmtime(schedule["next_time"]).tm_wday == 5 and time.gmtime(schedule["next_time"]).tm_hour == 19


def test_empty_cron_fields_mean_every_value(api, template):
    r = api.post("/api/job/schedule/", {"name": "third", "template": template["id"], "type": "cron", "minute": "",
                                        "hour": "", "day": 3, "week": "", "month": ""})
    assert r.status_code == 201, r.body
    assert r.data["cron"] == "* * 3 * *"


def test_an_interval_below_a_minute_is_refused_naming_interval(api, template):
    r = api.post("/api/job/schedule/", {"name": "fast", "template": template["id"], "type": "interval",
                                        "interval": 10, "interval_type": "seconds"})
    assert r.status_code == 400
    assert r.data["detail"].startswith("interval:")


@pytest.mark.parametrize("fields, field", [
    ({"minute": "61"}, "minute"),
    ({"hour": "1-30"}, "hour"),
    ({"week": "fun"}, "week"),
    ({"month": "jan-"}, "month"),
    ({"day": "*/0"}, "day"),
    ({"day": "1", "week": "mon"}, "week"),
    ({"timezone": "Mars/Olympus"}, "timezone"),
    ({"type": "weekly"}, "type"),
    ({"type": "date"}, "start_time"),
    ({"end_time": 1}, "end_time"),
    ({"max_delay": 10}, "max_delay"),
    ({"missed_run_policy": "catch_up"}, "missed_run_policy"),
    ({"enabled": 2}, "enabled"),
    ({"minute": ["1"]}, "minute"),
])
def test_a_bad_schedule_field_is_a_400_that_names_it(api, template, fields, field):
    body = {"name": "bad", "template": template["id"], "type": "cron", **fields}
    r = api.post("/api/job/schedule/", body)
    assert r.status_code == 400, r.body
    assert r.data["detail"].startswith(f"{field}:"), r.data


def test_a_date_schedule_in_the_past_is_refused(api, template):
    r = api.post("/api/job/schedule/", {"name": "once", "template": template["id"], "type": "date",
                                        "start_time": int(time.time()) - 3 * HOUR})
    assert r.status_code == 400 and r.data["detail"].startswith("start_time:")


def test_a_date_schedule_runs_next_at_its_start_time(api, template):
    when = int(time.time()) + HOUR
    r = api.post("/api/job/schedule/", {"name": "once", "template": template["id"], "type": "date", "start_time": when})
    assert r.status_code == 201, r.body
    assert r.data["next_time"] == when and r.data["type_name"] == "Run once at a specific time"


def test_disabling_a_schedule_clears_its_next_run(api, schedule):
    r = api.patch(f"/api/job/schedule/{schedule['id']}/", {"enabled": 0})
    assert r.status_code == 200 and r.data["next_time"] is None
    r = api.patch(f"/api/job/schedule/{schedule['id']}/", {"enabled": 1})
    assert r.data["next_time"] == schedule["next_time"]


# ---------------------------------------------------------------- the EventBridge Scheduler mirror


def test_a_schedule_is_mirrored_as_an_eventbridge_schedule_targeting_the_launch_queue(schedule):
    mirrored = _scheduler_schedule(schedule["id"])
    assert mirrored is not None
    assert mirrored["ScheduleExpression"] == "cron(0 3 ? * SUN *)"
    assert mirrored["ScheduleExpressionTimezone"] == "Asia/Shanghai"
    assert mirrored["State"] == "ENABLED"
    target = mirrored["Target"]
    assert target["Arn"].endswith(":" + STACK.queue(STACK.LAUNCH_QUEUE).name)
    assert json.loads(target["Input"]) == {"schedule_id": schedule["id"], "scheduled_time": "<aws.scheduler.scheduled-time>"}
    assert target["RetryPolicy"]["MaximumEventAgeInSeconds"] == schedule["max_delay"]


def test_editing_a_schedule_updates_its_mirror(api, schedule):
    api.patch(f"/api/job/schedule/{schedule['id']}/", {"type": "interval", "interval": 2, "interval_type": "hours"})
    assert _scheduler_schedule(schedule["id"])["ScheduleExpression"] == "rate(2 hours)"


def test_a_disabled_schedule_is_mirrored_disabled(api, schedule):
    api.patch(f"/api/job/schedule/{schedule['id']}/", {"enabled": 0})
    assert _scheduler_schedule(schedule["id"])["State"] == "DISABLED"


def test_deleting_a_schedule_deletes_its_mirror(api, schedule):
    assert api.delete(f"/api/job/schedule/{schedule['id']}/").status_code == 204
    assert _scheduler_schedule(schedule["id"]) is None


def test_deleting_a_template_deletes_its_schedules_and_their_mirrors(api, schedule, template):
    assert api.delete(f"/api/template/template/{template['id']}/").status_code == 204
    assert api.get(f"/api/job/schedule/{schedule['id']}/").status_code == 404
    assert _scheduler_schedule(schedule["id"]) is None


def test_a_run_that_daylight_saving_shifts_gets_a_one_time_companion(api, template):
    from chalicelib.services import store
    from chalicelib.services.schedules import mirror

    r = api.post("/api/job/schedule/", {"name": "berlin", "template": template["id"], "type": "cron", "minute": "30",
                                        "hour": "2", "timezone": "Europe/Berlin"})
    assert r.status_code == 201, r.body
    # the day before Berlin springs forward (2027-03-28): 02:30 does not exist that day
    mirror.fired(store.get("schedule", r.data["id"]), now=SPRING_2027_EVE)
    companion = _scheduler_schedule(r.data["id"], "-dst")
    assert companion is not None, "EventBridge Scheduler skips 02:30 on the day clocks spring forward"
    assert companion["ScheduleExpression"] == "at(2027-03-28T03:30:00)"
    assert companion["ScheduleExpressionTimezone"] == "Europe/Berlin"
    assert companion["ActionAfterCompletion"] == "DELETE"
    mirror.fired(store.get("schedule", r.data["id"]), now=SPRING_2027_EVE + 2 * 24 * HOUR)
    assert _scheduler_schedule(r.data["id"], "-dst") is None, "a normal next run needs no companion"


# ---------------------------------------------------------------- permissions


def test_creating_a_schedule_needs_execute_on_its_template(api, template, make_user):
    user, as_user = make_user()
    body = {"name": "mine", "template": template["id"], "type": "cron", "minute": "0"}
    api.post("/api/template/template/permission/users/", {"username": user["id"], "data": template["id"], "permission": "read"})
    assert as_user.post("/api/job/schedule/", body).status_code == 403
    grant = api.get(f"/api/template/template/permission/users/?username={user['id']}").data["results"][0]
    api.patch(f"/api/template/template/permission/users/{grant['id']}/", {"permission": "execute"})
    r = as_user.post("/api/job/schedule/", body)
    assert r.status_code == 201, r.body
    assert r.data["cuser"] == user["id"]


def test_schedule_grants_live_at_the_spec_paths(api, schedule, make_user):
    user, as_user = make_user()
    assert as_user.get(f"/api/job/schedule/{schedule['id']}/").status_code == 403
    r = api.post("/api/job/schedule/permission/users/", {"username": user["id"], "data": schedule["id"], "permission": "read"})
    assert r.status_code == 201, r.body
    assert r.data["data_name"] == schedule["name"]
    assert as_user.get(f"/api/job/schedule/{schedule['id']}/").status_code == 200
    assert as_user.patch(f"/api/job/schedule/{schedule['id']}/", {"name": "x"}).status_code == 403
    team = api.post("/api/system/team/", {"name": "ops"}).data
    r = api.post("/api/job/schedule/permission/team/", {"team": team["id"], "data": schedule["id"], "permission": "write"})
    assert r.status_code == 201, r.body


# ---------------------------------------------------------------- previews


def test_preview_lists_the_next_runs_in_the_schedules_zone_and_in_utc(api, schedule):
    r = api.get(f"/api/job/schedule/{schedule['id']}/preview/?count=3")
    assert r.status_code == 200, r.body
    assert r.data["count"] == 3 and r.data["eventbridge"]["expression"] == "cron(0 3 ? * SUN *)"
    first = r.data["results"][0]
    assert first["time"] == schedule["next_time"]
    assert first["local"].endswith("T03:00:00+08:00") and first["utc"].endswith("T19:00:00Z")
    assert r.data["results"][1]["time"] - first["time"] == 7 * 24 * HOUR


def test_preview_of_unsaved_fields_checks_them_as_a_save_would(api):
    r = api.post("/api/job/schedule/preview/?count=2", {"type": "interval", "interval": 90, "interval_type": "minutes"})
    assert r.status_code == 200, r.body
    assert r.data["count"] == 2 and r.data["eventbridge"]["expression"] == "rate(90 minutes)"
    assert r.data["results"][1]["time"] - r.data["results"][0]["time"] == 90 * 60
    bad = api.post("/api/job/schedule/preview/", {"type": "cron", "hour": "25"})
    assert bad.status_code == 400 and bad.data["detail"].startswith("hour:")


def test_preview_count_is_bounded(api, schedule):
    r = api.get(f"/api/job/schedule/{schedule['id']}/preview/?count=1000")
    assert r.status_code == 400 and r.data["detail"].startswith("count:")


# ---------------------------------------------------------------- firing


def test_a_fire_launches_a_job_that_carries_the_schedule(api, schedule):
    outcome = _fire(schedule["id"], schedule["next_time"])
    assert outcome.result == "launched", outcome
    job = api.get(f"/api/job/job/{outcome.job}/").data
    assert job["schedule"] == schedule["id"] and job["schedule_name"] == "patch sunday"
    assert job["state"] == "new" and job["template"] == schedule["template"]
    after = api.get(f"/api/job/schedule/{schedule['id']}/").data
    assert after["last_time"] == schedule["next_time"] and after["last_job"] == outcome.job
    assert after["next_time"] == schedule["next_time"] + 7 * 24 * HOUR
    assert f"launched job {outcome.job}" in after["last_result"]


def test_the_jobs_of_a_schedule_are_listed_by_the_schedule_filter(api, schedule, template):
    launched = _fire(schedule["id"], schedule["next_time"]).job
    api.post("/api/template/template/run/", {"id": template["id"]})  # not the schedule's
    assert [j["id"] for j in _jobs_of(api, schedule["id"])] == [launched]


def test_a_duplicate_delivery_makes_no_second_job(api, schedule):
    first = _fire(schedule["id"], schedule["next_time"])
    second = _fire(schedule["id"], schedule["next_time"])
    assert first.result == "launched" and second.result == "duplicate" and second.job == first.job
    assert len(_jobs_of(api, schedule["id"])) == 1


def test_a_delivery_that_stopped_before_launching_is_finished_under_its_reserved_id(api, schedule, monkeypatch):
    from chalicelib.services import launch
    from chalicelib.services.schedules import firing

    real = launch.launch_template
    monkeypatch.setattr(launch, "launch_template", lambda *a, **kw: (_ for _ in ()).throw(RuntimeError("lambda died")))
    with pytest.raises(RuntimeError):
        _fire(schedule["id"], schedule["next_time"])
    monkeypatch.setattr(launch, "launch_template", real)
    again = firing.fire(schedule["id"], schedule["next_time"], now=schedule["next_time"] + 2)
    assert again.result == "launched"
    assert [j["id"] for j in _jobs_of(api, schedule["id"])] == [again.job]


def test_an_owner_who_lost_execute_gets_no_job_and_the_schedule_says_why(api, template, make_user):
    user, as_user = make_user()
    api.post("/api/template/template/permission/users/", {"username": user["id"], "data": template["id"], "permission": "execute"})
    sched = as_user.post("/api/job/schedule/", {"name": "theirs", "template": template["id"], "type": "cron", "minute": "0"}).data
    grant = api.get(f"/api/template/template/permission/users/?username={user['id']}").data["results"][0]
    api.delete(f"/api/template/template/permission/users/{grant['id']}/")
    outcome = _fire(sched["id"], sched["next_time"])
    assert outcome.result == "refused" and outcome.job is None
    assert _jobs_of(api, sched["id"]) == []
    assert "execute" in api.get(f"/api/job/schedule/{sched['id']}/").data["last_result"]


def test_a_deactivated_owner_gets_no_job(api, template, make_user):
    user, as_user = make_user()
    api.post("/api/template/template/permission/users/", {"username": user["id"], "data": template["id"], "permission": "execute"})
    sched = as_user.post("/api/job/schedule/", {"name": "theirs", "template": template["id"], "type": "cron", "minute": "0"}).data
    api.patch(f"/api/system/user/{user['id']}/", {"active": 0})
    assert _fire(sched["id"], sched["next_time"]).result == "refused"
    assert "deactivated" in api.get(f"/api/job/schedule/{sched['id']}/").data["last_result"]


def test_a_disabled_schedule_fires_nothing(api, schedule):
    api.patch(f"/api/job/schedule/{schedule['id']}/", {"enabled": 0})
    assert _fire(schedule["id"], schedule["next_time"]).result == "skipped"
    assert _jobs_of(api, schedule["id"]) == []


def test_a_delivery_later_than_max_delay_starts_no_job(api, schedule):
    outcome = _fire(schedule["id"], schedule["next_time"], now=schedule["next_time"] + schedule["max_delay"] + 5)
    assert outcome.result == "skipped" and "max_delay" in outcome.detail
    assert _jobs_of(api, schedule["id"]) == []


def test_a_due_time_after_end_time_fires_nothing(api, schedule):
    api.patch(f"/api/job/schedule/{schedule['id']}/", {"end_time": schedule["next_time"] - 60})
    assert _fire(schedule["id"], schedule["next_time"]).result == "skipped"


def test_a_fire_for_a_deleted_schedule_does_nothing(api, schedule):
    api.delete(f"/api/job/schedule/{schedule['id']}/")
    assert _fire(schedule["id"], schedule["next_time"]).result == "gone"


def test_a_date_schedule_has_no_next_run_once_it_fired(api, template):
    when = int(time.time()) + HOUR
    sched = api.post("/api/job/schedule/", {"name": "once", "template": template["id"], "type": "date", "start_time": when}).data
    assert _fire(sched["id"], when).result == "launched"
    after = api.get(f"/api/job/schedule/{sched['id']}/").data
    assert after["next_time"] is None and after["last_time"] == when


def test_a_workflow_template_schedule_launches_a_workflow_job(api):
    wf = api.post("/api/template/template/", {"name": "wf", "template_type": "workflow"}).data
    sched = api.post("/api/job/schedule/", {"name": "nightly wf", "template": wf["id"], "type": "cron", "minute": "0",
                                            "hour": "2"}).data
    outcome = _fire(sched["id"], sched["next_time"])
    assert outcome.result == "launched", outcome
    job = api.get(f"/api/job/job/{outcome.job}/").data
    assert job["kind"] == "workflow" and job["schedule"] == sched["id"]


def test_the_launch_queue_handler_takes_eventbridge_messages(api, schedule):
    from chalice.test import Client

    from app import app

    due = schedule["next_time"]
    body = json.dumps({"schedule_id": schedule["id"], "scheduled_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(due))})
    with Client(app) as client:
        event = client.events.generate_sqs_event(message_bodies=[body], queue_name=STACK.queue("launch").name)
        from chalicelib.services.schedules import firing

        original = firing.time.time
        firing.time.time = lambda: due + 2
        try:
            result = client.lambda_.invoke("scheduled_launch", event)
        finally:
            firing.time.time = original
    assert result.payload == {"batchItemFailures": []}
    assert len(_jobs_of(api, schedule["id"])) == 1

"""The local stack's ticker (in-process, moto): it reads the schedules due now, sends the launch
queue what EventBridge Scheduler would send, moves next_time on, and applies missed_run_policy
to due times it did not see in time (the stack was down)."""
from __future__ import annotations

import json
import time

import pytest

from chalicelib import aws
from chalicelib.stack import STACK

DAY = 86400


@pytest.fixture
def queue_url(aws_mock) -> str:
    return aws.client("sqs").get_queue_url(QueueName=STACK.queue(STACK.LAUNCH_QUEUE).name)["QueueUrl"]


def _sent(queue_url: str) -> list[dict]:
    sqs = aws.client("sqs")
    out = []
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return out
        for m in messages:
            out.append(json.loads(m["Body"]))
            sqs.delete_message(QueueUrl=queue_url, ReceiptHandle=m["ReceiptHandle"])


def _create(api, template, **fields) -> dict:
    r = api.post("/api/job/schedule/", {"name": "s", "template": template["id"], "type": "cron", **fields})
    assert r.status_code == 201, r.body
    return r.data


def _set_next(schedule_id: int, next_time: int) -> None:
    """As if the stack had been down since `next_time` was due."""
    from chalicelib.services import store
    from chalicelib.services.resources import get

    store.mutate(get("schedule"), schedule_id, lambda r: r.update(next_time=next_time))


def _get(api, schedule_id: int) -> dict:
    return api.get(f"/api/job/schedule/{schedule_id}/").data


def _tick(now: int, queue_url: str):
    from chalicelib.local.ticker import tick

    return tick(now, queue_url)


def _daily_3am_after(days: int) -> tuple[int, int]:
    """(05:00 UTC `days` days from now, 03:00 UTC that day)."""
    day = (int(time.time()) // DAY + days) * DAY
    return day + 5 * 3600, day + 3 * 3600


def test_a_due_schedule_is_sent_to_the_launch_queue_and_moves_on(api, template, queue_url):
    sched = _create(api, template)  # every minute
    report = _tick(sched["next_time"], queue_url)
    assert report.sent == [(sched["id"], sched["next_time"])]
    assert _sent(queue_url) == [{"schedule_id": sched["id"],
                                 "scheduled_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(sched["next_time"]))}]
    assert _get(api, sched["id"])["next_time"] == sched["next_time"] + 60


def test_a_tick_reads_only_what_is_due(api, template, queue_url):
    early = _create(api, template)
    later = _create(api, template, minute="0", hour="3")
    report = _tick(early["next_time"], queue_url)
    assert report.due == 1 and [s for s, _ in report.sent] == [early["id"]]
    assert _get(api, later["id"])["next_time"] == later["next_time"]


def test_a_disabled_schedule_is_not_due(api, template, queue_url):
    _create(api, template, enabled=0)
    assert _tick(int(time.time()) + 120, queue_url).due == 0


def test_a_second_tick_at_the_same_time_sends_nothing_more(api, template, queue_url):
    sched = _create(api, template)
    _tick(sched["next_time"], queue_url)
    assert _tick(sched["next_time"], queue_url).sent == []


def test_missed_runs_are_skipped_after_a_restart_by_default(api, template, queue_url):
    now, today_3am = _daily_3am_after(3)
    sched = _create(api, template, minute="0", hour="3")
    _set_next(sched["id"], today_3am - DAY)
    report = _tick(now, queue_url)
    assert report.sent == [] and report.missed == {sched["id"]: 2}
    after = _get(api, sched["id"])
    assert after["next_time"] == today_3am + DAY
    assert "missed 2 due time(s)" in after["last_result"] and "skip" in after["last_result"]


def test_run_once_runs_the_latest_missed_time_within_max_delay(api, template, queue_url):
    now, today_3am = _daily_3am_after(3)
    sched = _create(api, template, minute="0", hour="3", missed_run_policy="run_once", max_delay=3 * 3600)
    _set_next(sched["id"], today_3am - DAY)
    report = _tick(now, queue_url)
    assert report.sent == [(sched["id"], today_3am)], "once, for the latest due time, not for each missed one"
    assert report.missed == {sched["id"]: 1}
    assert "ran the latest" in _get(api, sched["id"])["last_result"]


def test_run_once_never_starts_a_run_later_than_max_delay(api, template, queue_url):
    now, today_3am = _daily_3am_after(3)
    sched = _create(api, template, minute="0", hour="3", missed_run_policy="run_once", max_delay=3600)
    _set_next(sched["id"], today_3am)
    report = _tick(now, queue_url)  # two hours late
    assert report.sent == [] and report.missed == {sched["id"]: 1}


def test_a_long_outage_of_a_minutely_schedule_is_counted_not_replayed(api, template, queue_url):
    sched = _create(api, template, missed_run_policy="run_once")
    now = sched["next_time"] + 2 * DAY + 10
    report = _tick(now, queue_url)
    assert len(report.sent) == 1 and report.sent[0][1] == now - 10
    assert report.missed[sched["id"]] >= 2 * 24 * 60 - 1


def test_a_schedule_past_its_end_time_is_due_no_more(api, template, queue_url):
    start = int(time.time())
    sched = _create(api, template, end_time=start + 150)  # two or three more minutes
    now = sched["next_time"]
    while _get(api, sched["id"])["next_time"] is not None:
        assert _tick(now, queue_url).sent, "each due minute before end_time is sent"
        now = _get(api, sched["id"])["next_time"] or now
    assert _tick(start + 10 * 60, queue_url).due == 0


def test_tick_cost_follows_the_due_schedules_not_the_stored_ones(api, template, queue_url, monkeypatch):
    from pynamodb.connection.base import Connection

    for _ in range(30):
        _create(api, template, minute="0", hour="3")
    due = _create(api, template)
    calls: list[str] = []
    original = Connection.dispatch

    def counted(self, operation_name, operation_kwargs, *args, **kwargs):
        calls.append(operation_name)
        return original(self, operation_name, operation_kwargs, *args, **kwargs)

    monkeypatch.setattr(Connection, "dispatch", counted)
    report = _tick(due["next_time"], queue_url)
    assert report.due == 1
    assert "Scan" not in calls and calls.count("Query") == 1, calls
    assert len(calls) <= 3, f"one query, then one write per due schedule: {calls}"


def test_a_schedule_restored_from_the_local_snapshot_is_still_due(api, template, queue_url, tmp_path):
    """What a restart of the local stack sees: the `due` index rebuilt from the snapshot."""
    from moto.core.base_backend import BackendDict

    from chalicelib.local import snapshot
    from chalicelib.local.provision import provision

    sched = _create(api, template)
    snap = snapshot.Snapshotter(tmp_path)
    snap.flush()
    snap.stop()
    BackendDict.reset()
    aws.reset()
    provision()
    assert snapshot.restore(tmp_path)
    url = aws.client("sqs").get_queue_url(QueueName=STACK.queue(STACK.LAUNCH_QUEUE).name)["QueueUrl"]
    assert _tick(sched["next_time"], url).sent == [(sched["id"], sched["next_time"])]


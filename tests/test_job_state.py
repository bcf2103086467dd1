"""Job state rules that need no runner: final states are final, keep_days sets a TTL."""
from __future__ import annotations

import datetime
import time

import pytest

from chalicelib.models import Record
from chalicelib.services import jobs, store
from chalicelib.services.resources import get


def _job(**fields) -> dict:
    return store.create(get("job"), {"state": "running", "kind": "adhoc", "module": "ping", **fields})


def test_keep_days_gives_a_finished_job_a_dynamodb_ttl(api):
    api.post("/api/system/system/jobsettings/", {"workspace": "/tmp", "job_timeout": 0, "idle_timeout": 0,
                                                 "keep_days": 2})
    job = _job()
    jobs.finish(job["id"], "successful")
    expires = Record.get("job", job["id"]).expires.timestamp()
    assert abs(expires - (time.time() + 2 * 86400)) < 60


def test_without_keep_days_a_finished_job_never_expires(api):
    job = _job()
    jobs.finish(job["id"], "successful")
    assert Record.get("job", job["id"]).expires is None


def test_a_final_state_is_not_overwritten_by_a_late_report(api):
    job = _job()
    jobs.finish(job["id"], "canceled", "canceled by a user")
    jobs.finish(job["id"], "failed", "runner lost")
    final = store.get("job", job["id"])
    assert (final["state"], final["reason"]) == ("canceled", "canceled by a user")


def test_a_finished_job_shows_awx_started_finished_and_elapsed(api):
    job = store.create(get("job"), {"state": "waiting", "kind": "adhoc", "module": "ping"})
    jobs.mutate(job["id"], jobs.running)
    time.sleep(0.05)
    jobs.finish(job["id"], "successful")
    shown = api.get(f"/api/job/job/{job['id']}/").data
    started = datetime.datetime.fromisoformat(shown["started"])
    finished = datetime.datetime.fromisoformat(shown["finished"])
    assert shown["started"].endswith("Z") and started.tzinfo is not None
    assert shown["elapsed"] == pytest.approx((finished - started).total_seconds(), abs=0.002)
    assert shown["elapsed"] >= 0.05
    assert (shown["start_time"], shown["finish_time"]) == (int(started.timestamp()), int(finished.timestamp()))


def test_a_job_that_never_started_has_no_started_time_and_zero_elapsed(api):
    job = _job(state="waiting")
    jobs.finish(job["id"], "canceled", "canceled before it started")
    shown = api.get(f"/api/job/job/{job['id']}/").data
    assert shown["started"] is None and shown["finished"] and shown["elapsed"] == 0.0


def test_fail_unfinished_fails_only_jobs_not_in_a_final_state(api):
    unfinished = [_job(state=state)["id"] for state in ("new", "waiting", "running")]
    done = _job(state="successful")
    assert sorted(jobs.fail_unfinished("the stack stopped")) == sorted(unfinished)
    assert {store.get("job", i)["reason"] for i in unfinished} == {"the stack stopped"}
    assert {store.get("job", i)["state"] for i in unfinished} == {"failed"}
    assert store.get("job", done["id"])["state"] == "successful"

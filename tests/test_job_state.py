"""Job state rules that need no runner: final states are final, keep_days sets a TTL."""
from __future__ import annotations

import time

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

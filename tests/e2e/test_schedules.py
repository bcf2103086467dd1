"""Schedules end to end: the local stack's ticker fires a real schedule into a real job.

moto stores EventBridge Scheduler schedules but never fires them; the ticker reads what is due
and sends the launch queue the message Scheduler would, and the launch handler runs the same
code as on AWS."""
from __future__ import annotations

import time

import pytest

pytestmark = pytest.mark.e2e

PLAYBOOK = """- hosts: all
  gather_facts: false
  tasks:
    - debug: {msg: "scheduled run"}
"""


@pytest.fixture(scope="module")
def template(stack, tmp_path_factory):
    return stack.playbook_templates(tmp_path_factory.mktemp("schedules"), {"tick.yml": PLAYBOOK}, "scheduled")["tick.yml"]


def _jobs_of(stack, schedule_id: int) -> list[dict]:
    return stack.http("GET", f"/api/job/job/?schedule={schedule_id}").json()["results"]


def test_the_ticker_fires_a_schedule_into_a_real_job_at_its_time(stack, template):
    """A one-time (`date`) schedule a few seconds ahead: the same ticker, launch queue and launch
    handler as a cron schedule's (whose rules tests/test_schedule_timing.py checks), without
    waiting up to a minute for a cron boundary."""
    start = int(time.time()) + 3
    r = stack.http("POST", "/api/job/schedule/", json={"name": "in three seconds", "template": template["id"],
                                                       "type": "date", "start_time": start})
    assert r.status_code == 201, r.text
    schedule = r.json()
    assert schedule["next_time"] == start
    deadline = start + 30
    jobs = []
    while not jobs and time.time() < deadline:
        time.sleep(0.2)
        jobs = _jobs_of(stack, schedule["id"])
    assert len(jobs) == 1, "one job for the due time"
    job = jobs[0]
    assert job["ctime"] - start <= 1, "the job exists within 2 s of its time"
    assert job["schedule_name"] == "in three seconds"
    assert stack.wait_job(job["id"])["state"] == "successful"
    after = stack.http("GET", f"/api/job/schedule/{schedule['id']}/").json()
    assert after["last_time"] == start and after["last_job"] == job["id"]
    assert f"launched job {job['id']}" in after["last_result"]
    assert after["next_time"] is None, "a date schedule runs once"

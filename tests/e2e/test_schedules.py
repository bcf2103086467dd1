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
    return stack.playbook_templates(tmp_path_factory.mktemp("schedules"), {"tick.yml": PLAYBOOK}, "every minute")["tick.yml"]


def _jobs_of(stack, schedule_id: int) -> list[dict]:
    return stack.http("GET", f"/api/job/job/?schedule={schedule_id}").json()["results"]


def test_the_ticker_fires_an_every_minute_schedule_into_a_real_job_on_the_minute(stack, template):
    if 60 - time.time() % 60 < 3:
        time.sleep(4)  # the first due minute must come after the schedule exists
    r = stack.http("POST", "/api/job/schedule/", json={"name": "every minute", "template": template["id"], "type": "cron"})
    assert r.status_code == 201, r.text
    schedule = r.json()
    due = schedule["next_time"]
    assert due % 60 == 0 and due > time.time()
    deadline = due + 30
    jobs = []
    while not jobs and time.time() < deadline:
        time.sleep(0.2)
        jobs = _jobs_of(stack, schedule["id"])
    stack.http("PATCH", f"/api/job/schedule/{schedule['id']}/", json={"enabled": 0})  # one run is enough
    assert len(jobs) == 1, "one job for the due minute"
    job = jobs[0]
    assert job["ctime"] - due <= 1, "the job exists within 2 s of its minute"
    assert job["schedule_name"] == "every minute"
    assert stack.wait_job(job["id"])["state"] == "successful"
    after = stack.http("GET", f"/api/job/schedule/{schedule['id']}/").json()
    assert after["last_time"] == due and after["last_job"] == job["id"]
    assert f"launched job {job['id']}" in after["last_result"]

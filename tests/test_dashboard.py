"""`GET /api/dashboard/`: the numbers equal what the lists say, job figures follow finished jobs
once each, and the request costs the same however many jobs there are."""
from __future__ import annotations

import datetime
import time

import pytest

from bench.calls import CallCounter
from chalicelib.services import job_stats, jobs, rbac, store
from chalicelib.services.resources import get

DASHBOARD = "/api/dashboard/"
HOUR = 3600


def _template(api, template: dict, name: str) -> dict:
    r = api.post("/api/template/template/", {"name": name, "project": template["project"], "playbook": "site.yml",
                                             "inventory": template["inventory"]})
    assert r.status_code == 201, r.body
    return r.data


def _job(template_id: int | None = None, state: str = "running", launcher: dict | None = None) -> dict:
    job = store.create(get("job"), {"state": state, "kind": "job" if template_id else "adhoc", "template": template_id,
                                    "module": "" if template_id else "ping"})
    if launcher is not None:
        rbac.grant_creator_admin(rbac.Principal(user=launcher), "job", job["id"])
    return job


def _finished(template_id: int | None, state: str, launcher: dict | None = None) -> dict:
    job = _job(template_id, launcher=launcher)
    return jobs.finish(job["id"], state)


def _today(dashboard: dict) -> dict:
    today = datetime.datetime.now(datetime.UTC).date().isoformat()
    day = dashboard["success_rate"]["daily"][-1]
    assert day["date"] == today
    return day


def test_counts_equal_what_the_list_endpoints_report(api, template):
    api.post("/api/project/host/", {"inventory": template["inventory"], "hostname": "web1"})
    api.post("/api/project/host/", {"inventory": template["inventory"], "hostname": "web2"})
    assert api.post("/api/project/credential/", {"name": "ssh", "type": "user_pwd", "user_name": "root", "password": "pw"}).status_code == 201
    _finished(template["id"], "successful")
    _job(template["id"], state="waiting")
    shown = api.get(DASHBOARD)
    assert shown.status_code == 200, shown.body
    paths = {"hosts": "/api/project/host/", "inventories": "/api/project/inventory/",
             "projects": "/api/project/project/", "templates": "/api/template/template/",
             "credentials": "/api/project/credential/", "schedules": "/api/job/schedule/",
             "users": "/api/system/user/", "teams": "/api/system/team/"}
    assert shown.data["counts"] == {key: api.get(path).data["count"] for key, path in paths.items()}
    by_state = {state: api.get(f"/api/job/job/?state={state}").data["count"] for state in jobs.JobState}
    assert shown.data["jobs"] == {**by_state, "total": api.get("/api/job/job/").data["count"]}
    assert (shown.data["jobs"]["successful"], shown.data["jobs"]["waiting"]) == (1, 1)


def test_finishing_jobs_updates_the_day_and_the_success_rate(api, template):
    for state in ("successful", "successful", "successful", "failed", "canceled"):
        _finished(template["id"], state)
    _finished(None, "failed")  # an ad-hoc command counts in the installation's figures too
    day = _today(api.get(DASHBOARD).data)
    assert (day["successful"], day["failed"], day["canceled"], day["total"]) == (3, 2, 1, 6)
    assert day["rate"] == pytest.approx(3 / 5)


def test_days_without_jobs_show_zero_and_no_rate(api):
    rate = api.get(DASHBOARD).data["success_rate"]
    assert rate["days"] == 30 and len(rate["daily"]) == 30
    assert {(d["total"], d["rate"]) for d in rate["daily"]} == {(0, None)}
    dates = [d["date"] for d in rate["daily"]]
    assert dates == sorted(dates)


def test_a_duplicate_final_transition_does_not_count_twice(api, template):
    job = _job(template["id"])
    jobs.finish(job["id"], "failed", "runner lost")
    jobs.finish(job["id"], "failed", "runner lost")  # the same report delivered again
    jobs.finish(job["id"], "successful")  # a late runner
    shown = api.get(DASHBOARD).data
    day = _today(shown)
    assert (day["successful"], day["failed"]) == (0, 1)
    assert [(t["id"], t["failures"], t["runs"]) for t in shown["failing_templates"]] == [(template["id"], 1, 1)]
    assert shown["jobs"]["failed"] == 1


def test_a_transition_that_loses_a_race_is_counted_by_the_winner_only(api, template):
    job = _job(template["id"])
    stale = store.get("job", job["id"])
    jobs.finish(job["id"], "canceled")
    # a writer holding the job as it was before: its write conflicts, it reads again, sees it final
    store.mutate(get("job"), job["id"], lambda j: False if j.get("state") in jobs.FINAL else j.update(state="failed"),
                 current=stale, tallies=job_stats.finish_tallies)
    day = _today(api.get(DASHBOARD).data)
    assert (day["canceled"], day["failed"]) == (1, 0)


def test_templates_that_fail_most_come_first(api, template):
    flaky = _template(api, template, "flaky")
    broken = _template(api, template, "broken")
    for state in ("failed", "successful", "successful"):
        _finished(flaky["id"], state)
    for state in ("failed", "failed", "failed", "successful"):
        _finished(broken["id"], state)
    _finished(template["id"], "successful")
    ranking = api.get(DASHBOARD).data["failing_templates"]
    assert [(t["name"], t["failures"], t["runs"]) for t in ranking] == [("broken", 3, 4), ("flaky", 1, 3)]
    assert abs(ranking[0]["last_failure"] - time.time()) < 60
    assert ranking[0]["rate"] == pytest.approx(0.25)


def test_a_deleted_template_leaves_the_ranking(api, template):
    gone = _template(api, template, "gone")
    _finished(gone["id"], "failed")
    assert api.delete(f"/api/template/template/{gone['id']}/").status_code == 204
    assert api.get(DASHBOARD).data["failing_templates"] == []


def test_recent_jobs_are_the_ten_newest(api, template):
    ids = [_finished(template["id"], "successful")["id"] for _ in range(12)]
    recent = api.get(DASHBOARD).data["recent_jobs"]
    assert [j["id"] for j in recent] == ids[::-1][:10]
    assert recent[0]["template_name"] == "deploy" and recent[0]["state"] == "successful"


def _schedule(api, template: dict, name: str, in_hours: int, enabled: int = 1) -> dict:
    r = api.post("/api/job/schedule/", {"name": name, "template": template["id"], "type": "date",
                                        "start_time": int(time.time()) + in_hours * HOUR, "enabled": enabled})
    assert r.status_code == 201, r.body
    return r.data


def test_upcoming_runs_are_the_soonest_enabled_schedules_first(api, template):
    later = _schedule(api, template, "later", 5)
    soon = _schedule(api, template, "soon", 1)
    _schedule(api, template, "off", 2, enabled=0)
    middle = _schedule(api, template, "middle", 3)
    upcoming = api.get(DASHBOARD).data["upcoming"]
    assert [s["id"] for s in upcoming] == [soon["id"], middle["id"], later["id"]]
    assert upcoming[0]["template_name"] == "deploy" and upcoming[0]["next_time"] == soon["next_time"]


def test_a_user_sees_only_the_jobs_and_templates_granted_to_them(api, make_user, template):
    reader, as_reader = make_user()
    mine = _template(api, template, "mine")
    assert api.post("/api/template/template/permission/users/",
                    {"username": reader["id"], "data": mine["id"], "permission": "read"}).status_code == 201
    _finished(template["id"], "failed")  # not theirs
    _finished(template["id"], "successful")
    visible = _finished(mine["id"], "failed")
    _schedule(api, template, "not theirs", 1)
    shown = as_reader.get(DASHBOARD)
    assert shown.status_code == 200, shown.body
    data = shown.data
    assert data["scope"] == "granted"
    assert (data["counts"]["templates"], data["counts"]["inventories"], data["counts"]["users"]) == (1, 0, None)
    assert data["counts"]["templates"] == as_reader.get("/api/template/template/").data["count"]
    assert [j["id"] for j in data["recent_jobs"]] == [visible["id"]]
    assert [t["name"] for t in data["failing_templates"]] == ["mine"]
    assert (data["jobs"]["failed"], data["jobs"]["successful"], data["jobs"]["total"]) == (1, 0, 1)
    day = _today(data)
    assert (day["failed"], day["successful"]) == (1, 0)
    assert data["upcoming"] == []


def test_the_dashboard_needs_a_token(anon):
    assert anon.get(DASHBOARD).status_code == 401


def test_latest_operations_are_the_callers_own_newest_first(api, make_user):
    _, as_user = make_user()
    api.post("/api/project/inventory/", {"name": "first"})
    api.post("/api/project/inventory/", {"name": "second"})
    as_user.post("/api/project/inventory/", {"name": "theirs"})
    mine = api.get(DASHBOARD).data["activity"]
    theirs = as_user.get(DASHBOARD).data["activity"]
    assert [e.get("object_name") for e in mine if e.get("family") == "inventory"][:2] == ["second", "first"]
    assert "theirs" not in [e.get("object_name") for e in mine]
    assert [e.get("object_name") for e in theirs if e.get("family") == "inventory"] == ["theirs"]


def test_backfill_counts_jobs_that_finished_before_the_figures_once(api, template):
    old = store.create(get("job"), {"state": "failed", "kind": "job", "template": template["id"],
                                    "finish_time": int(time.time()) - 2 * 86400})
    _finished(template["id"], "successful")  # counted as it finished: not again
    assert job_stats.backfill() == 1
    assert job_stats.backfill() == 0
    shown = api.get(DASHBOARD).data
    days = shown["success_rate"]["daily"]
    assert (days[-3]["failed"], days[-1]["successful"], shown["success_rate"]["failed"]) == (1, 1, 1)
    assert [(t["id"], t["failures"], t["runs"], t["last_failure"]) for t in shown["failing_templates"]] == \
        [(template["id"], 1, 2, old["finish_time"])]


def _calls_per_request(api, counter: CallCounter) -> int:
    api.get(DASHBOARD)  # warm: first-use lookups (table descriptions) are not per request
    counter.reset()
    assert api.get(DASHBOARD).status_code == 200
    return sum(counter.dynamodb().values())


def test_the_request_costs_the_same_with_10_and_200_finished_jobs(api, template):
    other = _template(api, template, "other")
    counter = CallCounter()
    counter.install()
    try:
        for n in range(10):
            _finished((template, other)[n % 2]["id"], ("successful", "failed", "canceled")[n % 3])
        few = _calls_per_request(api, counter)
        for n in range(190):
            _finished((template, other)[n % 2]["id"], ("successful", "failed", "canceled")[n % 3])
        many = _calls_per_request(api, counter)
    finally:
        counter.uninstall()
    assert few == many
    assert api.get(DASHBOARD).data["jobs"]["total"] == 200


def test_a_full_dashboard_answers_what_the_document_says(api, template):
    from tests.test_openapi import _check_against_document

    _finished(template["id"], "failed")
    _finished(None, "successful")
    _schedule(api, template, "soon", 1)
    document = api.get("/api/openapi.json").data
    assert _check_against_document(document, api, DASHBOARD) == 200


def test_a_users_recent_jobs_are_the_first_ten_the_jobs_list_shows_them(api, make_user, template):
    reader, as_reader = make_user()
    mine = _template(api, template, "mine")
    assert api.post("/api/template/template/permission/users/",
                    {"username": reader["id"], "data": mine["id"], "permission": "read"}).status_code == 201
    for n in range(30):  # theirs, launched by them, and others' in between
        if n % 3 == 0:
            _finished(mine["id"], "successful")
        elif n % 3 == 1:
            _finished(None, "failed", launcher=reader)
        else:
            _finished(template["id"], "successful")
    listed = as_reader.get("/api/job/job/?limit=10").data["results"]
    assert len(listed) == 10
    assert as_reader.get(DASHBOARD).data["recent_jobs"] == listed


def test_a_users_request_costs_the_same_with_10_and_60_finished_jobs(api, make_user, template):
    reader, as_reader = make_user()
    assert api.post("/api/template/template/permission/users/",
                    {"username": reader["id"], "data": template["id"], "permission": "read"}).status_code == 201
    counter = CallCounter()
    counter.install()
    try:
        for n in range(10):
            _finished(template["id"] if n % 2 else None, ("successful", "failed")[n % 2], launcher=reader)
        few = _calls_per_request(as_reader, counter)
        for n in range(50):
            _finished(template["id"] if n % 2 else None, ("successful", "failed")[n % 2], launcher=reader)
        many = _calls_per_request(as_reader, counter)
    finally:
        counter.uninstall()
    assert few == many

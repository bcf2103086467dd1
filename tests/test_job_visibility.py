"""Who sees a job (AWX): whoever launched it, superusers, and whoever may read its template."""
from __future__ import annotations

from chalicelib.services import rbac, store
from chalicelib.services.resources import get

TEMPLATE_USERS = "/api/template/template/permission/users/"


def _job(template_id: int | None, launcher: dict | None = None) -> dict:
    job = store.create(get("job"), {"state": "successful", "kind": "job", "template": template_id,
                                    "playbook": "site.yml"})
    if launcher is not None:
        rbac.grant_creator_admin(rbac.Principal(user=launcher), "job", job["id"])
    store.create(get("job_host_summary"), {"job": job["id"], "host": "web1", "ok": 1})
    return job


def _grant(api, template: dict, user: dict, permission: str) -> None:
    r = api.post(TEMPLATE_USERS, {"username": user["id"], "data": template["id"], "permission": permission})
    assert r.status_code == 201, r.body


def test_a_reader_of_a_template_sees_its_jobs_and_their_output(api, make_user, template):
    reader, as_reader = make_user()
    _grant(api, template, reader, "read")
    job = _job(template["id"])
    assert as_reader.get(f"/api/job/job/{job['id']}/").status_code == 200
    assert [j["id"] for j in as_reader.get("/api/job/job/").data["results"]] == [job["id"]]
    summaries = as_reader.get(f"/api/job/job/{job['id']}/host_summaries/")
    assert summaries.status_code == 200, summaries.body
    assert [s["host"] for s in summaries.data["results"]] == ["web1"]


def test_a_user_without_access_to_the_template_does_not_see_its_jobs(api, make_user, template):
    _, as_stranger = make_user()
    job = _job(template["id"])
    assert as_stranger.get(f"/api/job/job/{job['id']}/").status_code == 403
    assert as_stranger.get("/api/job/job/").data["count"] == 0


def test_a_template_reader_sees_only_that_templates_jobs(api, make_user, template):
    reader, as_reader = make_user()
    _grant(api, template, reader, "read")
    other = api.post("/api/template/template/", {**{k: template[k] for k in ("project", "playbook", "inventory")},
                                                 "name": "other"}).data
    mine, theirs, adhoc = _job(template["id"]), _job(other["id"]), _job(None)
    assert [j["id"] for j in as_reader.get("/api/job/job/").data["results"]] == [mine["id"]]
    assert as_reader.get(f"/api/job/job/{theirs['id']}/").status_code == 403
    assert as_reader.get(f"/api/job/job/{adhoc['id']}/").status_code == 403


def test_the_launcher_sees_their_job_without_a_grant_on_the_template(api, make_user, template):
    launcher, as_launcher = make_user()
    job = _job(template["id"], launcher=launcher)
    assert as_launcher.get(f"/api/job/job/{job['id']}/").status_code == 200
    assert [j["id"] for j in as_launcher.get("/api/job/job/").data["results"]] == [job["id"]]


def test_reading_a_template_does_not_allow_canceling_its_jobs(api, make_user, template):
    reader, as_reader = make_user()
    _grant(api, template, reader, "read")
    job = store.create(get("job"), {"state": "running", "kind": "job", "template": template["id"]})
    assert as_reader.post(f"/api/job/job/{job['id']}/cancel/").status_code == 403

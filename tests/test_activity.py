"""The activity stream (`GET /api/system/activity/`): every kind of user action is recorded once,
with who, when, the object and the changed fields; secrets never appear; users read their own."""
from __future__ import annotations

import io
import json
import time

import pytest

from chalicelib.services import activity

ACTIVITY = "/api/system/activity/"
RUN = "/api/template/template/run/"
SECRET = "hunter2-plaintext-Zq9"


def entries(api, query: str = "") -> list[dict]:
    r = api.get(ACTIVITY + query)
    assert r.status_code == 200, r.body
    return r.data["results"]


def of(api, action: str, family: str | None = None, query: str = "") -> list[dict]:
    rows = entries(api, f"?action={action}&limit=200" + query)
    return [e for e in rows if family is None or e["family"] == family]


@pytest.fixture
def log_output():
    """What the activity logger writes during the test, at INFO (its Powertools handler keeps the
    stdout it saw at import, so the stream is swapped rather than captured)."""
    buffer = io.StringIO()
    handler = activity.logger.registered_handler
    old_stream = handler.setStream(buffer)
    old_level = activity.logger.log_level
    activity.logger.setLevel("INFO")
    yield buffer
    activity.logger.setLevel(old_level)
    handler.setStream(old_stream)


def log_lines(buffer: io.StringIO) -> list[dict]:
    return [json.loads(line) for line in buffer.getvalue().splitlines() if line.strip()]


# ---------------------------------------------------------------- what is recorded


def test_a_create_is_recorded_once_with_who_when_the_object_and_its_fields(api):
    before = int(time.time())
    inv = api.post("/api/project/inventory/", {"name": "web", "description": "front"}).data
    [entry] = of(api, "create", "inventory")
    assert (entry["user"], entry["user_name"], entry["object"], entry["object_name"]) == (1, "admin", inv["id"], "web")
    assert entry["changes"] == {"name": "web", "description": "front"}
    assert before <= entry["ctime"] <= int(time.time())
    assert entry["timestamp"].startswith(time.strftime("%Y-%m-%dT", time.gmtime(entry["ctime"])))
    assert entry["timestamp"].endswith("Z")


def test_an_update_is_recorded_once_with_only_the_fields_it_changed(api):
    inv = api.post("/api/project/inventory/", {"name": "web", "description": "front"}).data
    api.patch(f"/api/project/inventory/{inv['id']}/", {"description": "back", "name": "web"})
    [entry] = of(api, "update", "inventory")
    assert entry["object"] == inv["id"] and entry["changes"] == {"description": "back"}


def test_a_delete_is_recorded_once_with_what_it_took_along(api):
    inv = api.post("/api/project/inventory/", {"name": "web"}).data
    api.post("/api/project/host/", {"inventory": inv["id"], "hostname": "a"})
    api.post("/api/project/host/", {"inventory": inv["id"], "hostname": "b"})
    assert api.delete(f"/api/project/inventory/{inv['id']}/").status_code == 204
    [entry] = of(api, "delete")
    assert (entry["family"], entry["object"], entry["object_name"]) == ("inventory", inv["id"], "web")
    assert entry["changes"]["deleted_with"]["host"] == 2


def test_a_bulk_delete_records_each_requested_record(api):
    ids = [api.post("/api/system/tag/", {"tag": n}).data["id"] for n in ("a", "b")]
    assert api.delete("/api/system/tag/", {"pk": ",".join(map(str, ids))}).status_code == 200
    assert sorted(e["object"] for e in of(api, "delete", "tag")) == sorted(ids)


def test_a_grant_and_its_revocation_are_recorded_with_the_grantee_and_the_object(api, make_user):
    bob, _ = make_user("bob")
    inv = api.post("/api/project/inventory/", {"name": "web"}).data
    grant = api.post("/api/project/inventory/authorized/users/",
                     {"username": bob["id"], "data": inv["id"], "permission": "read"}).data
    [granted] = of(api, "grant")
    assert (granted["family"], granted["object"], granted["object_name"]) == ("inventory", inv["id"], "web")
    assert granted["changes"]["username"] == bob["id"] and granted["changes"]["permission"] == "read"
    assert api.delete(f"/api/project/inventory/authorized/users/{grant['id']}/").status_code == 204
    [revoked] = of(api, "revoke")
    assert (revoked["family"], revoked["object"], revoked["changes"]["username"]) == ("inventory", inv["id"], bob["id"])
    assert of(api, "create", "grant.inventory.user") == [] and of(api, "delete", "grant.inventory.user") == []


def test_the_creators_admin_grant_is_part_of_the_create_not_an_entry(api, make_user):
    _, as_bob = make_user("bob")
    assert as_bob.post("/api/project/inventory/", {"name": "mine"}).status_code == 201
    assert [e["action"] for e in entries(as_bob)] == ["create", "login"]
    assert of(api, "grant") == []


def test_a_launch_a_relaunch_and_a_cancel_are_recorded_once_each(api, template):
    job = api.post(RUN, {"id": template["id"]}).data
    again = api.post(f"/api/job/job/{job['id']}/relaunch/", {"hosts": "all"}).data
    assert api.post(f"/api/job/job/{job['id']}/cancel/").status_code == 202
    [launched] = of(api, "launch")
    assert (launched["family"], launched["object"], launched["object_name"]) == ("job", job["id"], "deploy")
    assert launched["changes"]["template"] == template["id"] and launched["changes"]["kind"] == "job"
    [relaunched] = of(api, "relaunch")
    assert relaunched["object"] == again["id"] and relaunched["changes"]["relaunch_of"] == job["id"]
    [canceled] = of(api, "cancel")
    assert (canceled["family"], canceled["object"]) == ("job", job["id"])


def test_a_project_sync_is_a_launch_of_its_sync_job(api):
    project = api.post("/api/project/project/", {"name": "site", "repository_url": "file:///srv/site.git"}).data
    job = api.post(f"/api/project/project/{project['id']}/sync/").data
    [launched] = of(api, "launch")
    assert launched["object"] == job["id"] and launched["changes"]["project"] == project["id"]
    assert launched["changes"]["kind"] == "project_update"


def test_a_login_is_recorded_and_a_wrong_password_is_marked_failed(api, anon, make_user):
    bob, as_bob = make_user("bob")  # logs in once
    assert anon.post("/api/auth/token/", {"username": "bob", "password": "wrong-password"}).status_code == 400
    assert anon.post("/api/auth/token/", {"username": "nobody", "password": "wrong-password"}).status_code == 400
    logins = of(api, "login")
    assert [(e["user"], e["family"], e["object"], e["changes"]) for e in logins] == [
        (bob["id"], "user", bob["id"], {"failed": 1}), (bob["id"], "user", bob["id"], {})]
    assert "wrong-password" not in json.dumps(entries(api, "?limit=200"))


def test_a_user_created_with_a_password_shows_it_encrypted(api, make_user):
    bob, _ = make_user("bob")
    [entry] = of(api, "create", "user")
    assert entry["changes"]["password"] == "$encrypted$" and entry["changes"]["username"] == "bob"
    assert "s3cret-pass" not in json.dumps(entries(api, "?limit=200"))


def test_a_credentials_secret_is_encrypted_in_entries_and_log_lines(api, log_output):
    cred = api.post("/api/project/credential/", {"name": "ssh", "type": "ssh", "user_name": "root",
                                                 "password": SECRET}).data
    api.patch(f"/api/project/credential/{cred['id']}/", {"password": SECRET + "-2"})
    api.delete(f"/api/project/credential/{cred['id']}/")
    created = of(api, "create", "credential")[0]
    updated = of(api, "update", "credential")[0]
    assert created["changes"]["password"] == updated["changes"]["password"] == "$encrypted$"
    assert SECRET not in json.dumps(entries(api, "?limit=200"))
    lines = [line for line in log_lines(log_output) if line.get("activity")]
    assert {line["action"] for line in lines} >= {"create", "update", "delete"}
    assert SECRET not in log_output.getvalue()


def test_each_entry_is_one_structured_log_line(api, log_output):
    inv = api.post("/api/project/inventory/", {"name": "web"}).data
    lines = [line for line in log_lines(log_output) if line.get("activity")]
    assert len(lines) == 1
    line = lines[0]
    assert line["message"] == "activity" and line["level"] == "INFO"
    assert (line["action"], line["family"], line["object"], line["user_name"]) == ("create", "inventory", inv["id"], "admin")
    assert line["id"] == entries(api)[0]["id"]


def test_a_failed_write_of_an_entry_does_not_fail_the_action_and_is_logged(api, log_output, monkeypatch):
    create = activity.store.create

    def broken(resource, rec):
        if resource.family == "activity":
            raise RuntimeError("table unavailable")
        return create(resource, rec)

    monkeypatch.setattr(activity.store, "create", broken)
    assert api.post("/api/system/tag/", {"tag": "kept"}).status_code == 201
    monkeypatch.undo()
    [line] = [line for line in log_lines(log_output) if line.get("activity")]
    assert line["level"] == "ERROR" and line["message"] == "activity entry not stored"
    assert (line["action"], line["family"], line["object_name"]) == ("create", "tag", "kept")


# ---------------------------------------------------------------- who sees what


def test_a_user_sees_only_their_own_entries(api, make_user):
    bob, as_bob = make_user("bob")
    carol, as_carol = make_user("carol")
    as_bob.post("/api/project/inventory/", {"name": "bobs"})
    as_carol.post("/api/project/inventory/", {"name": "carols"})
    assert {e["user"] for e in entries(as_bob)} == {bob["id"]}
    assert [e["object_name"] for e in of(as_bob, "create")] == ["bobs"]
    assert entries(as_bob, f"?user={carol['id']}") == [] and entries(as_bob, "?user=carol") == []
    assert as_bob.get(ACTIVITY + "?user=carol").data["count"] == 0
    carols = entries(as_bob, "?family=inventory&object=2")
    assert carols == []


def test_a_superuser_sees_every_users_entries(api, make_user):
    bob, as_bob = make_user("bob")
    as_bob.post("/api/project/inventory/", {"name": "bobs"})
    api.post("/api/project/inventory/", {"name": "admins"})
    assert {e["user_name"] for e in of(api, "create", "inventory")} == {"bob", "admin"}


def test_the_stream_needs_a_token(anon):
    assert anon.get(ACTIVITY).status_code == 401


# ---------------------------------------------------------------- filters and paging


def test_filter_by_user_id_or_login(api, make_user):
    bob, as_bob = make_user("bob")
    as_bob.post("/api/project/inventory/", {"name": "bobs"})
    by_id, by_login = entries(api, f"?user={bob['id']}"), entries(api, "?user=bob")
    assert by_id == by_login and {e["user"] for e in by_id} == {bob["id"]} and len(by_id) == 2
    assert entries(api, "?user=nobody") == []


def test_filter_by_family_and_by_object(api):
    one = api.post("/api/project/inventory/", {"name": "one"}).data
    two = api.post("/api/project/inventory/", {"name": "two"}).data
    api.patch(f"/api/project/inventory/{one['id']}/", {"description": "d"})
    api.post("/api/system/tag/", {"tag": "t"})
    assert {e["family"] for e in entries(api, "?family=inventory")} == {"inventory"}
    assert len(entries(api, "?family=inventory")) == 3
    assert [e["action"] for e in entries(api, f"?family=inventory&object={one['id']}")] == ["update", "create"]
    assert [e["object"] for e in entries(api, f"?family=inventory&object={two['id']}")] == [two["id"]]


def test_filter_by_action_combines_with_the_others(api, make_user):
    bob, as_bob = make_user("bob")
    inv = as_bob.post("/api/project/inventory/", {"name": "bobs"}).data
    as_bob.patch(f"/api/project/inventory/{inv['id']}/", {"description": "d"})
    api.patch(f"/api/project/inventory/{inv['id']}/", {"description": "e"})
    r = api.get(ACTIVITY + f"?action=update&user={bob['id']}&family=inventory")
    assert r.data["count"] == 1 and r.data["results"][0]["changes"] == {"description": "d"}
    assert [e["user_name"] for e in entries(api, f"?action=update&family=inventory&object={inv['id']}")] == ["admin", "bob"]


def test_filter_by_time_epoch_seconds_or_iso(api, monkeypatch):
    clock = {"now": 1_800_000_000.25}
    monkeypatch.setattr(activity.time, "time", lambda: clock["now"])
    api.post("/api/system/tag/", {"tag": "early"})
    clock["now"] = 1_800_000_100.75
    api.post("/api/system/tag/", {"tag": "late"})
    names = lambda q: [e["object_name"] for e in entries(api, "?family=tag&" + q)]  # noqa: E731
    assert names("since=1800000050") == ["late"]
    assert names("until=1800000000") == ["early"]  # the whole second 1800000000
    assert names("ctime__gt=1800000000") == ["late"]
    assert names("ctime__lt=1800000100") == ["early"]
    assert names("ctime__lte=1800000100") == ["late", "early"]
    assert names("ctime__gt=2027-01-15T08:00:00Z") == ["late"]  # 1800000000: ISO to the second is a second
    iso_early = "2027-01-15T08:00:00.250000+00:00"  # 1800000000.25
    assert names(f"since={iso_early.replace('+', '%2B')}") == ["late", "early"]
    assert names("since=2027-01-15T08:00:00.251Z") == ["late"]
    assert names("until=2027-01-15") == ["late", "early"]  # a date is its whole day
    assert names("since=1800000050&until=1800000000") == []
    assert api.get(ACTIVITY + "?family=tag&since=1800000050").data["count"] == 1


@pytest.mark.parametrize(("query", "field"), [
    ("family=nope", "family"), ("object=3", "object"), ("family=inventory&object=abc", "object"),
    ("family=inventory&object=0", "object"), ("action=explode", "action"), ("since=yesterday", "since"),
    ("ctime__lt=12:00:99", "ctime__lt"), ("until=1e9", "until"), ("user=0", "user"), ("limit=-1", "limit"),
    ("offset=x", "offset"), ("user=" + "u" * 151, "user"),
])
def test_a_bad_filter_is_a_400_naming_it(api, query, field):
    r = api.get(ACTIVITY + "?" + query)
    assert r.status_code == 400, r.body
    assert r.data["detail"].startswith(field + ":"), r.data


def test_pages_come_newest_first_with_links(api):
    for n in range(5):
        api.post("/api/system/tag/", {"tag": f"t{n}"})
    first = api.get(ACTIVITY + "?family=tag&limit=2").data
    assert first["count"] == 5 and [e["object_name"] for e in first["results"]] == ["t4", "t3"]
    assert first["previous"] is None and "offset=2" in first["next"]
    second = api.get(ACTIVITY + "?family=tag&limit=2&offset=2").data
    assert [e["object_name"] for e in second["results"]] == ["t2", "t1"] and "offset=0" in second["previous"]
    last = api.get(ACTIVITY + "?family=tag&limit=2&offset=4").data
    assert [e["object_name"] for e in last["results"]] == ["t0"] and last["next"] is None
    ids = [e["id"] for e in entries(api, "?limit=200")]
    assert ids == sorted(ids, reverse=True)


def test_latest_gives_the_principals_own_newest_entries(api, make_user):
    from chalicelib.services.rbac import Principal

    bob, as_bob = make_user("bob")
    for n in range(3):
        as_bob.post("/api/project/inventory/", {"name": f"inv{n}"})
    api.post("/api/project/inventory/", {"name": "admins"})
    latest = activity.latest(Principal(bob), limit=2)
    assert [e["object_name"] for e in latest] == ["inv2", "inv1"]
    assert latest == entries(as_bob, "?limit=2")

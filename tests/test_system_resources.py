"""Spec §6: teams, team members, environment variables, Ansible modules, playbook tags and the
global job settings, with the spec's fields and rules."""
from __future__ import annotations

import pytest

TEAMS = "/api/system/team/"
MEMBERS = "/api/system/team/users/"
ENV = "/api/system/system/environment/variable/"
MODULES = "/api/system/system/module/"
TAGS = "/api/system/tag/"
SETTINGS = "/api/system/system/jobsettings/"

SPEC_MODULES = ["command", "yum", "pip", "service", "copy", "file", "script", "user", "group", "template",
                "unarchive", "mysql_db", "shell"]


def add_member(api, team: int, user) -> dict:
    r = api.post(MEMBERS, {"username": user, "team": team})
    assert r.status_code == 201, r.body
    return r.data


def team_users(api, team: int) -> list[dict]:
    return api.get(f"{TEAMS}{team}/").data["users"]


# ---------------------------------------------------------------- teams (§6.3)


def test_a_team_has_the_spec_fields(api):
    r = api.post(TEAMS, {"name": "ops", "description": "Operations"})
    assert r.data == {"id": r.data["id"], "name": "ops", "description": "Operations", "users": []}


def test_a_team_name_is_required_and_not_blank(api):
    assert api.post(TEAMS, {"description": "x"}).data["detail"].startswith("name:")
    assert api.post(TEAMS, {"name": ""}).data["detail"].startswith("name:")


def test_team_users_lists_the_members_with_their_last_names(api, make_user):
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    team = api.post(TEAMS, {"name": "ops"}).data["id"]
    add_member(api, team, alice["id"])
    add_member(api, team, bob["id"])
    expected = [{"username": alice["id"], "last_name": "Alice"}, {"username": bob["id"], "last_name": "Bob"}]
    assert team_users(api, team) == expected
    listed = api.get(TEAMS).data["results"][0]
    assert listed["users"] == expected


def test_team_users_drops_a_removed_member(api, make_user):
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    team = api.post(TEAMS, {"name": "ops"}).data["id"]
    membership = add_member(api, team, alice["id"])
    add_member(api, team, bob["id"])
    assert api.delete(f"{MEMBERS}{membership['id']}/").status_code == 204
    assert team_users(api, team) == [{"username": bob["id"], "last_name": "Bob"}]


def test_team_users_follows_a_member_moved_to_another_team(api, make_user):
    alice, _ = make_user("alice")
    first = api.post(TEAMS, {"name": "first"}).data["id"]
    second = api.post(TEAMS, {"name": "second"}).data["id"]
    membership = add_member(api, first, alice["id"])
    assert api.patch(f"{MEMBERS}{membership['id']}/", {"team": second}).status_code == 200
    assert team_users(api, first) == []
    assert [u["username"] for u in team_users(api, second)] == [alice["id"]]


def test_deleting_a_user_removes_them_from_their_teams(api, make_user):
    alice, _ = make_user("alice")
    team = api.post(TEAMS, {"name": "ops"}).data["id"]
    add_member(api, team, alice["id"])
    assert api.delete(f"/api/system/user/{alice['id']}/").status_code == 204
    assert team_users(api, team) == []
    assert api.get(MEMBERS).data["count"] == 0


def test_deleting_a_team_deletes_its_memberships(api, make_user):
    alice, _ = make_user("alice")
    team = api.post(TEAMS, {"name": "ops"}).data["id"]
    add_member(api, team, alice["id"])
    assert api.delete(f"{TEAMS}{team}/").status_code == 204
    assert api.get(MEMBERS).data["count"] == 0


def test_team_users_cannot_be_written_on_the_team(api, make_user):
    alice, _ = make_user("alice")
    r = api.post(TEAMS, {"name": "ops", "users": [{"username": alice["id"], "last_name": "Alice"}]})
    assert r.status_code == 201
    assert r.data["users"] == []


def test_team_users_show_a_members_new_last_name(api, make_user):
    alice, _ = make_user("alice")
    team = api.post(TEAMS, {"name": "ops"}).data["id"]
    add_member(api, team, alice["id"])
    assert api.patch(f"/api/system/user/{alice['id']}/", {"last_name": "Alicia"}).status_code == 200
    assert team_users(api, team) == [{"username": alice["id"], "last_name": "Alicia"}]


# ---------------------------------------------------------------- team members (§6.4)


def test_a_team_member_has_the_spec_fields(api, make_user):
    alice, _ = make_user("alice")
    team = api.post(TEAMS, {"name": "ops"}).data["id"]
    r = add_member(api, team, alice["id"])
    assert {k: r[k] for k in ("id", "username", "last_name", "team", "team_name")} == {
        "id": r["id"], "username": alice["id"], "last_name": "Alice", "team": team, "team_name": "ops"}


def test_a_team_member_can_be_given_by_login(api, make_user):
    alice, _ = make_user("alice")
    team = api.post(TEAMS, {"name": "ops"}).data["id"]
    assert add_member(api, team, "alice")["username"] == alice["id"]


@pytest.mark.parametrize("body,field", [({"username": 999, "team": "TEAM"}, "username"),
                                        ({"username": "nobody", "team": "TEAM"}, "username"),
                                        ({"username": "USER", "team": 999}, "team"),
                                        ({"username": "USER"}, "team")])
def test_a_membership_of_an_unknown_user_or_team_is_400_naming_the_field(api, make_user, body, field):
    alice, _ = make_user("alice")
    team = api.post(TEAMS, {"name": "ops"}).data["id"]
    body = {k: {"TEAM": team, "USER": alice["id"]}.get(v, v) for k, v in body.items()}
    r = api.post(MEMBERS, body)
    assert r.status_code == 400
    assert r.data["detail"].startswith(f"{field}:")


def test_a_user_is_in_a_team_only_once(api, make_user):
    alice, _ = make_user("alice")
    team = api.post(TEAMS, {"name": "ops"}).data["id"]
    add_member(api, team, alice["id"])
    assert api.post(MEMBERS, {"username": alice["id"], "team": team}).status_code == 400
    assert len(team_users(api, team)) == 1


def test_team_members_filter_by_team_and_by_username(api, make_user):
    alice, _ = make_user("alice")
    bob, _ = make_user("bob")
    first = api.post(TEAMS, {"name": "first"}).data["id"]
    second = api.post(TEAMS, {"name": "second"}).data["id"]
    add_member(api, first, alice["id"])
    add_member(api, first, bob["id"])
    add_member(api, second, alice["id"])
    assert api.get(f"{MEMBERS}?team={first}").data["count"] == 2
    rows = api.get(f"{MEMBERS}?username={alice['id']}").data["results"]
    assert sorted(row["team"] for row in rows) == [first, second]


# ---------------------------------------------------------------- environment variables (§6.2)


def test_an_environment_variable_has_the_spec_fields(api):
    r = api.post(ENV, {"name": "HTTP_PROXY", "value": "http://proxy:3128", "remark": "corporate proxy"})
    assert r.data == {"id": r.data["id"], "name": "HTTP_PROXY", "value": "http://proxy:3128",
                      "remark": "corporate proxy"}


def test_an_environment_variable_value_may_be_empty(api):
    r = api.post(ENV, {"name": "EMPTY"})
    assert r.status_code == 201
    assert r.data["value"] == ""


def test_an_environment_variable_name_must_be_a_valid_variable_name(api):
    for name in ("1ABC", "A-B", "A B", "A=B", "ÄB"):
        r = api.post(ENV, {"name": name, "value": "x"})
        assert r.status_code == 400, name
        assert r.data["detail"].startswith("name:")
    assert api.get(ENV).data["count"] == 0


def test_valid_environment_variable_names_are_accepted(api):
    for name in ("_X", "lower_case", "A1"):
        assert api.post(ENV, {"name": name, "value": "x"}).status_code == 201, name


def test_an_environment_variable_name_is_unique(api):
    api.post(ENV, {"name": "X", "value": "1"})
    r = api.post(ENV, {"name": "X", "value": "2"})
    assert r.status_code == 400
    assert r.data["detail"].startswith("name:")


# ---------------------------------------------------------------- modules (§6.5)


def test_the_13_spec_modules_are_seeded_in_the_spec_order(api):
    r = api.get(MODULES + "?limit=50")
    assert r.data["count"] == 13
    assert [row["name"] for row in r.data["results"]] == SPEC_MODULES
    ids = [row["id"] for row in r.data["results"]]
    assert ids == sorted(ids)
    assert all(row["weight"] == 0 and row["comment"] for row in r.data["results"])


def test_a_module_has_the_spec_fields(api):
    r = api.get(MODULES + "?name=command")
    assert r.data["results"] == [{"id": r.data["results"][0]["id"], "name": "command", "weight": 0,
                                  "comment": "Command"}]


def test_seeding_again_adds_no_modules(api):
    from chalicelib.services.catalog import system

    system.seed()
    assert api.get(MODULES).data["count"] == 13


def test_a_module_can_be_added_and_lists_after_the_seeded_ones(api):
    r = api.post(MODULES, {"name": "apt", "weight": 0, "comment": "Debian packages"})
    assert r.status_code == 201
    names = [row["name"] for row in api.get(MODULES + "?limit=50").data["results"]]
    assert names[-1] == "apt" and len(names) == 14


def test_a_module_name_is_unique(api):
    assert api.post(MODULES, {"name": "shell"}).data["detail"].startswith("name:")


# ---------------------------------------------------------------- tags (§6.6)


def test_a_tag_has_the_spec_fields_and_weight_defaults_to_0(api):
    r = api.post(TAGS, {"tag": "tomcat", "comment": "tomcat"})
    assert r.data == {"id": r.data["id"], "tag": "tomcat", "weight": 0, "comment": "tomcat"}


def test_tags_list_by_weight_largest_first_then_by_id(api):
    for tag, weight in (("git", 0), ("tomcat", 1), ("nginx", 0), ("spark", 2), ("dubbo", 0)):
        assert api.post(TAGS, {"tag": tag, "weight": weight}).status_code == 201
    assert [row["tag"] for row in api.get(TAGS).data["results"]] == ["spark", "tomcat", "git", "nginx", "dubbo"]


def test_tags_still_honour_an_explicit_ordering(api):
    for tag, weight in (("b", 0), ("a", 1)):
        api.post(TAGS, {"tag": tag, "weight": weight})
    assert [row["tag"] for row in api.get(TAGS + "?ordering=tag").data["results"]] == ["a", "b"]


# ---------------------------------------------------------------- job settings (§6.1)

SETTINGS_BODY = {"workspace": "/tmp", "job_timeout": 0, "idle_timeout": 30, "keep_days": 1}


def test_job_settings_have_the_spec_fields(api):
    r = api.post(SETTINGS, {**SETTINGS_BODY, "project_id": 3})
    assert r.status_code == 201, r.body
    assert r.data == {"id": r.data["id"], **SETTINGS_BODY, "project_id": 3}


def test_job_settings_project_id_is_optional(api):
    assert api.post(SETTINGS, SETTINGS_BODY).data["project_id"] is None


def test_there_is_one_job_settings_record_a_second_post_is_400(api):
    first = api.post(SETTINGS, SETTINGS_BODY)
    assert first.status_code == 201
    r = api.post(SETTINGS, {**SETTINGS_BODY, "workspace": "/var/tmp"})
    assert r.status_code == 400
    assert "detail" in r.data
    assert api.get(SETTINGS).data["count"] == 1


def test_job_settings_are_changed_in_place(api):
    rec = api.post(SETTINGS, SETTINGS_BODY).data
    r = api.patch(f"{SETTINGS}{rec['id']}/", {"idle_timeout": 60})
    assert r.data == {**rec, "idle_timeout": 60}


def test_job_settings_can_be_created_again_after_deleting_them(api):
    rec = api.post(SETTINGS, SETTINGS_BODY).data
    assert api.delete(f"{SETTINGS}{rec['id']}/").status_code == 204
    assert api.post(SETTINGS, SETTINGS_BODY).status_code == 201


def test_every_job_setting_is_required(api):
    for field in SETTINGS_BODY:
        r = api.post(SETTINGS, {k: v for k, v in SETTINGS_BODY.items() if k != field})
        assert r.status_code == 400, field
        assert r.data["detail"].startswith(f"{field}:")


def test_job_setting_numbers_are_validated(api):
    for field, value in (("job_timeout", -1), ("idle_timeout", "soon"), ("keep_days", -5)):
        r = api.post(SETTINGS, {**SETTINGS_BODY, field: value})
        assert r.status_code == 400, field
        assert r.data["detail"].startswith(f"{field}:")
    assert api.get(SETTINGS).data["count"] == 0


def test_job_settings_accept_a_form_body(api):
    r = api.post(SETTINGS, SETTINGS_BODY, form=True)
    assert r.status_code == 201
    assert r.data["idle_timeout"] == 30

"""Issue 2 §6 / spec §1.12: one permission mechanism. Grants of read / execute / write / admin on
one object to a user or a team; the highest applies; superusers pass everything.

Inventories are the protected family used here; the system families show the "open" policy
(everyone reads, superusers write).
"""
from __future__ import annotations

import pytest

INV = "/api/project/inventory/"
USER_GRANTS = "/api/project/inventory/authorized/users/"
TEAM_GRANTS = "/api/project/inventory/empowered/teams/"


@pytest.fixture
def owner(make_user):
    """A normal user who creates the inventories (and so holds admin on them)."""
    return make_user("owner")


@pytest.fixture
def bob(make_user):
    return make_user("bob")


def new_inventory(as_user, name: str = "prod") -> int:
    r = as_user.post(INV, {"name": name, "variables": "a: 1"})
    assert r.status_code == 201, r.body
    return r.data["id"]


def grant_user(as_admin, inventory: int, user: dict, permission: str):
    return as_admin.post(USER_GRANTS, {"username": user["id"], "data": inventory, "permission": permission})


def grant_team(as_admin, inventory: int, team: int, permission: str):
    return as_admin.post(TEAM_GRANTS, {"team": team, "data": inventory, "permission": permission})


def team_with(api, *users: dict, name: str = "ops") -> int:
    team = api.post("/api/system/team/", {"name": name}).data["id"]
    for user in users:
        assert api.post("/api/system/team/users/", {"username": user["id"], "team": team}).status_code == 201
    return team


# ---------------------------------------------------------------- no grant, user grants, team grants


def test_a_user_without_a_grant_gets_403(owner, bob):
    inv = new_inventory(owner[1])
    _, as_bob = bob
    assert as_bob.get(f"{INV}{inv}/").status_code == 403
    assert as_bob.patch(f"{INV}{inv}/", {"name": "x"}).status_code == 403
    assert as_bob.put(f"{INV}{inv}/", {"name": "x"}).status_code == 403
    assert as_bob.delete(f"{INV}{inv}/").status_code == 403
    assert owner[1].get(f"{INV}{inv}/").data["name"] == "prod"


def test_a_user_read_grant_allows_reading(owner, bob):
    inv = new_inventory(owner[1])
    assert grant_user(owner[1], inv, bob[0], "read").status_code == 201
    r = bob[1].get(f"{INV}{inv}/")
    assert r.status_code == 200
    assert r.data["name"] == "prod"


def test_a_team_grant_gives_its_members_access(api, owner, bob):
    inv = new_inventory(owner[1])
    team = team_with(api, bob[0])
    assert grant_team(owner[1], inv, team, "read").status_code == 201
    assert bob[1].get(f"{INV}{inv}/").status_code == 200


def test_a_team_grant_does_not_reach_users_outside_the_team(api, owner, bob, make_user):
    inv = new_inventory(owner[1])
    team = team_with(api, bob[0])
    grant_team(owner[1], inv, team, "write")
    _, as_carol = make_user("carol")
    assert as_carol.get(f"{INV}{inv}/").status_code == 403


def test_leaving_the_team_removes_the_access_it_gave(api, owner, bob):
    inv = new_inventory(owner[1])
    team = team_with(api, bob[0])
    grant_team(owner[1], inv, team, "read")
    member = api.get(f"/api/system/team/users/?team={team}").data["results"][0]["id"]
    assert api.delete(f"/api/system/team/users/{member}/").status_code == 204
    assert bob[1].get(f"{INV}{inv}/").status_code == 403


@pytest.mark.parametrize("user_level,team_level", [("read", "write"), ("write", "read")])
def test_the_highest_of_the_user_and_team_grants_applies(api, owner, bob, user_level, team_level):
    inv = new_inventory(owner[1])
    team = team_with(api, bob[0])
    grant_user(owner[1], inv, bob[0], user_level)
    grant_team(owner[1], inv, team, team_level)
    r = bob[1].patch(f"{INV}{inv}/", {"description": "changed by bob"})
    assert r.status_code == 200, r.body


def test_the_highest_of_several_team_grants_applies(api, owner, bob):
    inv = new_inventory(owner[1])
    readers = team_with(api, bob[0], name="readers")
    writers = team_with(api, bob[0], name="writers")
    grant_team(owner[1], inv, readers, "read")
    grant_team(owner[1], inv, writers, "write")
    assert bob[1].patch(f"{INV}{inv}/", {"description": "x"}).status_code == 200


# ---------------------------------------------------------------- levels


@pytest.mark.parametrize("level", ["read", "execute"])
def test_read_and_execute_grants_cannot_change_or_delete(owner, bob, level):
    inv = new_inventory(owner[1])
    grant_user(owner[1], inv, bob[0], level)
    assert bob[1].get(f"{INV}{inv}/").status_code == 200
    assert bob[1].patch(f"{INV}{inv}/", {"name": "x"}).status_code == 403
    assert bob[1].put(f"{INV}{inv}/", {"name": "x"}).status_code == 403
    assert bob[1].delete(f"{INV}{inv}/").status_code == 403
    assert owner[1].get(f"{INV}{inv}/").data["name"] == "prod"


def test_a_write_grant_can_change_and_delete(owner, bob):
    inv = new_inventory(owner[1])
    grant_user(owner[1], inv, bob[0], "write")
    assert bob[1].patch(f"{INV}{inv}/", {"name": "renamed"}).data["name"] == "renamed"
    assert bob[1].put(f"{INV}{inv}/", {"name": "again"}).status_code == 200
    assert bob[1].delete(f"{INV}{inv}/").status_code == 204


@pytest.mark.parametrize("level", ["read", "execute", "write"])
def test_only_admin_can_manage_grants(owner, bob, make_user, level):
    inv = new_inventory(owner[1])
    carol, _ = make_user("carol")
    grant_user(owner[1], inv, bob[0], level)
    assert grant_user(bob[1], inv, carol, "read").status_code == 403
    own = bob[1].get(f"{USER_GRANTS}?data={inv}&username={bob[0]['id']}").data["results"][0]["id"]
    assert bob[1].patch(f"{USER_GRANTS}{own}/", {"permission": "admin"}).status_code == 403
    assert bob[1].delete(f"{USER_GRANTS}{own}/").status_code == 403


def test_an_admin_grant_can_manage_grants(owner, bob, make_user):
    inv = new_inventory(owner[1])
    carol, as_carol = make_user("carol")
    grant_user(owner[1], inv, bob[0], "admin")
    r = grant_user(bob[1], inv, carol, "read")
    assert r.status_code == 201, r.body
    assert as_carol.get(f"{INV}{inv}/").status_code == 200
    assert bob[1].patch(f"{USER_GRANTS}{r.data['id']}/", {"permission": "write"}).status_code == 200
    assert as_carol.patch(f"{INV}{inv}/", {"description": "x"}).status_code == 200
    assert bob[1].delete(f"{USER_GRANTS}{r.data['id']}/").status_code == 204
    assert as_carol.get(f"{INV}{inv}/").status_code == 403


def test_admin_on_one_object_does_not_allow_granting_on_another(owner, bob):
    mine = new_inventory(owner[1], "mine")
    theirs = new_inventory(bob[1], "theirs")
    assert grant_user(owner[1], theirs, owner[0], "admin").status_code == 403
    assert grant_user(owner[1], mine, bob[0], "read").status_code == 201


def test_the_creator_gets_admin(owner):
    user, as_owner = owner
    inv = new_inventory(as_owner)
    grants = as_owner.get(f"{USER_GRANTS}?data={inv}").data["results"]
    assert [(g["username"], g["permission"]) for g in grants] == [(user["id"], "admin")]


def test_a_grant_with_an_unknown_permission_is_400_naming_it(owner, bob):
    inv = new_inventory(owner[1])
    r = grant_user(owner[1], inv, bob[0], "root")
    assert r.status_code == 400
    assert r.data["detail"].startswith("permission:")


def test_a_second_grant_for_the_same_user_and_object_is_400(owner, bob):
    inv = new_inventory(owner[1])
    grant_user(owner[1], inv, bob[0], "read")
    assert grant_user(owner[1], inv, bob[0], "write").status_code == 400


def test_grants_have_the_spec_shape(api, owner, bob):
    inv = new_inventory(owner[1])
    team = team_with(api, bob[0])
    user_grant = grant_user(owner[1], inv, bob[0], "read").data
    assert {k: user_grant[k] for k in ("username", "last_name", "data", "data_name", "permission", "permission_name")} \
        == {"username": bob[0]["id"], "last_name": "Bob", "data": inv, "data_name": "prod",
            "permission": "read", "permission_name": "Read-only"}
    team_grant = grant_team(owner[1], inv, team, "admin").data
    assert {k: team_grant[k] for k in ("team", "team_name", "data", "data_name", "permission", "permission_name")} \
        == {"team": team, "team_name": "ops", "data": inv, "data_name": "prod", "permission": "admin",
            "permission_name": "Admin"}


def test_a_user_grant_accepts_the_login_as_username(owner, bob):
    inv = new_inventory(owner[1])
    r = owner[1].post(USER_GRANTS, {"username": "bob", "data": inv, "permission": "read"})
    assert r.status_code == 201, r.body
    assert r.data["username"] == bob[0]["id"]


# ---------------------------------------------------------------- lists


def test_lists_show_only_the_objects_the_caller_can_read(api, owner, bob):
    a = new_inventory(owner[1], "a")
    new_inventory(owner[1], "b")
    c = new_inventory(owner[1], "c")
    d = new_inventory(bob[1], "d")
    team = team_with(api, bob[0])
    grant_user(owner[1], a, bob[0], "read")
    grant_team(owner[1], c, team, "read")
    r = bob[1].get(INV)
    assert r.data["count"] == 3
    assert sorted(row["id"] for row in r.data["results"]) == [a, c, d]


def test_a_user_without_grants_lists_nothing(owner, bob):
    new_inventory(owner[1])
    r = bob[1].get(INV)
    assert r.data == {"count": 0, "next": None, "previous": None, "results": []}


def test_restricted_lists_page_order_and_search_like_any_list(owner, bob):
    for name in ("alpha", "beta", "gamma", "delta"):
        grant_user(owner[1], new_inventory(owner[1], name), bob[0], "read")
    new_inventory(owner[1], "hidden-alpha")
    r = bob[1].get(INV + "?ordering=name&limit=2")
    assert r.data["count"] == 4
    assert [row["name"] for row in r.data["results"]] == ["alpha", "beta"]
    assert r.data["next"] is not None
    assert [row["name"] for row in bob[1].get(INV + "?search=ALPH").data["results"]] == ["alpha"]


def test_grant_lists_show_only_grants_on_readable_objects(owner, bob):
    shared = new_inventory(owner[1], "shared")
    new_inventory(owner[1], "private")
    grant_user(owner[1], shared, bob[0], "read")
    rows = bob[1].get(USER_GRANTS).data["results"]
    assert {row["data"] for row in rows} == {shared}


def test_a_superuser_sees_and_changes_every_object_without_grants(api, owner):
    a = new_inventory(owner[1], "a")
    b = new_inventory(owner[1], "b")
    assert sorted(row["id"] for row in api.get(INV).data["results"]) == [a, b]
    assert api.get(INV).data["count"] == 2
    assert api.patch(f"{INV}{a}/", {"name": "by-admin"}).status_code == 200
    assert api.delete(f"{INV}{b}/").status_code == 204


def test_superuser_created_objects_are_hidden_from_normal_users(api, bob):
    inv = new_inventory(api)
    assert bob[1].get(INV).data["count"] == 0
    assert bob[1].get(f"{INV}{inv}/").status_code == 403


# ---------------------------------------------------------------- delete


def test_deleting_an_object_removes_its_grants(api, owner, bob):
    inv = new_inventory(owner[1])
    keep = new_inventory(owner[1], "keep")
    team = team_with(api, bob[0])
    grant_user(owner[1], inv, bob[0], "read")
    grant_team(owner[1], inv, team, "read")
    assert owner[1].delete(f"{INV}{inv}/").status_code == 204
    assert {g["data"] for g in api.get(USER_GRANTS).data["results"]} == {keep}
    assert api.get(TEAM_GRANTS).data["count"] == 0
    assert api.get(f"{USER_GRANTS}?data={inv}").data["count"] == 0


def test_deleting_a_team_removes_its_grants(api, owner, bob):
    inv = new_inventory(owner[1])
    team = team_with(api, bob[0])
    grant_team(owner[1], inv, team, "read")
    assert api.delete(f"/api/system/team/{team}/").status_code == 204
    assert api.get(TEAM_GRANTS).data["count"] == 0
    assert bob[1].get(f"{INV}{inv}/").status_code == 403


def test_bulk_delete_needs_write_on_every_object_and_deletes_none_otherwise(owner, bob):
    writable = new_inventory(owner[1], "w")
    readable = new_inventory(owner[1], "r")
    grant_user(owner[1], writable, bob[0], "write")
    grant_user(owner[1], readable, bob[0], "read")
    r = bob[1].delete(INV, {"pk": f"{writable},{readable}"})
    assert r.status_code == 403
    assert owner[1].get(INV).data["count"] == 2


# ---------------------------------------------------------------- open (system) families


@pytest.mark.parametrize("path,body", [("/api/system/team/", {"name": "t"}), ("/api/system/tag/", {"tag": "t"})])
def test_everyone_reads_system_resources_but_only_superusers_change_them(api, bob, path, body):
    rec = api.post(path, body).data
    item = f"{path}{rec['id']}/"
    assert bob[1].get(path).data["count"] == 1
    assert bob[1].get(item).status_code == 200
    assert bob[1].post(path, body).status_code == 403
    assert bob[1].patch(item, body).status_code == 403
    assert bob[1].delete(item).status_code == 403
    assert bob[1].delete(path, {"pk": str(rec["id"])}).status_code == 403
    assert api.get(item).data == rec

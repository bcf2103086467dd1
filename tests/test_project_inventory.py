"""Inventories, hosts, groups, group children and memberships (`/api/project/...`)."""
from __future__ import annotations

import pytest

INV, HOST, GROUP = "/api/project/inventory/", "/api/project/host/", "/api/project/group/"
CHILDREN, MEMBERS, SOURCES = "/api/project/group/children/", "/api/project/hosts/", "/api/project/host/source/"


@pytest.fixture
def inv(api) -> int:
    r = api.post(INV, {"name": "Aliyun hosts", "variables": "ntp: pool.ntp.org"})
    assert r.status_code == 201, r.body
    return r.data["id"]


def host(api, inv, name, **extra) -> int:
    r = api.post(HOST, {"hostname": name, "inventory": inv, **extra})
    assert r.status_code == 201, r.body
    return r.data["id"]


def group(api, inv, name, **extra) -> int:
    r = api.post(GROUP, {"name": name, "inventory": inv, **extra})
    assert r.status_code == 201, r.body
    return r.data["id"]


def link(api, parent, child):
    return api.post(CHILDREN, {"group": parent, "child": child})


# ---------------------------------------------------------------- inventories


def test_inventory_variables_syntax_error_names_field_and_line(api):
    r = api.post(INV, {"name": "x", "variables": "a: 1\nb: [2\nc: 3"})
    assert r.status_code == 400
    assert r.data["detail"].startswith("variables:") and "line" in r.data["detail"]


def test_inventory_variables_accept_json(api):
    r = api.post(INV, {"name": "x", "variables": '{"a": 1}'})
    assert r.status_code == 201 and r.data["variables"] == '{"a": 1}'


def test_inventory_login_credential_must_be_ssh(api):
    vault = api.post("/api/project/credential/", {"name": "v", "type": "vault", "vault_password": "x"}).data["id"]
    r = api.post(INV, {"name": "x", "credential": vault})
    assert r.status_code == 400 and r.data["detail"].startswith("credential:")
    ssh = api.post("/api/project/credential/", {"name": "s", "type": "ssh", "user_name": "root"}).data["id"]
    r = api.post(INV, {"name": "x", "credential": ssh})
    assert r.status_code == 201 and r.data["credential_name"] == "s"


# ---------------------------------------------------------------- hosts


def test_host_is_created_with_labels(api, inv):
    r = api.post(HOST, {"hostname": " 47.106.87.210 ", "inventory_id": inv, "variables": "ansible_port: 2222"})
    assert r.status_code == 201, r.body
    assert r.data["hostname"] == "47.106.87.210"  # trimmed
    assert r.data["inventory"] == inv and r.data["inventory_name"] == "Aliyun hosts"
    assert r.data["status"] == 1 and r.data["status_name"] == "Enabled" and r.data["host_source"] is None


def test_hostnames_are_unique_per_inventory(api, inv):
    host(api, inv, "web1")
    r = api.post(HOST, {"hostname": "web1", "inventory": inv})
    assert r.status_code == 400 and r.data["detail"].startswith("inventory:") and "hostname" in r.data["detail"]
    other = api.post(INV, {"name": "other"}).data["id"]
    assert api.post(HOST, {"hostname": "web1", "inventory": other}).status_code == 201


@pytest.mark.parametrize("name", ["", "   ", "two words", "a,b"])
def test_bad_hostnames_are_rejected(api, inv, name):
    r = api.post(HOST, {"hostname": name, "inventory": inv})
    assert r.status_code == 400 and r.data["detail"].startswith("hostname:")


def test_host_status_is_one_or_zero(api, inv):
    hid = host(api, inv, "web1", status="disabled")
    assert api.get(f"{HOST}{hid}/").data["status"] == 0
    r = api.patch(f"{HOST}{hid}/", {"status": 1})
    assert r.data["status"] == 1 and r.data["status_name"] == "Enabled"
    r = api.patch(f"{HOST}{hid}/", {"status": 2})
    assert r.status_code == 400 and r.data["detail"].startswith("status:")


def test_host_variables_error_names_the_field(api, inv):
    r = api.post(HOST, {"hostname": "h", "inventory": inv, "variables": "- a list"})
    assert r.status_code == 400 and r.data["detail"].startswith("variables:")


def test_host_source_is_read_only_on_hosts(api, inv):
    hid = host(api, inv, "web1", host_source=1)
    assert api.get(f"{HOST}{hid}/").data["host_source"] is None


def test_hosts_list_filters_by_inventory_and_searches(api, inv):
    other = api.post(INV, {"name": "other"}).data["id"]
    host(api, inv, "web1", description="frontend")
    host(api, inv, "db1")
    host(api, other, "web9")
    r = api.get(f"{HOST}?inventory={inv}")
    assert r.data["count"] == 2
    assert [h["hostname"] for h in api.get(f"{HOST}?search=front").data["results"]] == ["web1"]


# ---------------------------------------------------------------- groups


def test_group_names_are_unique_per_inventory_and_not_builtin(api, inv):
    group(api, inv, "tomcat-servers")
    assert api.post(GROUP, {"name": "tomcat-servers", "inventory": inv}).status_code == 400
    for bad in ("all", "ungrouped", "bad name", "-x"):
        r = api.post(GROUP, {"name": bad, "inventory": inv})
        assert r.status_code == 400 and r.data["detail"].startswith("name:"), bad


def test_group_children_show_names(api, inv):
    web, app = group(api, inv, "web"), group(api, inv, "app")
    r = api.post(CHILDREN, {"group_id": web, "child_id": app})
    assert r.status_code == 201, r.body
    assert r.data == {"id": r.data["id"], "group": web, "child": app, "inventory": inv,
                      "group_name": "web", "child_name": "app"}


def test_a_group_cannot_be_its_own_child(api, inv):
    web = group(api, inv, "web")
    r = link(api, web, web)
    assert r.status_code == 400 and r.data["detail"].startswith("child:") and '"web"' in r.data["detail"]


def test_a_group_cannot_become_its_own_ancestor(api, inv):
    a, b, c = group(api, inv, "a"), group(api, inv, "b"), group(api, inv, "c")
    assert link(api, a, b).status_code == 201
    assert link(api, b, c).status_code == 201
    r = link(api, c, a)
    assert r.status_code == 400
    assert r.data["detail"] == 'child: group "a" is already an ancestor of "c" (a → b → c); making it a child would create a cycle'
    assert link(api, a, c).status_code == 201  # a diamond is not a cycle


def test_moving_a_child_link_is_cycle_checked_too(api, inv):
    a, b, c = group(api, inv, "a"), group(api, inv, "b"), group(api, inv, "c")
    link(api, a, b)
    row = link(api, a, c).data["id"]
    r = api.patch(f"{CHILDREN}{row}/", {"group": b, "child": a})
    assert r.status_code == 400 and "cycle" in r.data["detail"]


def test_child_links_stay_within_one_inventory(api, inv):
    other = api.post(INV, {"name": "other"}).data["id"]
    r = link(api, group(api, inv, "web"), group(api, other, "db"))
    assert r.status_code == 400 and "same inventory" in r.data["detail"]


def test_duplicate_child_link_is_rejected(api, inv):
    a, b = group(api, inv, "a"), group(api, inv, "b")
    link(api, a, b)
    assert link(api, a, b).status_code == 400


# ---------------------------------------------------------------- memberships


def test_membership_puts_a_host_into_a_group(api, inv):
    web, h = group(api, inv, "tomcat-servers"), host(api, inv, "47.106.87.210")
    r = api.post(MEMBERS, {"group_id": web, "host_id": h})
    assert r.status_code == 201, r.body
    assert r.data["host_name"] == "47.106.87.210" and r.data["group"] == web and r.data["inventory"] == inv
    assert api.get(f"{MEMBERS}?group={web}").data["count"] == 1


def test_membership_rows_stay_within_one_inventory(api, inv):
    other = api.post(INV, {"name": "other"}).data["id"]
    r = api.post(MEMBERS, {"group": group(api, inv, "web"), "host": host(api, other, "h")})
    assert r.status_code == 400 and "same inventory" in r.data["detail"]


def test_membership_needs_existing_objects(api, inv):
    r = api.post(MEMBERS, {"group": 999, "host": host(api, inv, "h")})
    assert r.status_code == 400 and r.data["detail"].startswith("group:")


def test_deleting_a_host_removes_its_memberships(api, inv):
    web, h = group(api, inv, "web"), host(api, inv, "h")
    api.post(MEMBERS, {"group": web, "host": h})
    assert api.delete(f"{HOST}{h}/").status_code == 204
    assert api.get(f"{MEMBERS}?inventory={inv}").data["count"] == 0


def test_deleting_a_group_removes_its_memberships_and_child_links(api, inv):
    a, b, c = group(api, inv, "a"), group(api, inv, "b"), group(api, inv, "c")
    link(api, a, b)
    link(api, b, c)
    h = host(api, inv, "h")
    api.post(MEMBERS, {"group": b, "host": h})
    assert api.delete(f"{GROUP}{b}/").status_code == 204
    assert api.get(f"{CHILDREN}?inventory={inv}").data["count"] == 0
    assert api.get(f"{MEMBERS}?inventory={inv}").data["count"] == 0
    assert api.get(f"{HOST}{h}/").status_code == 200


def test_deleting_an_inventory_removes_everything_in_it(api, inv):
    a, b = group(api, inv, "a"), group(api, inv, "b")
    link(api, a, b)
    api.post(MEMBERS, {"group": a, "host": host(api, inv, "h")})
    api.post(SOURCES, {"name": "s", "inventory": inv, "source_type": "script", "source_script": "#!/bin/sh\necho {}"})
    assert api.delete(f"{INV}{inv}/").status_code == 204
    for url in (HOST, GROUP, CHILDREN, MEMBERS, SOURCES):
        assert api.get(url).data["count"] == 0, url


# ---------------------------------------------------------------- permissions


def test_user_without_grant_sees_nothing_of_an_inventory(api, make_user, inv):
    a, b = group(api, inv, "a"), group(api, inv, "b")
    child = link(api, a, b).data["id"]
    h = host(api, inv, "h")
    member = api.post(MEMBERS, {"group": a, "host": h}).data["id"]
    src = api.post(SOURCES, {"name": "s", "inventory": inv, "source_type": "script",
                             "source_script": "#!/bin/sh\necho {}"}).data["id"]
    _, as_user = make_user()
    for url, item in ((INV, inv), (HOST, h), (GROUP, a), (CHILDREN, child), (MEMBERS, member), (SOURCES, src)):
        assert as_user.get(f"{url}{item}/").status_code == 403, url
        assert as_user.get(url).data["count"] == 0, url
    assert as_user.get(f"{INV}{inv}/script/").status_code == 403


def test_read_grant_shows_contents_but_allows_no_change(api, make_user, inv):
    user, as_user = make_user()
    h = host(api, inv, "h")
    web = group(api, inv, "web")
    api.post(INV + "authorized/users/", {"username": user["id"], "data": inv, "permission": "read"})
    assert as_user.get(f"{HOST}{h}/").status_code == 200
    assert as_user.get(HOST).data["count"] == 1
    assert as_user.post(HOST, {"hostname": "new", "inventory": inv}).status_code == 403
    assert as_user.patch(f"{HOST}{h}/", {"description": "x"}).status_code == 403
    assert as_user.post(MEMBERS, {"group": web, "host": h}).status_code == 403
    assert as_user.delete(f"{GROUP}{web}/").status_code == 403


def test_write_grant_allows_managing_contents(api, make_user, inv):
    user, as_user = make_user()
    api.post(INV + "authorized/users/", {"username": user["id"], "data": inv, "permission": "write"})
    h = host(as_user, inv, "h")
    a, b = group(as_user, inv, "a"), group(as_user, inv, "b")
    assert as_user.post(MEMBERS, {"group": a, "host": h}).status_code == 201
    assert link(as_user, a, b).status_code == 201
    assert as_user.delete(f"{HOST}{h}/").status_code == 204


def test_moving_a_host_needs_write_on_the_target_inventory(api, make_user, inv):
    user, as_user = make_user()
    api.post(INV + "authorized/users/", {"username": user["id"], "data": inv, "permission": "write"})
    other = api.post(INV, {"name": "other"}).data["id"]
    api.post(INV + "authorized/users/", {"username": user["id"], "data": other, "permission": "read"})
    h = host(as_user, inv, "h")
    assert as_user.patch(f"{HOST}{h}/", {"inventory": other}).status_code == 403


def test_inventory_grants_use_the_spec_paths(api, make_user, inv):
    user, _ = make_user()
    team = api.post("/api/system/team/", {"name": "t"}).data["id"]
    r = api.post(INV + "empowered/teams/", {"team": team, "data": inv, "permission": "read"})
    assert r.status_code == 201 and r.data["data_name"] == "Aliyun hosts"
    r = api.post(INV + "authorized/users/", {"username": user["username"], "data": inv, "permission": "admin"})
    assert r.status_code == 201 and r.data["permission_name"] == "Admin"

"""Deletes are all or nothing: every requested id, the whole cascade it takes with it and every
protect rule are checked before anything is written (chalicelib.services.deletion); plans larger
than one DynamoDB transaction are written in several, and every row counter stays right."""
from __future__ import annotations

import pytest

from chalicelib.services import crud, deletion, rbac, store
from chalicelib.services.errors import Conflict, ValidationError
from chalicelib.services.fields import Ref, Str
from chalicelib.services.resources import Access, Resource, get, register

CRED, PROJECT, INV = "/api/project/credential/", "/api/project/project/", "/api/project/inventory/"
HOST, GROUP, CHILDREN, MEMBERS = "/api/project/host/", "/api/project/group/", "/api/project/group/children/", "/api/project/hosts/"
SOURCES = "/api/project/host/source/"
CRED_GRANTS = "/api/project/credential/authorized/users/"
SUPERUSER = rbac.Principal({"id": 1, "superuser": 1})


def created(response) -> int:
    assert response.status_code == 201, response.body
    return response.data["id"]


def git_login(api, name: str) -> int:
    return created(api.post(CRED, {"name": name, "type": "user_pwd", "user_name": "bot", "password": "p"}))


def count(api, path: str) -> int:
    return api.get(path).data["count"]


def fill_inventory(inventory: int, hosts: int, groups: int) -> None:
    """Hosts and groups (store writes: quicker than the API), host i in group i % groups and
    group i a child of group i - 1."""
    host_ids = [store.create(get("host"), {"hostname": f"h{i}", "inventory": inventory, "status": 1})["id"]
                for i in range(hosts)]
    group_ids = [store.create(get("group"), {"name": f"g{i}", "inventory": inventory})["id"] for i in range(groups)]
    for i, host_id in enumerate(host_ids):
        store.create(get("group_host"), {"group": group_ids[i % groups], "host": host_id, "inventory": inventory})
    for parent, child in zip(group_ids, group_ids[1:]):
        store.create(get("group_children"), {"group": parent, "child": child, "inventory": inventory})


# ---------------------------------------------------------------- protect rules


def test_bulk_delete_of_a_free_and_a_used_credential_is_400_and_deletes_neither(api):
    free, used = git_login(api, "free"), git_login(api, "used")
    project = created(api.post(PROJECT, {"name": "p", "repository_url": "http://git.example.com/p.git",
                                         "credential": used}))
    r = api.delete(CRED, {"pk": f"{free},{used}"})
    assert r.status_code == 400
    assert r.data["detail"] == f"pk: credential {used} is used by project {project} (its credential); remove that first"
    assert api.get(f"{CRED}{free}/").status_code == 200
    assert count(api, CRED) == 2


def test_single_delete_of_a_protected_record_is_400_and_changes_nothing(api, make_user):
    user, as_user = make_user()
    ssh = created(as_user.post(CRED, {"name": "login", "type": "ssh", "user_name": "root"}))
    inventory = created(as_user.post(INV, {"name": "prod", "credential": ssh}))
    r = as_user.delete(f"{CRED}{ssh}/")
    assert r.status_code == 400
    assert r.data["detail"] == f"credential {ssh} is used by inventory {inventory} (its credential); remove that first"
    assert as_user.get(f"{CRED}{ssh}/").status_code == 200
    assert count(api, f"{CRED_GRANTS}?data={ssh}") == 1  # the creator's admin grant did not cascade away


def test_a_protecting_record_deleted_in_the_same_plan_does_not_block(api):
    aws = created(api.post(CRED, {"name": "aws", "type": "aws", "key_id": "AKIA", "key_secret": "s"}))
    inventory = created(api.post(INV, {"name": "cloud"}))
    created(api.post(SOURCES, {"name": "ec2", "inventory": inventory, "source_type": "aws_ec2",
                               "regions": "us-east-1", "credential": aws}))
    assert api.delete(f"{INV}{inventory}/").status_code == 204
    assert count(api, SOURCES) == 0
    assert api.delete(f"{CRED}{aws}/").status_code == 204


# ---------------------------------------------------------------- permissions


def test_bulk_delete_without_write_on_one_id_is_403_and_deletes_nothing(api, make_user):
    user, as_user = make_user()
    own = created(as_user.post(CRED, {"name": "own", "type": "vault", "vault_password": "x"}))
    readable = git_login(api, "shared")
    api.post(CRED_GRANTS, {"username": user["id"], "data": readable, "permission": "read"})
    grants = count(api, CRED_GRANTS)
    r = as_user.delete(CRED, {"pk[]": [own, readable]})
    assert r.status_code == 403
    assert count(api, CRED) == 2
    assert count(api, CRED_GRANTS) == grants


# ---------------------------------------------------------------- plans larger than one transaction


def test_deleting_a_large_inventory_removes_everything_and_keeps_every_count_right(api):
    big, kept = created(api.post(INV, {"name": "big"})), created(api.post(INV, {"name": "kept"}))
    fill_inventory(big, hosts=110, groups=105)
    fill_inventory(kept, hosts=3, groups=2)
    transactions = deletion.plan(get("inventory"), [store.get("inventory", big)], SUPERUSER,
                                 check_write=True).transactions()
    assert len(transactions) > 1
    assert max(t.actions for t in transactions) <= store.MAX_TRANSACTION_ACTIONS

    assert api.delete(f"{INV}{big}/").status_code == 204
    expected = {HOST: 3, GROUP: 2, MEMBERS: 3, CHILDREN: 1}
    for path, kept_rows in expected.items():
        assert (count(api, path), count(api, f"{path}?inventory={kept}"), count(api, f"{path}?inventory={big}")) \
            == (kept_rows, kept_rows, 0), path
    assert count(api, INV) == 1


def test_bulk_delete_of_many_hosts_frees_their_hostnames(api):
    inventory = created(api.post(INV, {"name": "prod"}))
    fill_inventory(inventory, hosts=120, groups=1)
    ids = [h["id"] for h in store.scan_index(get("host"), "inventory", inventory)]
    r = api.delete(HOST, {"pk": ",".join(map(str, ids))})
    assert r.status_code == 200 and sorted(r.data["deleted"]) == sorted(ids)
    assert count(api, f"{HOST}?inventory={inventory}") == 0
    assert count(api, f"{MEMBERS}?inventory={inventory}") == 0
    assert api.post(HOST, {"hostname": "h7", "inventory": inventory}).status_code == 201


def test_pack_keeps_each_transaction_within_the_limit_and_sums_each_counter_once():
    hosts = get("host")
    removals = [store.removal(hosts, {"id": i, "hostname": f"h{i}", "inventory": 5, "_version": 1})
                for i in range(1, 81)]
    transactions = store.pack(removals)
    assert len(transactions) == 2
    assert [t.actions for t in transactions] == [100, 64]  # 49 hosts + 2 counters; 31 hosts + 2 counters
    assert [t.counters for t in transactions] == [{"host": -49, "host|inventory=5": -49},
                                                  {"host": -31, "host|inventory=5": -31}]


# ---------------------------------------------------------------- groups


def test_bulk_delete_of_a_group_and_its_child_removes_their_link_once(api):
    inventory = created(api.post(INV, {"name": "prod"}))
    parent, child = (created(api.post(GROUP, {"name": n, "inventory": inventory})) for n in ("parent", "child"))
    other = created(api.post(GROUP, {"name": "other", "inventory": inventory}))
    host = created(api.post(HOST, {"hostname": "h", "inventory": inventory}))
    for group_id in (parent, child, other):
        created(api.post(MEMBERS, {"group": group_id, "host": host}))
    created(api.post(CHILDREN, {"group": parent, "child": child}))  # found by index (group) and by also_deletes (child)
    created(api.post(CHILDREN, {"group": other, "child": child}))  # found by also_deletes only
    r = api.delete(GROUP, {"pk": f"{parent},{child}"})
    assert r.status_code == 200, r.body
    assert count(api, f"{CHILDREN}?inventory={inventory}") == 0
    assert [m["group"] for m in api.get(f"{MEMBERS}?inventory={inventory}").data["results"]] == [other]
    assert api.get(f"{HOST}{host}/").status_code == 200


# ---------------------------------------------------------------- cascades into protected records

@pytest.fixture
def shelves(api):
    """Declared for these tests only: a shelf's drawers go with it (cascade); a label protects the
    drawer it names, and goes with the shelf it names if any. Deleting a shelf records its hook."""
    hook_calls: list[int] = []
    declared = [
        Resource(family="t_shelf", path="/t/shelf", title="Shelves", access=Access.open(),
                 fields=[Str("name")], after_delete=lambda principal, rec: hook_calls.append(rec["id"])),
        Resource(family="t_drawer", path="/t/drawer", title="Drawers", access=Access.open(), indexes=("shelf",),
                 fields=[Ref("shelf", family="t_shelf", on_delete="cascade")]),
        Resource(family="t_label", path="/t/label", title="Labels", access=Access.open(),
                 indexes=("drawer", "shelf"), fields=[Ref("drawer", family="t_drawer", on_delete="protect"),
                                                      Ref("shelf", family="t_shelf", on_delete="cascade")]),
    ]
    for resource in declared:
        register(resource)
    yield hook_calls
    from chalicelib.services import resources

    for resource in declared:
        resources._REGISTRY.pop(resource.family)


def make(family: str, **data) -> int:
    return store.create(get(family), data)["id"]


def test_a_cascade_reaching_a_protected_record_is_refused_before_any_write(shelves):
    shelf, elsewhere = make("t_shelf", name="a"), make("t_shelf", name="b")
    drawers = [make("t_drawer", shelf=shelf) for _ in range(3)]
    label = make("t_label", drawer=drawers[1], shelf=elsewhere)
    with pytest.raises(ValidationError) as refused:
        crud.destroy(SUPERUSER, get("t_shelf"), shelf)
    assert refused.value.detail == (f"t_drawer {drawers[1]}, which deleting t_shelf {shelf} would delete, "
                                    f"is used by t_label {label} (its drawer); remove that first")
    assert store.get("t_shelf", shelf) is not None
    assert (store.count("t_drawer"), store.count(f"t_drawer|shelf={shelf}")) == (3, 3)


def test_a_refused_delete_runs_no_after_delete_hook(shelves):
    free, shelf, elsewhere = (make("t_shelf", name=n) for n in "abc")
    make("t_label", drawer=make("t_drawer", shelf=shelf), shelf=elsewhere)
    with pytest.raises(ValidationError):
        crud.bulk_destroy(SUPERUSER, get("t_shelf"), [free, shelf])
    assert shelves == []
    assert store.count("t_shelf") == 3


def test_a_protecting_record_that_cascades_from_the_same_delete_does_not_block(shelves):
    shelf = make("t_shelf", name="a")
    make("t_label", drawer=make("t_drawer", shelf=shelf), shelf=shelf)
    crud.destroy(SUPERUSER, get("t_shelf"), shelf)
    assert [store.count(f) for f in ("t_shelf", "t_drawer", "t_label")] == [0, 0, 0]
    assert shelves == [shelf]


# ---------------------------------------------------------------- concurrent edits


def test_a_record_changed_after_planning_makes_the_delete_409_and_writes_nothing(shelves):
    shelf = make("t_shelf", name="a")
    drawer = make("t_drawer", shelf=shelf)
    plan = deletion.plan(get("t_shelf"), [store.get("t_shelf", shelf)], SUPERUSER, check_write=True)
    current = store.get("t_drawer", drawer)
    store.update(get("t_drawer"), current, current)  # a concurrent edit: new version
    with pytest.raises(Conflict):
        deletion.execute(plan)
    assert store.get("t_shelf", shelf) is not None and store.get("t_drawer", drawer) is not None
    assert (store.count("t_shelf"), store.count("t_drawer")) == (1, 1)
    assert shelves == []


def test_a_409_in_a_later_transaction_keeps_the_earlier_ones_and_the_parent(shelves):
    shelf = make("t_shelf", name="a")
    for _ in range(100):
        make("t_drawer", shelf=shelf)
    plan = deletion.plan(get("t_shelf"), [store.get("t_shelf", shelf)], SUPERUSER, check_write=True)
    first, *rest = plan.transactions()
    assert rest and all(item.resource.family == "t_drawer" for item in first.removals)
    current = store.get("t_shelf", shelf)
    store.update(get("t_shelf"), current, {**current, "name": "renamed"})  # the shelf goes last
    with pytest.raises(Conflict):
        deletion.execute(plan)
    assert store.get("t_shelf", shelf)["name"] == "renamed"
    assert store.count("t_drawer") == store.count(f"t_drawer|shelf={shelf}") == 100 - len(first.removals)
    assert shelves == []

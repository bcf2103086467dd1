"""Merging a source's data into its inventory (`import_source`): only what the source owns changes."""
from __future__ import annotations

import yaml

from chalicelib.services import crud, store
from chalicelib.services.catalog.host_source import HOST_SOURCES
from chalicelib.services.catalog.inventory import (
    CHILDREN,
    GROUPS,
    HOSTS,
    MEMBERSHIPS,
    RESERVED_GROUPS,
    check_group_name,
    clean_hostname,
)
from chalicelib.services.errors import NotFound, ValidationError
from chalicelib.services.host_sources.parse import InventoryData, from_dynamic_json
from chalicelib.services.inventory_render import parse_vars


def _yaml_text(variables: dict) -> str:
    return yaml.safe_dump(variables, default_flow_style=False, sort_keys=True) if variables else ""


def _check(data: InventoryData) -> InventoryData:
    """Names usable in an inventory, group links without cycles; all before anything is written."""
    hosts = {}
    for name, variables in data.hosts.items():
        hosts[clean_hostname(name, "hostname")] = variables
    groups = {}
    for name, group in data.groups.items():
        if name in RESERVED_GROUPS:
            continue  # all/ungrouped are implicit; the source's `all` vars are not imported
        check_group_name(name, "group")
        groups[name] = group
    edges = {name: [c for c in g.children if c in groups] for name, g in groups.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:  # colours: 1 = on the trail, 2 = done
        state[node] = 1
        for child in edges.get(node, ()):
            if state.get(child) == 1:
                cycle = trail[trail.index(child):] + [child] if child in trail else [node, child]
                raise ValidationError("group", f"the source's groups form a cycle: {' → '.join(cycle)}")
            if child not in state:
                visit(child, trail + [child])
        state[node] = 2

    for name in groups:
        if name not in state:
            visit(name, [name])
    return InventoryData(hosts=hosts, groups=groups)


def _tally() -> dict:
    return {"created": 0, "updated": 0, "removed": 0, "unchanged": 0, "skipped": []}


def import_source(source_id: int, data: InventoryData | dict | list) -> dict:
    """Merge `data` into the source's inventory; returns counts per kind of object.

    `data` is an `InventoryData`, or raw dynamic-inventory JSON / a JSON host list (as the
    runner gets from `ansible-inventory --list --export`).

    Owned = `host_source` is this source. Owned hosts/groups missing from `data` are removed (with
    their links); present ones are updated when their variables differ; new names are created as
    owned. A name held by a hand-made object, or another source's, is skipped and reported.
    Membership and child links are managed where both ends are owned by this source.
    """
    source = store.get(HOST_SOURCES.family, int(source_id))
    if source is None:
        raise NotFound(f"No host source with id {source_id}.")
    data = _check(data if isinstance(data, InventoryData) else from_dynamic_json(data))
    inventory_id = source["inventory"]
    summary = {"hosts": _tally(), "groups": _tally(), "memberships": _tally(), "children": _tally()}

    hosts = {h["hostname"]: h for h in store.scan_index(HOSTS, "inventory", inventory_id, ascending=True)}
    groups = {g["name"]: g for g in store.scan_index(GROUPS, "inventory", inventory_id, ascending=True)}
    owned_hosts = _merge(HOSTS, "hostname", hosts, data.hosts, source, inventory_id, summary["hosts"])
    owned_groups = _merge(GROUPS, "name", groups, {n: g.vars for n, g in data.groups.items()}, source,
                          inventory_id, summary["groups"])

    host_ids = {name: rec["id"] for name, rec in owned_hosts.items()}
    group_ids = {name: rec["id"] for name, rec in owned_groups.items()}
    wanted_members = {(group_ids[g], host_ids[h]) for g, body in data.groups.items() if g in group_ids
                      for h in body.hosts if h in host_ids}
    wanted_children = {(group_ids[g], group_ids[c]) for g, body in data.groups.items() if g in group_ids
                       for c in body.children if c in group_ids}
    owned_host_ids, owned_group_ids = set(host_ids.values()), set(group_ids.values())
    _merge_links(MEMBERSHIPS, ("group", "host"), inventory_id, wanted_members,
                 lambda g, h: g in owned_group_ids and h in owned_host_ids, summary["memberships"])
    _merge_links(CHILDREN, ("group", "child"), inventory_id, wanted_children,
                 lambda g, c: g in owned_group_ids and c in owned_group_ids, summary["children"])
    return summary


def _merge(resource, key: str, existing: dict[str, dict], wanted: dict[str, dict], source: dict,
           inventory_id: int, tally: dict) -> dict[str, dict]:
    """Create/update/remove one family's owned records; returns the owned records by name."""
    owned: dict[str, dict] = {}
    for name, variables in wanted.items():
        rec = existing.get(name)
        if rec is None:
            owned[name] = store.create(resource, {key: name, "inventory": inventory_id, "description": "",
                                                  "variables": _yaml_text(variables), "host_source": source["id"],
                                                  **({"status": 1} if resource is HOSTS else {})})
            tally["created"] += 1
        elif rec.get("host_source") != source["id"]:
            tally["skipped"].append(name)  # hand-made, or another source's: not ours to change
        elif parse_vars(rec.get("variables")) != variables:
            owned[name] = store.update(resource, rec, {**rec, "variables": _yaml_text(variables)})
            tally["updated"] += 1
        else:
            owned[name] = rec
            tally["unchanged"] += 1
    for name, rec in existing.items():
        if rec.get("host_source") == source["id"] and name not in wanted:
            crud.remove(None, resource, rec)  # cascades its membership/children rows
            tally["removed"] += 1
    return owned


def _merge_links(resource, ends: tuple[str, str], inventory_id: int, wanted: set[tuple[int, int]],
                 managed, tally: dict) -> None:
    a, b = ends
    present = {}
    for row in store.scan_index(resource, "inventory", inventory_id, ascending=True):
        present[(row[a], row[b])] = row
    for pair in sorted(wanted - set(present)):
        store.create(resource, {a: pair[0], b: pair[1], "inventory": inventory_id})
        tally["created"] += 1
    for pair, row in present.items():
        if pair in wanted:
            tally["unchanged"] += 1
        elif managed(*pair):
            store.delete(resource, row)
            tally["removed"] += 1
    del tally["updated"], tally["skipped"]

"""Render an inventory as the JSON `ansible-inventory --list --export` prints.

Shape (what an Ansible dynamic-inventory script answers to `--list`)::

    {"_meta": {"hostvars": {"web1": {...}}},
     "all": {"children": ["ungrouped", "web", ...], "vars": {<inventory variables>}},
     "web": {"hosts": ["web1"], "children": ["app"], "vars": {...}},   # hosts always present
     "ungrouped": {"hosts": [...]}}

Group and inventory variables stay on their groups (Ansible applies precedence itself); disabled
hosts are left out entirely. Reading is by index: the inventory's hosts, groups, child links and
memberships are four index queries, so the number of DynamoDB calls is the number of result pages
(1 MB each), never one per host; the assembly is linear in the number of rows.
"""
from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import yaml

from chalicelib.services import store
from chalicelib.services.errors import NotFound
from chalicelib.services.resources import get as get_resource

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def parse_vars(text: str | None) -> dict:
    """Stored variables text (validated YAML or JSON mapping at save time) as a dict."""
    if not text or not text.strip():
        return {}
    stripped = text.lstrip()
    if stripped.startswith("{"):
        try:
            value = json.loads(stripped)
            return value if isinstance(value, dict) else {}
        except ValueError:
            pass
    value = yaml.load(text, Loader=_Loader)  # noqa: S506 - CSafeLoader/SafeLoader only
    return value if isinstance(value, dict) else {}


def _rows(family: str, inventory_id: int) -> Iterable[dict]:
    return store.scan_index(get_resource(family), "inventory", inventory_id, ascending=True)


def render(inventory_id: int) -> dict:
    """Read one inventory by index and render it (NotFound if it does not exist)."""
    inventory = store.get("inventory", int(inventory_id))
    if inventory is None:
        raise NotFound(f"No inventory with id {inventory_id}.")
    return render_rows(inventory, _rows("host", inventory["id"]), _rows("group", inventory["id"]),
                       _rows("group_children", inventory["id"]), _rows("group_host", inventory["id"]))


def render_rows(inventory: dict, hosts: Iterable[dict], groups: Iterable[dict],
                children: Iterable[dict], memberships: Iterable[dict]) -> dict:
    """Assemble the JSON from already-read rows (pure; used by `render` and by tests)."""
    hostvars: dict[str, dict] = {}
    host_name: dict[int, str] = {}
    for host in hosts:
        if int(host.get("status", 1)) != 1:
            continue
        host_name[host["id"]] = host["hostname"]
        hostvars[host["hostname"]] = parse_vars(host.get("variables"))

    out: dict[str, Any] = {}
    group_name: dict[int, str] = {}
    for group in groups:
        group_name[group["id"]] = group["name"]
        body: dict[str, Any] = {"hosts": []}  # never `{}`: the script plugin reads that as a host
        variables = parse_vars(group.get("variables"))
        if variables:
            body["vars"] = variables
        out[group["name"]] = body

    has_parent: set[str] = set()
    for link in children:
        parent, child = group_name.get(link["group"]), group_name.get(link["child"])
        if parent and child:
            out[parent].setdefault("children", []).append(child)
            has_parent.add(child)

    grouped: set[str] = set()
    for member in memberships:
        group, host = group_name.get(member["group"]), host_name.get(member["host"])
        if group and host:
            out[group]["hosts"].append(host)
            grouped.add(host)

    ungrouped = [name for name in hostvars if name not in grouped]
    top = ["ungrouped"] + [name for name in out if name not in has_parent]
    all_group: dict[str, Any] = {"children": top}
    inventory_vars = parse_vars(inventory.get("variables"))
    if inventory_vars:
        all_group["vars"] = inventory_vars
    result: dict[str, Any] = {"_meta": {"hostvars": hostvars}, "all": all_group}
    result.update(out)
    if ungrouped:
        result["ungrouped"] = {"hosts": ungrouped}
    return result

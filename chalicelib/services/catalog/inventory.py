"""Inventories (spec §3.5) and their grants, hosts (§3.10), groups (§3.11), group children (§3.6)
and group-host memberships (§3.9).

Everything inside an inventory follows the inventory's permissions (`Access.parent`) and carries
an indexed `inventory` field, children and membership rows included: rendering an inventory and
listing its contents are then index queries by inventory, a few pages however many hosts it has.
Deleting an inventory removes everything in it (on_delete="cascade"); deleting a host or group
removes its membership and children rows.
"""
from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from chalicelib.services import store
from chalicelib.services.catalog.grants import protect
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Bool01, Int, Label, Ref, Str, Text, Yaml
from chalicelib.services.resources import Access, IndexRows, Resource, register

INVENTORIES = register(Resource(
    family="inventory", path="/api/project/inventory", title="Inventories",
    description="A set of hosts and groups that jobs run against. GET /api/project/inventory/{id}/script/ "
                "renders it as `ansible-inventory --list` JSON.",
    access=Access.protected(),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Inventory name."),
        Str("description", max_length=1024, description="Description."),
        Yaml("variables", description="Inventory variables (YAML or JSON mapping), applied to group all."),
        Text("inventory", description="Optional host-list content (INI-style), unused by runs."),
        Ref("credential", family="credential", needs="execute", on_delete="protect", aliases=("credential_id",),
            description="Login credential for the hosts (ssh); needs execute (use) on it."),
        Int("cuser", read_only=True, default=None, description="Creator's user id."),
        Int("ctime", read_only=True, default=None, description="Creation time (epoch seconds)."),
    ],
    labels=[Label("cuser_name", "cuser", family="user", attr="username"),
            Label("credential_name", "credential", family="credential")],
    search=("name", "description"), filters=("name", "credential"), ordering=("name",),
    indexes=("credential",),
    validate=lambda change: _check_login_credential(change.data.get("credential")),
))

INVENTORY_USERS, INVENTORY_TEAMS = protect(INVENTORIES, "/api/project/inventory/authorized/users",
                                           "/api/project/inventory/empowered/teams")


def _check_login_credential(cred_id: int | None) -> None:
    if cred_id:
        cred = store.get("credential", cred_id)
        if cred is not None and cred.get("type") != "ssh":
            raise ValidationError("credential", f"an inventory's login credential must be ssh, not {cred.get('type')}")


# ---------------------------------------------------------------- names

#: ansible accepts almost anything as a host name, but whitespace, commas and these would break
#: host patterns (`--limit`) and INI inventories
_BAD_HOST_CHARS = re.compile(r"[\s,#'\"]")
#: group names: what an INI section header and a host pattern can hold ("tomcat-servers" is fine)
_GROUP_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")
RESERVED_GROUPS = ("all", "ungrouped", "_meta")


def clean_hostname(value: str, field_name: str = "hostname") -> str:
    """Hostnames are trimmed (changelog 2.4) and must be usable in a host pattern."""
    name = (value or "").strip()
    if not name:
        raise ValidationError(field_name, "This field may not be blank.")
    if _BAD_HOST_CHARS.search(name):
        raise ValidationError(field_name, f'"{name}" contains whitespace, a comma, # or a quote')
    return name


def check_group_name(name: str, field_name: str = "name") -> None:
    if name in RESERVED_GROUPS:
        raise ValidationError(field_name, f'"{name}" is a built-in group name')
    if not _GROUP_NAME.fullmatch(name):
        raise ValidationError(field_name, f'"{name}" is not a valid group name (letters, digits, _ . -; not starting with . or -)')


# ---------------------------------------------------------------- rows that link two objects


def _same_inventory(change, left: tuple[str, str], right: tuple[str, str]) -> None:
    """Both ends of a link row are in one inventory; the row carries that inventory (indexed)."""
    (left_field, left_family), (right_field, right_family) = left, right
    found = store.batch_get([(left_family, change.data[left_field]), (right_family, change.data[right_field])])
    a = found[(left_family, change.data[left_field])]
    b = found[(right_family, change.data[right_field])]
    if a.get("inventory") != b.get("inventory"):
        raise ValidationError(right_field, f"{right_family} {b['id']} is in inventory {b.get('inventory')}, "
                                           f"{left_family} {a['id']} in inventory {a.get('inventory')}: "
                                           f"both must be in the same inventory")
    if change.data.get("inventory") != a.get("inventory"):
        change.data["inventory"] = a.get("inventory")
        change.changed.add("inventory")  # so that moving a row checks write on the new inventory


def _validate_children(change) -> None:
    _same_inventory(change, ("group", "group"), ("child", "group"))
    parent, child = change.data["group"], change.data["child"]
    own_id = change.existing["id"] if change.existing else None
    edges: dict[int, list[int]] = {}
    for row in store.scan_index(CHILDREN, "inventory", change.data["inventory"], ascending=True):
        if row["id"] != own_id:
            edges.setdefault(row["group"], []).append(row["child"])
    path = _path(edges, child, parent) if parent != child else [parent]
    if path:
        names = store.batch_get(("group", g) for g in set(path) | {parent, child})
        name = {g: names.get(("group", g), {}).get("name", str(g)) for g in set(path) | {parent, child}}
        if parent == child:
            raise ValidationError("child", f'group "{name[child]}" cannot be its own child')
        chain = " → ".join(name[g] for g in path)
        raise ValidationError("child", f'group "{name[child]}" is already an ancestor of "{name[parent]}" '
                                       f"({chain}); making it a child would create a cycle")


def _path(edges: dict[int, list[int]], start: int, goal: int) -> list[int]:
    """A parent→child path from `start` to `goal`, or [] (iterative DFS: inventories can be deep)."""
    stack: list[tuple[int, list[int]]] = [(start, [start])]
    seen = {start}
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        for nxt in edges.get(node, ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append((nxt, path + [nxt]))
    return []


def _validate_membership(change) -> None:
    _same_inventory(change, ("host", "host"), ("group", "group"))


CHILDREN = register(Resource(
    family="group_children", path="/api/project/group/children", title="Group children",
    description="Parent→child links between groups of one inventory. A group cannot become its own ancestor.",
    access=Access.parent("inventory", "inventory"),
    fields=[
        Ref("group", family="group", required=True, on_delete="cascade", aliases=("group_id",), description="Parent group id."),
        # deleting the child group removes the row too (GROUPS.also_deletes): only two fields can be indexed
        Ref("child", family="group", required=True, aliases=("child_id",), description="Child group id."),
        Ref("inventory", family="inventory", read_only=True, on_delete="cascade",
            description="The groups' inventory (set from them)."),
    ],
    labels=[Label("group_name", "group", family="group"), Label("child_name", "child", family="group")],
    filters=("group", "child", "inventory"), indexes=("inventory", "group"), unique=(("group", "child"),),
    validate=_validate_children,
))

MEMBERSHIPS = register(Resource(
    family="group_host", path="/api/project/hosts", title="Group hosts",
    description="Puts a host into a group of the same inventory (note the plural path; /api/project/host/ is the host).",
    access=Access.parent("inventory", "inventory"),
    fields=[
        Ref("group", family="group", required=True, aliases=("group_id",), description="Group id."),
        Ref("host", family="host", required=True, on_delete="cascade", aliases=("host_id",), description="Host id."),
        Ref("inventory", family="inventory", read_only=True, on_delete="cascade",
            description="The host's inventory (set from it)."),
    ],
    labels=[Label("host_name", "host", family="host", attr="hostname"), Label("group_name", "group", family="group")],
    search=("host",), filters=("group", "host", "inventory"), indexes=("inventory", "host"),
    unique=(("group", "host"),), validate=_validate_membership,
))


# ---------------------------------------------------------------- hosts and groups

STATUS_LABELS = {1: "Enabled", 0: "Disabled"}


@dataclass
class HostStatus(Bool01):
    """1 enabled / 0 disabled; the words enabled/disabled are accepted too (spec D13)."""

    default: Any = 1

    def parse(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip().lower() in ("enabled", "disabled"):
            return 1 if value.strip().lower() == "enabled" else 0
        return super().parse(value)


def _validate_host(change) -> None:
    change.data["hostname"] = clean_hostname(change.data.get("hostname", ""))


def _validate_group(change) -> None:
    check_group_name(change.data.get("name", ""))


def _group_links(rec: dict, rows: IndexRows) -> Iterator[tuple[Resource, dict]]:
    """The rows that name a group where no index leads to them (child links, memberships): found
    among its inventory's rows, which a delete plan reads once however many groups it deletes."""
    for resource, field_name in ((CHILDREN, "child"), (MEMBERSHIPS, "group")):
        for row in rows(resource, "inventory", rec.get("inventory")):
            if row.get(field_name) == rec["id"]:
                yield resource, row


HOSTS = register(Resource(
    family="host", path="/api/project/host", title="Hosts",
    description="Machines of an inventory. Disabled hosts (status 0) are left out of runs and rendered inventories. "
                "Hostnames are unique per inventory; host_source is set on hosts a host source imported.",
    access=Access.parent("inventory", "inventory"),
    fields=[
        Str("hostname", required=True, blank=False, max_length=512, description="Host name or IP (trimmed)."),
        Ref("inventory", family="inventory", required=True, on_delete="cascade", aliases=("inventory_id",),
            description="Inventory id."),
        Str("description", max_length=1024, description="Description."),
        HostStatus("status", description="1 enabled, 0 disabled (left out of runs)."),
        Yaml("variables", description="Host variables (YAML or JSON mapping)."),
        Ref("host_source", family="host_source", read_only=True, on_delete="cascade",
            description="The host source that imported this host; null for hand-made hosts."),
    ],
    labels=[Label("inventory_name", "inventory", family="inventory"),
            Label("status_name", "status", choices=STATUS_LABELS)],
    search=("hostname", "description"), filters=("inventory", "hostname", "status", "host_source"),
    ordering=("hostname",), indexes=("inventory", "host_source"), unique=(("inventory", "hostname"),),
    validate=_validate_host,
))

GROUPS = register(Resource(
    family="group", path="/api/project/group", title="Groups",
    description="Groups of hosts in an inventory; nest them with /api/project/group/children/.",
    access=Access.parent("inventory", "inventory"),
    fields=[
        Str("name", required=True, blank=False, max_length=256, description="Group name (not all/ungrouped)."),
        Ref("inventory", family="inventory", required=True, on_delete="cascade", aliases=("inventory_id",),
            description="Inventory id."),
        Str("description", max_length=1024, description="Description."),
        Yaml("variables", description="Group variables (YAML or JSON mapping)."),
        Ref("host_source", family="host_source", read_only=True, on_delete="cascade",
            description="The host source that imported this group; null for hand-made groups."),
    ],
    labels=[Label("inventory_name", "inventory", family="inventory")],
    search=("name", "description"), filters=("inventory", "name", "host_source"), ordering=("name",),
    indexes=("inventory", "host_source"), unique=(("inventory", "name"),),
    validate=_validate_group, also_deletes=_group_links,
))

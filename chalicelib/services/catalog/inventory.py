"""Inventories (spec §3.5) and their grants. Hosts, groups and sources follow an inventory's
permissions (`Access.parent`)."""
from __future__ import annotations

from chalicelib.services.catalog.grants import protect
from chalicelib.services.fields import Int, Label, Str, Text, Yaml
from chalicelib.services.resources import Access, Resource, register

INVENTORIES = register(Resource(
    family="inventory", path="/api/project/inventory", title="Inventories",
    description="A set of hosts and groups that jobs run against.",
    access=Access.protected(),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Inventory name."),
        Str("description", max_length=1024, description="Description."),
        Yaml("variables", description="Inventory variables (YAML or JSON mapping), applied to group all."),
        Text("inventory", description="Optional host-list content (INI-style), unused by runs."),
        Int("cuser", read_only=True, default=None, description="Creator's user id."),
        Int("ctime", read_only=True, default=None, description="Creation time (epoch seconds)."),
    ],
    labels=[Label("cuser_name", "cuser", family="user", attr="username")],
    search=("name", "description"), filters=("name",), ordering=("name",),
))

INVENTORY_USERS, INVENTORY_TEAMS = protect(INVENTORIES, "/api/project/inventory/authorized/users",
                                           "/api/project/inventory/empowered/teams")

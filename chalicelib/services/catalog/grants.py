"""Grant families: user and team permissions on each protected family (spec §1.12, §3.0).

`protect(resource, user_path, team_path)` declares both families for one protected resource;
adding a protected family is that one call.
"""
from __future__ import annotations

from chalicelib.services.fields import Label, Ref, Str, UserRef
from chalicelib.services.rbac import team_grant_family, user_grant_family
from chalicelib.services.resources import LEVEL_LABELS, Access, Resource, register

PERMISSIONS = tuple(LEVEL_LABELS)


def protect(resource: Resource, user_path: str, team_path: str) -> tuple[Resource, Resource]:
    family = resource.family
    name_attr = "name"
    common = {"access": Access.parent("data", family, write_level="admin"), "tag": resource.tag,
                  "ordering": ("permission",)}
    user_grants = register(Resource(
        family=user_grant_family(family), path=user_path, title=f"{resource.title}: user permissions",
        description=f"Grants of read/execute/write/admin on one {family} to one user. Managing them needs admin.",
        fields=[
            UserRef("username", required=True, on_delete="cascade", aliases=("user", "user_id"), description="The user's id (or login on input)."),
            Ref("data", family=family, required=True, on_delete="cascade", aliases=("data_id",), description=f"The {family}'s id."),
            Str("permission", required=True, blank=False, choices=PERMISSIONS, description="Permission code."),
        ],
        labels=[
            Label("user_name", "username", family="user", attr="username"),
            Label("last_name", "username", family="user", attr="last_name"),
            Label("data_name", "data", family=family, attr=name_attr),
            Label("permission_name", "permission", choices=LEVEL_LABELS),
        ],
        search=("username",), filters=("username", "data", "permission"),
        indexes=("data", "username"), unique=(("data", "username"),), **common,
    ))
    team_grants = register(Resource(
        family=team_grant_family(family), path=team_path, title=f"{resource.title}: team permissions",
        description=f"Grants of read/execute/write/admin on one {family} to every member of a team.",
        fields=[
            Ref("team", family="team", required=True, on_delete="cascade", aliases=("team_id",), description="The team's id."),
            Ref("data", family=family, required=True, on_delete="cascade", aliases=("data_id",), description=f"The {family}'s id."),
            Str("permission", required=True, blank=False, choices=PERMISSIONS, description="Permission code."),
        ],
        labels=[
            Label("team_name", "team", family="team"),
            Label("data_name", "data", family=family, attr=name_attr),
            Label("permission_name", "permission", choices=LEVEL_LABELS),
        ],
        search=("team",), filters=("team", "data", "permission"),
        indexes=("data", "team"), unique=(("data", "team"),), **common,
    ))
    return user_grants, team_grants

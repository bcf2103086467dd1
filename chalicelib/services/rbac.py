"""One permission mechanism for every protected family.

Grants live in two declared families per protected family, `grant.<family>.user` and
`grant.<family>.team`, both indexed by principal and by object. So "what may user U do on
inventory 7" is two small index queries, and "which inventories may U read" is one query per
principal (the user and each of their teams), never a read of the inventories partition.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from chalicelib.services import store
from chalicelib.services.errors import PermissionDenied
from chalicelib.services.resources import LEVELS, Resource
from chalicelib.services.resources import get as get_resource


@dataclass
class Principal:
    """The authenticated caller of one request."""

    user: dict
    _teams: list[int] | None = field(default=None, repr=False)

    @property
    def id(self) -> int:
        return int(self.user["id"])

    @property
    def is_superuser(self) -> bool:
        return bool(self.user.get("superuser"))

    def teams(self) -> list[int]:
        if self._teams is None:
            members = get_resource("team_member")
            self._teams = [int(m["team"]) for m in store.scan_index(members, "username", self.id)]
        return self._teams


def user_grant_family(family: str) -> str:
    return f"grant.{family}.user"


def team_grant_family(family: str) -> str:
    return f"grant.{family}.team"


def object_level(principal: Principal, family: str, object_id: int) -> int:
    """The caller's effective level on one object of a protected family (0 = none)."""
    if principal.is_superuser:
        return LEVELS["admin"]
    best = 0
    users = get_resource(user_grant_family(family))
    for grant in store.scan_index(users, "data", object_id):
        if int(grant["username"]) == principal.id:
            best = max(best, LEVELS.get(grant.get("permission"), 0))
    teams = get_resource(team_grant_family(family))
    member_of = set(principal.teams())
    if member_of:
        for grant in store.scan_index(teams, "data", object_id):
            if int(grant["team"]) in member_of:
                best = max(best, LEVELS.get(grant.get("permission"), 0))
    return best


def readable_ids(principal: Principal, family: str, minimum: str = "read") -> dict[int, int]:
    """Ids of the objects of `family` the caller holds at least `minimum` on, with the level,
    through grants on the objects themselves (see `readable_records` for `readable_via`)."""
    out: dict[int, int] = {}
    need = LEVELS[minimum]

    def take(grants) -> None:
        for grant in grants:
            level = LEVELS.get(grant.get("permission"), 0)
            if level >= need:
                out[int(grant["data"])] = max(level, out.get(int(grant["data"]), 0))

    take(store.scan_index(get_resource(user_grant_family(family)), "username", principal.id))
    teams = get_resource(team_grant_family(family))
    for team_id in principal.teams():
        take(store.scan_index(teams, "team", team_id))
    return out


def record_level(principal: Principal, resource: Resource, rec: dict) -> int:
    """Effective level on a record of any family, following its access policy."""
    access = resource.access
    if principal.is_superuser:
        return LEVELS["admin"]
    if access.kind == "open":
        return LEVELS["read"]
    if access.kind == "superuser":
        return 0
    if access.kind == "protected":
        level = object_level(principal, resource.family, rec["id"])
        via = rec.get(access.parent_field) if access.parent_field else None
        if level < LEVELS["read"] and via is not None \
                and object_level(principal, access.parent_family, int(via)) >= LEVELS["read"]:
            level = LEVELS["read"]
        return level
    parent_id = rec.get(access.parent_field)
    if parent_id is None:
        return 0
    parent = get_resource(access.parent_family)
    if parent.access.kind == "protected" and not parent.access.parent_field:
        level = object_level(principal, parent.family, int(parent_id))
    else:
        parent_rec = store.get(parent.family, int(parent_id))
        level = record_level(principal, parent, parent_rec) if parent_rec else 0
    # writing to a child needs `write_level` on the parent; reading needs read
    if level >= LEVELS[access.write_level]:
        return LEVELS["admin"]
    return min(level, LEVELS["read"])


def require(principal: Principal, resource: Resource, rec: dict, level: str) -> None:
    """Raise 403 when the caller lacks `level` on the record (spec §1.2: no permission is 403)."""
    have = record_level(principal, resource, rec)
    if have < LEVELS[level]:
        raise PermissionDenied(f"You need {level} permission on this {resource.family}.")


def grant_creator_admin(principal: Principal, family: str, object_id: int) -> None:
    """The creator of a protected object gets `admin` on it (AWX behaviour)."""
    if principal.is_superuser:
        return
    resource = get_resource(user_grant_family(family))
    store.create(resource, {"username": principal.id, "data": object_id, "permission": "admin"})


def readable_records(principal: Principal, resource: Resource) -> list[dict]:
    """The records of a protected family the caller may read: those granted to them (or their
    teams) and, with `readable_via`, those of the via-records they may read (one index query each)."""
    found = store.batch_get((resource.family, i) for i in readable_ids(principal, resource.family))
    rows = {rec["id"]: rec for rec in found.values()}
    access = resource.access
    if access.parent_field:
        for via_id in sorted(readable_ids(principal, access.parent_family)):
            for rec in store.scan_index(resource, access.parent_field, via_id):
                rows.setdefault(rec["id"], rec)
    return list(rows.values())

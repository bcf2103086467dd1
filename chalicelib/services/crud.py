"""Create, read, update, delete and list, once, for every declared resource.

List strategy (why it stays cheap as tables grow):
  * A list is read from one DynamoDB partition: the family's, or an index partition when an
    indexed filter is given (``?inventory=5``). Rows come in id order from the range key.
  * Ordered by id with no other filter, a page is a query with ``Limit=offset+limit`` and
    ``count`` comes from the partition's row counter: cost does not depend on table size.
  * Search reads the records its n-gram index names (`chalicelib.services.search`): the cost
    follows the matches. Other filters and ordering by non-key fields read the partition they
    apply to, so families that grow with use (hosts, jobs, logs) declare only their id and
    indexed fields.
  * Callers restricted by grants read only what their grants name (one query per principal,
    then BatchGetItem), never the whole family.
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from chalicelib.services import activity, deletion, rbac, search, secrets, store
from chalicelib.services.errors import NotFound, PermissionDenied, ValidationError
from chalicelib.services.fields import ENCRYPTED, Int, Ref, UserRef, integer
from chalicelib.services.limits import INT_MAX
from chalicelib.services.resources import LEVELS, Resource
from chalicelib.services.resources import get as get_resource

DEFAULT_LIMIT = 20
MAX_LIMIT = 200


@dataclass
class ListQuery:
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    ordering: list[tuple[str, bool]] = field(default_factory=lambda: [("id", True)])  # (field, descending)
    search: str = ""
    #: exact-match filters, each value parsed by its field (ids as ints, logins as strings)
    filters: dict[str, Any] = field(default_factory=dict)


@dataclass
class Change:
    """What `Resource.validate` sees: the merged record, what the client changed, the old one."""

    principal: rbac.Principal
    data: dict
    changed: set[str]
    existing: dict | None
    resource: Resource | None = None

    @property
    def creating(self) -> bool:
        return self.existing is None

    def plaintext(self, name: str) -> str:
        """A field's value in clear: a new value (and any field that is not secret) as given,
        a kept secret decrypted from the stored record (`data` holds it still sealed)."""
        secret = self.resource is not None and self.resource.by_name[name].secret
        if not secret or name in self.changed or self.existing is None:
            return self.data.get(name) or ""
        return secrets.decrypt(self.existing.get(name) or "", self.resource.family, name)


#: the paging parameters, parsed like any integer field (ASCII digits, 64-bit range)
OFFSET = Int("offset", minimum=0, description="Start position.")
LIMIT = Int("limit", minimum=0, default=DEFAULT_LIMIT,
            description=f"Page size (default {DEFAULT_LIMIT}; 0 means the default; larger than {MAX_LIMIT} means {MAX_LIMIT}).")


def filter_value(resource: Resource, name: str, raw: str) -> Any:
    """A filter's query-string value as its field stores it: `?username=admin` on users is a
    string, `?inventory=5` an int; a login given for a user reference becomes that user's id
    (None when no such user: nothing matches)."""
    f = resource.by_name[name]
    value = f.parse(raw)
    if isinstance(f, UserRef) and isinstance(value, str):
        user = _lookup_user(value)
        return user["id"] if user else None
    return value


def parse_list_query(resource: Resource, params: dict[str, str]) -> ListQuery:
    q = ListQuery()
    q.offset = OFFSET.parse(params.get("offset"))
    q.limit = min(LIMIT.parse(params.get("limit")) or DEFAULT_LIMIT, MAX_LIMIT)
    allowed = ["id", *resource.ordering]
    raw_ordering = params.get("ordering") or resource.default_ordering
    q.ordering = []
    for part in (p.strip() for p in raw_ordering.split(",")):
        if not part:
            continue
        name = part.lstrip("-")
        if name not in allowed:
            raise ValidationError("ordering", f'cannot order by "{name}"; allowed: {", ".join(allowed)}')
        q.ordering.append((name, part.startswith("-")))
    if not q.ordering:
        q.ordering = [("id", True)]
    q.search = (params.get("search") or "").strip()
    for name in resource.filters:
        if params.get(name) not in (None, ""):
            q.filters[name] = filter_value(resource, name, params[name])
    return q


# ---------------------------------------------------------------- reading


def _sort_key_value(value: Any) -> tuple:
    if value is None:
        return (0, "")
    if isinstance(value, (int, float)):
        return (1, value)
    return (2, str(value).lower())


def _matches(resource: Resource, rec: dict, q: ListQuery, skip: Iterable[str] = ()) -> bool:
    for name, wanted in q.filters.items():
        if name in skip:
            continue
        if wanted is None or rec.get(name, resource.by_name[name].default) != wanted:
            return False
    if q.search:
        needle = q.search.lower()
        if not any(needle in str(rec.get(name) or "").lower() for name in resource.search):
            return False
    return True


def _in_memory_page(resource: Resource, rows: Iterable[dict], q: ListQuery,
                    skip: Iterable[str] = ()) -> tuple[int, list[dict]]:
    rows = [r for r in rows if _matches(resource, r, q, skip)]
    for name, descending in reversed(q.ordering):
        rows.sort(key=lambda r: _sort_key_value(r.get(name)), reverse=descending)
    return len(rows), rows[q.offset:q.offset + q.limit]


def _partition_rows(resource: Resource, q: ListQuery, ascending: bool, limit: int | None):
    """Rows of the narrowest partition the filters allow, and the filter it already applied."""
    for name in resource.indexes:
        if name in q.filters:
            value = q.filters[name]
            if value is None:
                return iter(()), name
            return store.scan_index(resource, name, value, ascending=ascending, limit=limit), name
    return store.scan_partition(resource.family, ascending=ascending, limit=limit), None


def _key_ordered(q: ListQuery) -> bool:
    return len(q.ordering) == 1 and q.ordering[0][0] == "id"


def _list_unrestricted(resource: Resource, q: ListQuery) -> tuple[int, list[dict]]:
    indexed_filter = next((n for n in resource.indexes if n in q.filters), None)
    other_filters = set(q.filters) - {indexed_filter}
    if _key_ordered(q) and not q.search and not other_filters:
        descending = q.ordering[0][1]
        if indexed_filter and q.filters[indexed_filter] is None:
            return 0, []
        partition = resource.family
        if indexed_filter:
            position = list(resource.indexes).index(indexed_filter)
            partition = resource.index_key(position, q.filters[indexed_filter])
        total = store.count(partition)
        if q.offset >= total:
            return total, []
        rows, _ = _partition_rows(resource, q, ascending=not descending, limit=q.offset + q.limit)
        return total, list(rows)[q.offset:]
    if q.search:
        ids = search.candidate_ids(resource, q.search)
        if ids is not None:  # a superset: _in_memory_page checks the search and every filter
            found = store.batch_get((resource.family, i) for i in ids)
            return _in_memory_page(resource, sorted(found.values(), key=lambda r: r["id"]), q)
    rows, applied = _partition_rows(resource, q, ascending=True, limit=None)
    return _in_memory_page(resource, rows, q, skip=[applied] if applied else [])


def _list_restricted(principal: rbac.Principal, resource: Resource, q: ListQuery) -> tuple[int, list[dict]]:
    access = resource.access
    if access.kind == "superuser":
        raise PermissionDenied("Only superusers may list these.")
    if access.kind == "protected":
        return _in_memory_page(resource, rbac.readable_records(principal, resource), q)
    # parent: the union of the index partitions of the parents the caller may read
    parent = get_resource(access.parent_family)
    if parent.access.kind == "protected" and not parent.access.parent_field:
        parents = set(rbac.readable_ids(principal, parent.family))
    else:
        parents = {r["id"] for r in _visible_rows(principal, parent)}
    if access.parent_field in q.filters:
        wanted = q.filters[access.parent_field]
        parents = {p for p in parents if p == wanted}
    rows: list[dict] = []
    for parent_id in sorted(parents):
        rows.extend(store.scan_index(resource, access.parent_field, parent_id))
    return _in_memory_page(resource, rows, q, skip=[access.parent_field])


def _visible_rows(principal: rbac.Principal, resource: Resource) -> list[dict]:
    q = ListQuery(limit=10**9)
    if principal.is_superuser or resource.access.kind == "open":
        return _list_unrestricted(resource, q)[1]
    return _list_restricted(principal, resource, q)[1]


def list_records(principal: rbac.Principal, resource: Resource, q: ListQuery) -> tuple[int, list[dict]]:
    if principal.is_superuser or resource.access.kind == "open":
        total, rows = _list_unrestricted(resource, q)
    else:
        total, rows = _list_restricted(principal, resource, q)
    return total, serialize_many(resource, rows)


def load(resource: Resource, record_id: Any) -> dict:
    """The record with this id (from a path: a string); 404 for anything that is not one."""
    record_id = integer(record_id)
    if record_id is None or not 1 <= record_id <= INT_MAX:
        raise NotFound("Not found.")
    rec = store.get(resource.family, record_id)
    if rec is None:
        raise NotFound(f"No {resource.family} with id {record_id}.")
    return rec


def retrieve(principal: rbac.Principal, resource: Resource, record_id: Any) -> dict:
    rec = load(resource, record_id)
    rbac.require(principal, resource, rec, "read")
    return serialize(resource, rec)


# ---------------------------------------------------------------- serializing


def serialize(resource: Resource, rec: dict) -> dict:
    return serialize_many(resource, [rec])[0]


def serialize_many(resource: Resource, rows: list[dict]) -> list[dict]:
    """Records as the API shows them; every referenced name on the page in one BatchGetItem."""
    wanted: set[tuple[str, int]] = set()
    for label in resource.labels:
        if label.family:
            wanted.update((label.family, int(r[label.source])) for r in rows
                          if isinstance(r.get(label.source), int))
    names = store.batch_get(wanted) if wanted else {}
    out = []
    for rec in rows:
        item: dict[str, Any] = {"id": rec["id"]}
        for f in resource.fields:
            if f.hidden:
                continue
            value = rec.get(f.name, f.default)
            if f.secret:
                value = ENCRYPTED if value else ""
            item[f.name] = value
        for label in resource.labels:
            if label.compute is not None:
                item[label.name] = label.compute(rec)
            elif label.family:
                ref = names.get((label.family, rec.get(label.source))) if isinstance(rec.get(label.source), int) else None
                item[label.name] = ref.get(label.attr) if ref else None
            else:
                item[label.name] = (label.choices or {}).get(rec.get(label.source))
        if resource.extra is not None:
            item.update(resource.extra(rec))
        out.append(item)
    return out


# ---------------------------------------------------------------- writing


def _lookup_user(login: str) -> dict | None:
    users = get_resource("user")
    return next(iter(store.scan_index(users, "username", login, limit=1)), None)


def _check_ref(principal: rbac.Principal, f: Ref, value: Any) -> Any:
    if value is None:
        return None
    if isinstance(f, UserRef) and isinstance(value, str):
        user = _lookup_user(value)
        if user is None:
            raise ValidationError(f.name, f'no user "{value}"')
        return user["id"]
    target = get_resource(f.family)
    rec = store.get(target.family, value)
    if rec is None:
        raise ValidationError(f.name, f"no {f.family} with id {value}")
    if f.family != "user" and rbac.record_level(principal, target, rec) < LEVELS[f.needs]:
        raise PermissionDenied(f"{f.name}: you need {f.needs} permission on {f.family} {value}")
    return value


def _clean(principal: rbac.Principal, resource: Resource, payload: dict, existing: dict | None,
           partial: bool) -> tuple[dict, set[str]]:
    if not isinstance(payload, dict):
        raise ValidationError(None, "Expected a JSON object or a form body.")
    data = dict(existing or {})
    changed: set[str] = set()
    for f in resource.writable:
        names = [f.name, *f.aliases]
        given = next((n for n in names if n in payload), None)
        if given is None:
            if existing is None:
                if f.required:
                    raise ValidationError(f.name, "This field is required.")
                data[f.name] = f.parse(None)
                continue
            if not partial and f.required:
                # PUT replaces the record: every required field must be sent (PATCH is partial)
                raise ValidationError(f.name, "This field is required.")
            continue
        raw = payload[given]
        if f.secret and raw == ENCRYPTED:
            continue  # keep the stored value
        value = f.parse(raw)
        if f.required and value in (None, "") and not getattr(f, "blank", False):
            raise ValidationError(f.name, "This field is required.")
        if isinstance(f, Ref) and (existing is None or existing.get(f.name) != value):
            value = _check_ref(principal, f, value)  # an unchanged reference needs no new check
            if f.needs == "execute":
                # who vouches for using it: a launcher with only execute on this record uses it
                # on their behalf, while they keep their use grant (services.launch)
                data["attached_by"] = {**(data.get("attached_by") or {}), f.name: principal.id}
        data[f.name] = value
        changed.add(f.name)
    return data, changed


def clean(principal: rbac.Principal, resource: Resource, payload: dict) -> dict:
    """A new record's fields parsed from a client payload (references checked), not stored:
    for families whose records another service creates (jobs: `services.launch`)."""
    return _clean(principal, resource, payload, None, partial=False)[0]


def _seal_secrets(resource: Resource, data: dict, changed: set[str]) -> None:
    for f in resource.secrets:
        if f.name in changed:
            data[f.name] = secrets.encrypt(data[f.name] or "", resource.family, f.name)


def _check_create_allowed(principal: rbac.Principal, resource: Resource, data: dict) -> None:
    access = resource.access
    if principal.is_superuser or access.kind == "protected":
        return
    if access.kind in ("open", "superuser"):
        raise PermissionDenied(f"Only superusers may change {resource.family} records.")
    parent = get_resource(access.parent_family)
    parent_rec = store.get(parent.family, data.get(access.parent_field)) if data.get(access.parent_field) else None
    if parent_rec is None:
        raise ValidationError(access.parent_field, "This field is required.")
    if rbac.record_level(principal, parent, parent_rec) < LEVELS[access.write_level]:
        raise PermissionDenied(f"You need {access.write_level} permission on this {parent.family}.")


def create(principal: rbac.Principal, resource: Resource, payload: dict) -> dict:
    if resource.read_only:
        raise PermissionDenied("This collection is read-only.")
    data, changed = _clean(principal, resource, payload, None, partial=False)
    if resource.validate:
        # before the parent check: link rows (group children, memberships) derive their parent
        # (`inventory`) from the records they link; every Ref was permission-checked by _clean
        resource.validate(Change(principal, data, changed, None, resource))
    _check_create_allowed(principal, resource, data)
    if resource.singleton and store.count(resource.family) > 0:
        raise ValidationError(None, f"only one {resource.family} record may exist; update it instead")
    _seal_secrets(resource, data, changed)
    if "ctime" in resource.by_name:
        data["ctime"] = int(time.time())
    if "cuser" in resource.by_name:
        data["cuser"] = principal.id
    rec = store.create(resource, data)
    if resource.access.kind == "protected":
        rbac.grant_creator_admin(principal, resource.family, rec["id"])
    if resource.after_save:
        resource.after_save(principal, rec, None)
    activity.created(principal, resource, rec, changed)  # the creator's admin grant is part of it
    return serialize(resource, rec)


def update(principal: rbac.Principal, resource: Resource, record_id: Any, payload: dict,
           partial: bool) -> dict:
    existing = load(resource, record_id)
    rbac.require(principal, resource, existing, "write")
    data, changed = _clean(principal, resource, payload, existing, partial)
    if resource.validate:
        resource.validate(Change(principal, data, changed, existing, resource))  # may derive the parent field
    access = resource.access
    if access.kind == "parent" and access.parent_field in changed and not principal.is_superuser:
        _check_create_allowed(principal, resource, data)
    _seal_secrets(resource, data, changed)
    rec = store.update(resource, existing, data)
    if resource.after_save:
        resource.after_save(principal, rec, existing)
    activity.updated(principal, resource, existing, rec, changed)
    return serialize(resource, rec)


def remove(principal: rbac.Principal | None, resource: Resource, rec: dict) -> None:
    """Delete a loaded record and what cascades from it, unless a protect rule refuses it (no
    permission check here: for deletes the system makes)."""
    deletion.execute(deletion.plan(resource, [rec], principal, check_write=False))


def destroy(principal: rbac.Principal, resource: Resource, record_id: Any) -> None:
    """DELETE on an item: the same plan as a bulk delete of one id."""
    rec = load(resource, record_id)
    _delete_and_record(principal, resource, [rec], deletion.plan(resource, [rec], principal, check_write=True))


def _delete_and_record(principal: rbac.Principal, resource: Resource, records: list[dict],
                       delete_plan: deletion.DeletePlan) -> None:
    """Write a client's delete, then its activity entries: one per requested record, with the
    number of records of each family that went with them."""
    deletion.execute(delete_plan)
    requested = {(resource.family, int(r["id"])) for r in records}
    cascaded: dict[str, int] = {}
    for item in delete_plan.removals:
        if item.key not in requested:
            cascaded[item.key[0]] = cascaded.get(item.key[0], 0) + 1
    activity.deleted(principal, resource, records, cascaded)


def bulk_destroy(principal: rbac.Principal, resource: Resource, ids: list[Any]) -> list[int]:
    """Delete several records, all or nothing: every id, what cascades from it and every
    protect rule are checked before anything is deleted (see `chalicelib.services.deletion`
    for what is atomic when the plan exceeds one transaction)."""
    if not ids:
        raise ValidationError("pk", "Give the ids to delete as pk=1,2 or pk[]=1&pk[]=2.")
    clean_ids: list[int] = []
    for raw in ids:
        number = integer(raw)
        if number is None or not 1 <= number <= INT_MAX:
            raise ValidationError("pk", f'"{raw}" is not an id')
        clean_ids.append(number)
    clean_ids = list(dict.fromkeys(clean_ids))
    found = store.batch_get((resource.family, i) for i in clean_ids)
    missing = [i for i in clean_ids if (resource.family, i) not in found]
    if missing:
        raise ValidationError("pk", f"no {resource.family} with id {', '.join(map(str, missing))}")
    records = [found[(resource.family, i)] for i in clean_ids]
    _delete_and_record(principal, resource, records,
                       deletion.plan(resource, records, principal, check_write=True, field_name="pk"))
    return clean_ids

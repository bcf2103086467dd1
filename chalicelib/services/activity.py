"""The activity stream: who did what to which object, and when (`GET /api/system/activity/`).

Every user action that changes something is one entry: create, update, delete (crud), grant and
revoke (a grant record created, changed or deleted), launch and relaunch (`services.launch`, the
one door of jobs), cancel, and login (success, and a failed password of an existing user). An
entry names its user (id and login), its time (epoch seconds `ctime` and ISO `timestamp`), its
object (family, id, name) and the fields it changed (field -> new value; secret and hidden fields
as "$encrypted$", long values cut), and is also one structured log line (`"activity": true`), so
on AWS it is in CloudWatch Logs with the API's other lines.

Storage (why it stays cheap): entries are records of the family `activity` in the records table,
written through `store` (one transaction: the entry and its row counters). Their ids are their
time, `epoch milliseconds * 1000 + a random 0..999` (unique: the write is conditional and retried),
so id order is time order and a time range is a range-key condition, never a scan. Three GSI
projections make the other questions one query each: `user` ("entries of user U"), `subject`
("entries of object family:id") and `family`. A list is one query on the narrowest of those
partitions (object, else user, else family, else the family partition), newest first, read up to
the page; any further filter (the action, a second of user/family) is a filter expression of
that query. `count` is the partition's row counter (one GetItem) when the partition alone is
asked for, else a COUNT query of the same key range and filters.

Entries are kept (as AWX keeps them): no TTL, since the row counters would not follow
expirations.

Writing an entry never fails the action it records: it is written after the change succeeded,
and if the write fails the entry is logged as an error with all its fields (so it is not lost
silently either).
"""
from __future__ import annotations

import datetime
import enum
import json
import random
import re
import time
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from chalicelib.models import Record
from chalicelib.services import store
from chalicelib.services.errors import Conflict, ValidationError
from chalicelib.services.fields import ENCRYPTED, Int, Str, integer
from chalicelib.services.limits import INT_MAX
from chalicelib.services.resources import Access, Resource
from chalicelib.services.resources import get as get_resource

if TYPE_CHECKING:
    from chalicelib.services.rbac import Principal

logger = Logger(service="opsgrat-activity")

FAMILY = "activity"
#: longest value kept for a changed field (a 256 KiB inline inventory would not fit an item)
MAX_VALUE_CHARS = 2000
#: writes of one entry before giving up (two entries in the same millisecond with the same suffix)
_ATTEMPTS = 5


class Action(enum.StrEnum):
    """What an entry records. A StrEnum: members are the strings stored and shown."""

    CREATE = "create"
    UPDATE = "update"
    DELETE = "delete"
    GRANT = "grant"
    REVOKE = "revoke"
    LAUNCH = "launch"
    RELAUNCH = "relaunch"
    CANCEL = "cancel"
    LOGIN = "login"


#: the storage declaration (not registered: clients never write it, and no other family refers
#: to it); its indexed fields are what a list asks for in one query
ENTRIES = Resource(
    family=FAMILY, path="/api/system/activity", title="Activity stream",
    description="Who did what to which object, and when. Superusers see every entry, others their own.",
    access=Access.superuser(), read_only=True,
    fields=[
        Str("action", choices=tuple(Action), description="What was done."),
        Int("ctime", description="When (epoch seconds)."),
        Str("timestamp", description="When: ISO 8601 UTC with milliseconds."),
        Int("user", default=None, description="Id of the user who did it (null: the system)."),
        Str("user_name", default=None, description="That user's login."),
        Str("family", description="The object's family (job, inventory, user, ...)."),
        Int("object", default=None, description="The object's id."),
        Str("object_name", default=None, description="The object's name when it was recorded."),
    ],
    indexes=("user", "subject", "family"),
)


# ---------------------------------------------------------------- writing


def _iso(ms: int) -> str:
    moment = datetime.datetime.fromtimestamp(ms / 1000, datetime.UTC)
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _value(value: Any) -> Any:
    """A changed value as an entry keeps it: long strings (and big structures) cut."""
    if isinstance(value, str):
        return value if len(value) <= MAX_VALUE_CHARS else value[:MAX_VALUE_CHARS] + f"... ({len(value)} characters)"
    if isinstance(value, (dict, list)):
        text = json.dumps(value, separators=(",", ":"), default=str)
        return value if len(text) <= MAX_VALUE_CHARS else text[:MAX_VALUE_CHARS] + f"... ({len(text)} characters)"
    return value


def record(principal: "Principal | None", action: Action, family: str, object_id: int | None,
           name: str | None = None, changes: dict | None = None) -> None:
    """Store one entry and log it; never raises (see the module docstring). `principal` None is
    the system (no user)."""
    entry: dict[str, Any] = {}
    try:
        user = principal.user if principal is not None else None
        entry = {"action": Action(action).value, "user": int(user["id"]) if user else None,
                 "user_name": user.get("username") if user else None, "family": family,
                 "object": int(object_id) if object_id is not None else None,
                 "object_name": None if name is None else str(name)[:512],
                 "changes": {str(k): _value(v) for k, v in (changes or {}).items()}}
        if entry["object"] is not None:
            entry["subject"] = f"{family}:{entry['object']}"
        for attempt in range(_ATTEMPTS):
            ms = int(time.time() * 1000)
            # "action" first: the stored body begins with it, which list filters rely on
            rec = {"id": ms * 1000 + random.randrange(1000), **entry, "ctime": ms // 1000, "timestamp": _iso(ms)}
            try:
                stored = store.create(ENTRIES, rec)
                break
            except Conflict:
                if attempt == _ATTEMPTS - 1:
                    raise
        logger.info("activity", extra={"activity": True, **serialize(stored)})
    except Exception:  # noqa: BLE001 - the action succeeded; its entry must not undo that
        logger.exception("activity entry not stored", extra={"activity": True, **entry})


def _grant_target(resource: Resource) -> str | None:
    """The protected family of a grant family (`grant.inventory.user` -> inventory), else None."""
    parts = resource.family.split(".")
    return parts[1] if len(parts) == 3 and parts[0] == "grant" else None


def name_of(rec: dict) -> str | None:
    """What a person calls a record: its name, hostname, login or tag."""
    for key in ("name", "hostname", "username", "tag"):
        if isinstance(rec.get(key), str) and rec[key]:
            return rec[key]
    return None


def shown_changes(resource: Resource, rec: dict, names, previous: dict | None = None) -> dict:
    """Field -> new value of the fields a client changed; secrets and hidden fields (password
    hashes) as "$encrypted$" (or "" when emptied); unchanged values left out of an update."""
    out = {}
    for field_name in sorted(names):
        f = resource.by_name.get(field_name)
        if f is None:
            continue
        value = rec.get(f.name)
        if f.secret or f.hidden:
            out[f.name] = ENCRYPTED if value else ""
        elif previous is None or previous.get(f.name) != value:
            out[f.name] = value
    return out


def _grant_entry(principal, resource: Resource, rec: dict, action: Action, changes: dict) -> None:
    target = _grant_target(resource)
    obj = store.get(target, int(rec["data"])) if rec.get("data") is not None else None
    grantee = {"username": rec["username"]} if "username" in rec else {"team": rec.get("team")}
    record(principal, action, target, rec.get("data"), name_of(obj or {}),
           {**grantee, "permission": rec.get("permission"), "grant_family": resource.family,
            "grant": rec.get("id"), **changes})


def created(principal, resource: Resource, rec: dict, changed) -> None:
    """A record created through crud (a grant record: `grant`)."""
    if _grant_target(resource):
        _grant_entry(principal, resource, rec, Action.GRANT, {})
        return
    record(principal, Action.CREATE, resource.family, rec["id"], name_of(rec), shown_changes(resource, rec, changed))


def updated(principal, resource: Resource, previous: dict, rec: dict, changed) -> None:
    """A record updated through crud (a grant's new level: `grant` again)."""
    if _grant_target(resource):
        _grant_entry(principal, resource, rec, Action.GRANT, {"previous_permission": previous.get("permission")})
        return
    record(principal, Action.UPDATE, resource.family, rec["id"], name_of(rec) or name_of(previous),
           shown_changes(resource, rec, changed, previous))


def deleted(principal, resource: Resource, records: list[dict], cascaded: dict[str, int] | None = None) -> None:
    """Records a client deleted (grant records: `revoke`); `cascaded` counts by family what the
    deletes took with them (the same for each requested record of a bulk delete)."""
    for rec in records:
        if _grant_target(resource):
            _grant_entry(principal, resource, rec, Action.REVOKE, {})
        else:
            record(principal, Action.DELETE, resource.family, rec["id"], name_of(rec),
                   {"deleted_with": cascaded} if cascaded else None)


# ---------------------------------------------------------------- reading


def serialize(rec: dict) -> dict:
    """An entry as the API shows it."""
    return {"id": rec["id"], "ctime": rec.get("ctime"), "timestamp": rec.get("timestamp"),
            "action": rec.get("action"), "user": rec.get("user"), "user_name": rec.get("user_name"),
            "family": rec.get("family"), "object": rec.get("object"), "object_name": rec.get("object_name"),
            "changes": rec.get("changes") or {}}


DEFAULT_LIMIT = 20
MAX_LIMIT = 200
OFFSET = Int("offset", minimum=0, description="Start position.")
LIMIT = Int("limit", minimum=0, default=DEFAULT_LIMIT,
            description=f"Page size (default {DEFAULT_LIMIT}; 0 means the default; larger than {MAX_LIMIT} means {MAX_LIMIT}).")
USER = Str("user", max_length=150, description="The user's id or login (others than superusers: only their own).")
FAMILY_PARAM = Str("family", max_length=128, description="The object's family: job, inventory, user, ...")
OBJECT = Int("object", default=None, minimum=1, maximum=INT_MAX, description="The object's id (with family).")
ACTION = Str("action", choices=tuple(Action), description="One action.")
#: time bounds: epoch seconds (a fraction allowed) or ISO 8601 (UTC unless it names an offset);
#: `since` is ctime__gte and `until` ctime__lte
TIME_PARAMS = {"ctime__gte": "at or after", "ctime__gt": "after", "ctime__lte": "at or before",
               "ctime__lt": "before", "since": "at or after (= ctime__gte)", "until": "at or before (= ctime__lte)"}
_EPOCH = re.compile(r"[0-9]{1,11}(\.[0-9]{1,6})?")
_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_UTC_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)


@dataclass
class ActivityQuery:
    offset: int = 0
    limit: int = DEFAULT_LIMIT
    #: user id wanted; None: any; 0: a login that names nobody (nothing matches)
    user: int | None = None
    family: str = ""
    object: int | None = None
    action: str = ""
    #: time range in milliseconds, [low, high)
    low_ms: int | None = None
    high_ms: int | None = None


def _instant(name: str, raw: str) -> tuple[int, int]:
    """(milliseconds, precision in ms) of a time bound: `1764547200` is a second, `1764547200.5`
    and `...T10:00:00.500` a millisecond, `2026-12-01` a day (so `until=2026-12-01` takes the day)."""
    text = raw.strip()
    if _EPOCH.fullmatch(text):
        if "." in text:
            return int(Decimal(text) * 1000), 1
        return int(text) * 1000, 1000
    try:
        moment = datetime.datetime.fromisoformat(text)
    except (ValueError, TypeError, InvalidOperation):
        raise ValidationError(name, f'"{raw[:64]}" is neither epoch seconds nor an ISO 8601 time') from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=datetime.UTC)
    try:
        ms = (moment - _UTC_EPOCH) // datetime.timedelta(milliseconds=1)
    except OverflowError:
        raise ValidationError(name, f'"{raw[:64]}" is out of range') from None
    unit = 86_400_000 if _DATE.fullmatch(text) else (1 if moment.microsecond else 1000)
    return max(ms, 0), unit


def _user_id(raw: str) -> int:
    """A user filter's id: digits are an id, anything else a login (0 when nobody has it)."""
    login = USER.parse(raw)
    number = integer(login)
    if number is not None:
        if not 1 <= number <= INT_MAX:
            raise ValidationError("user", "Ensure this id is between 1 and 2^63-1.")
        return number
    found = next(iter(store.scan_index(get_resource("user"), "username", login, limit=1)), None)
    return int(found["id"]) if found else 0


def parse_query(params: dict[str, str]) -> ActivityQuery:
    """The list's query string, every value checked (400 naming the parameter)."""
    q = ActivityQuery()
    q.offset = OFFSET.parse(params.get("offset"))
    q.limit = min(LIMIT.parse(params.get("limit")) or DEFAULT_LIMIT, MAX_LIMIT)
    if params.get("user") not in (None, ""):
        q.user = _user_id(params["user"])
    q.family = FAMILY_PARAM.parse(params.get("family")) or ""
    if q.family:
        try:
            get_resource(q.family)
        except KeyError:
            raise ValidationError("family", f'"{q.family}" is not a family') from None
    q.object = OBJECT.parse(params.get("object"))
    if q.object is not None and not q.family:
        raise ValidationError("object", "give the object's family too (family=inventory&object=7)")
    q.action = ACTION.parse(params.get("action")) or ""
    for name in TIME_PARAMS:
        if params.get(name) in (None, ""):
            continue
        ms, unit = _instant(name, params[name])
        if name in ("ctime__gte", "since", "ctime__gt"):
            low = ms + (unit if name == "ctime__gt" else 0)
            q.low_ms = low if q.low_ms is None else max(q.low_ms, low)
        else:
            high = ms + (unit if name in ("ctime__lte", "until") else 0)
            q.high_ms = high if q.high_ms is None else min(q.high_ms, high)
    return q


@dataclass(frozen=True)
class _Plan:
    """One query: the partition (None: the family partition, else the GSI and its key), its key
    range, and the filter expression of the filters the partition does not answer."""

    index: Any
    key: str
    range_condition: Any
    filter_condition: Any

    @property
    def counted(self) -> bool:
        """Whether the partition's row counter is the answer's count."""
        return self.range_condition is None and self.filter_condition is None


def _key(field_name: str, value: Any) -> str:
    return ENTRIES.index_key(list(ENTRIES.indexes).index(field_name), value)


def _plan(q: ActivityQuery, user: int | None) -> _Plan:
    wanted = {}
    if q.object is not None:
        wanted["subject"] = f"{q.family}:{q.object}"
    if user is not None:
        wanted["user"] = user
    if q.family and q.object is None:
        wanted["family"] = q.family
    attributes = {"user": Record.idx1, "subject": Record.idx2, "family": Record.idx3}
    indexes = {"user": Record.by_idx1, "subject": Record.by_idx2, "family": Record.by_idx3}
    partition = next((n for n in ("subject", "user", "family") if n in wanted), None)
    condition = None
    for name, value in wanted.items():
        if name != partition:
            part = attributes[name] == _key(name, value)
            condition = part if condition is None else condition & part
    if q.action:
        part = Record.body.startswith(json.dumps({"action": q.action}, separators=(",", ":"))[:-1])
        condition = part if condition is None else condition & part
    low = None if q.low_ms is None else q.low_ms * 1000
    high = None if q.high_ms is None else q.high_ms * 1000 - 1
    if low is not None and high is not None:
        range_condition = Record.id.between(low, high)
    elif low is not None:
        range_condition = Record.id >= low
    elif high is not None:
        range_condition = Record.id <= high
    else:
        range_condition = None
    if partition is None:
        return _Plan(None, FAMILY, range_condition, condition)
    return _Plan(indexes[partition], _key(partition, wanted[partition]), range_condition, condition)


def _count(plan: _Plan) -> int:
    if plan.counted:
        return store.count(plan.key)
    if plan.index is None:
        return Record.count(plan.key, range_key_condition=plan.range_condition, filter_condition=plan.filter_condition)
    return plan.index.count(plan.key, range_key_condition=plan.range_condition, filter_condition=plan.filter_condition)


def _rows(plan: _Plan, limit: int) -> list[dict]:
    """The newest `limit` entries the plan selects: one query, stopped once they are read."""
    query = Record.query if plan.index is None else plan.index.query
    items = query(plan.key, range_key_condition=plan.range_condition, filter_condition=plan.filter_condition,
                  scan_index_forward=False, limit=limit, page_size=min(max(limit, 10), 1000))
    return [{**json.loads(item.body), "id": int(item.id)} for item in items]


def list_entries(principal: "Principal", q: ActivityQuery) -> tuple[int, list[dict]]:
    """One page of entries, newest first: all of them for superusers, else the caller's own
    (asking for another user's gives nothing)."""
    user = q.user
    if not principal.is_superuser:
        if user is not None and user != principal.id:
            return 0, []
        user = principal.id
    if user == 0 or (q.low_ms is not None and q.high_ms is not None and q.low_ms >= q.high_ms):
        return 0, []
    plan = _plan(q, user)
    total = _count(plan)
    if q.offset >= total:
        return total, []
    rows = _rows(plan, q.offset + q.limit)[q.offset:]
    return total, [serialize(r) for r in rows]


def latest(principal: "Principal", limit: int = 10) -> list[dict]:
    """The caller's own latest entries, newest first (the dashboard's "my latest operations")."""
    limit = max(1, min(int(limit), MAX_LIMIT))
    return [serialize(r) for r in _rows(_plan(ActivityQuery(), principal.id), limit)]

"""Record storage over the records and counters tables.

One write is one DynamoDB transaction: the record, the row counters of every partition it is
listed in, and its unique-key markers change together, so `count` in a list envelope is one
GetItem and uniqueness ("hostname per inventory") never needs a read of the partition. Deleting
many records at once (`pack`, `commit_removals`) shares transactions of up to 100 actions, with
one summed decrement per counter; the rules that decide what to delete live in
`chalicelib.services.deletion`.
"""
from __future__ import annotations

import datetime
import functools
import json
import os
import random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, PutError, TransactWriteError
from pynamodb.expressions.operand import Path
from pynamodb.transactions import TransactWrite

from chalicelib.models import Counter, Record
from chalicelib.models.counters import next_value
from chalicelib.services import search
from chalicelib.services.errors import Conflict, ValidationError
from chalicelib.services.resources import Resource

Rec = dict  # a record as a dict: {"id": 1, <stored fields>...}; "_version" is internal


def _to_dict(item: Record) -> Rec:
    data = json.loads(item.body)
    data["id"] = int(item.id)
    data["_version"] = item.version
    if item.expires is not None:
        data["_expires"] = int(item.expires.timestamp())
    return data


def _body(rec: Rec) -> str:
    return json.dumps({k: v for k, v in rec.items() if k != "id" and not k.startswith("_")},
                      separators=(",", ":"))


def get(family: str, record_id: int, consistent: bool = False) -> Rec | None:
    """One record, or None; `consistent` reads it strongly consistent (after a write elsewhere)."""
    try:
        return _to_dict(Record.get(family, record_id, consistent_read=consistent))
    except DoesNotExist:
        return None


def batch_get(keys: Iterable[tuple[str, int]]) -> dict[tuple[str, int], Rec]:
    keys = {(f, int(i)) for f, i in keys}
    if not keys:
        return {}
    return {(item.family, int(item.id)): _to_dict(item) for item in Record.batch_get(keys)}


def scan_partition(family: str, ascending: bool = False, limit: int | None = None,
                   page_size: int | None = None) -> Iterator[Rec]:
    """Records of one family in id order; `limit` stops reading after that many."""
    for item in Record.query(family, scan_index_forward=ascending, limit=limit,
                             page_size=page_size or (limit if limit and limit < 1000 else None)):
        yield _to_dict(item)


def scan_index(resource: Resource, field_name: str, value: Any, ascending: bool = False,
               limit: int | None = None, page_size: int | None = None) -> Iterator[Rec]:
    """Records of `resource` whose indexed field equals `value`, in id order; `page_size` keeps
    the first reads small when the caller may stop early."""
    position = list(resource.indexes).index(field_name)
    index = (Record.by_idx1, Record.by_idx2, Record.by_idx3)[position]
    key = resource.index_key(position, value)
    for item in index.query(key, scan_index_forward=ascending, limit=limit,
                            page_size=page_size or (limit if limit and limit < 1000 else None)):
        yield _to_dict(item)


def due(resource: Resource, until: int, limit: int | None = None) -> Iterator[Rec]:
    """Records of `resource` whose timer is at or before `until`, soonest first: one query on the
    sparse `due` index, so the cost follows what is due, not how many records exist."""
    for item in Record.by_due.query(resource.family, range_key_condition=Record.due_at <= until, limit=limit):
        yield _to_dict(item)


def claim(partition: str, number: int, body: dict, expires: int) -> tuple[bool, dict]:
    """First writer wins: store `body` under (partition, number) unless an item is there already.
    Returns whether this call stored it, and the body stored. For "once per key" decisions
    (a schedule's due time) that must hold across duplicate deliveries; the item expires (TTL)."""
    item = Record(partition, number, body=json.dumps(body, separators=(",", ":")),
                  expires=datetime.datetime.fromtimestamp(expires, tz=datetime.UTC))
    try:
        item.save(condition=Record.family.does_not_exist())
        return True, body
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
    return False, json.loads(Record.get(partition, number, consistent_read=True).body)


def settle_claim(partition: str, number: int, body: dict) -> None:
    """Replace the body of a claimed item (what the claim decided)."""
    item = Record.get(partition, number, consistent_read=True)  # its version guards the save
    item.body = json.dumps(body, separators=(",", ":"))
    item.save()


def count(partition: str) -> int:
    try:
        return int(Counter.get(f"count|{partition}").value)
    except DoesNotExist:
        return 0


@dataclass(frozen=True)
class Tally:
    """Changes to one item of the counters table that a record update writes in its own
    transaction: aggregates kept as records change (the dashboard's figures per day and per
    template), so they count a change exactly when it was stored. `add` adds to numeric
    attributes (absent ones start at 0), `put` sets them; keys are attribute names."""

    item: str
    add: Mapping[str, int] = field(default_factory=dict)
    put: Mapping[str, int] = field(default_factory=dict)

    def actions(self) -> list:
        return [*(Path(n).add(v) for n, v in self.add.items()), *(Path(n).set(v) for n, v in self.put.items())]


def counter_items(names: Iterable[str]) -> dict[str, dict[str, int]]:
    """Items of the counters table by name, each as {attribute: number} (absent items are left
    out): one BatchGetItem per 100 names, so a fixed set of counters costs a fixed number of calls."""
    names = list(dict.fromkeys(names))
    table = Counter.Meta.table_name
    out: dict[str, dict[str, int]] = {}
    for start in range(0, len(names), 100):
        keys = [{"name": {"S": n}} for n in names[start:start + 100]]
        while keys:
            response = _connection().client.batch_get_item(RequestItems={table: {"Keys": keys}})
            for item in response.get("Responses", {}).get(table, []):
                out[item["name"]["S"]] = {k: int(float(v["N"])) for k, v in item.items() if "N" in v}
            keys = response.get("UnprocessedKeys", {}).get(table, {}).get("Keys", [])
    return out


def mark_once(name: str, value: int) -> bool:
    """Store counters item `name` unless it exists: whether this call stored it (a one-time
    step's marker, taken before the step so that it never runs twice)."""
    try:
        Counter(name, value=value).save(condition=Counter.name.does_not_exist())
        return True
    except PutError as exc:
        if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
            raise
    return False


def add_to_counters(tallies: Iterable[Tally]) -> None:
    """Write tallies outside a record's transaction, one UpdateItem each (a backfill)."""
    for tally in tallies:
        Counter(tally.item).update(actions=tally.actions())


def _partitions(resource: Resource, rec: Rec) -> list[str]:
    """Every counted partition the record is listed in: its family and its index keys."""
    parts = [resource.family]
    for position, field_name in enumerate(resource.indexes):
        if rec.get(field_name) is not None:
            parts.append(resource.index_key(position, rec[field_name]))
    return parts


def _marker(resource: Resource, values: dict) -> str:
    return "uniq|" + resource.family + "|" + "|".join(f"{n}={json.dumps(v)}" for n, v in values.items())


def _unique_markers(resource: Resource, rec: Rec) -> dict[str, str]:
    """Marker key -> its unique group ("inventory,hostname"), for each group fully set in `rec`."""
    markers = {}
    for group in resource.unique:
        values = {name: rec.get(name) for name in group}
        if any(v is None or v == "" for v in values.values()):
            continue
        markers[_marker(resource, values)] = ",".join(group)
    return markers


def _connection() -> Connection:
    """One PynamoDB connection per endpoint: building one creates a botocore client, which
    costs ~0.1 s of model loading, so a fresh one per transaction dominated every write."""
    return _cached_connection(Record.Meta.region, Record.Meta.host, os.environ.get("AWS_ENDPOINT_URL"))


@functools.lru_cache(maxsize=8)
def _cached_connection(region: str, host: str | None, endpoint: str | None) -> Connection:
    return Connection(region=region, host=host)


def warm_up() -> None:
    """Create the botocore clients behind the models and the transactions now (~0.1 s each,
    spent on loading service models), and learn the tables' key schemas (a transaction asks
    DynamoDB once per connection), rather than in the first request that needs them."""
    for model in (Record, Counter):
        model._get_connection().connection.client  # noqa: B018 - creating it is the point
        try:
            _connection().describe_table(model.Meta.table_name)
        except Exception:  # noqa: BLE001 - an optimisation only: the first transaction asks instead
            pass


def _item(resource: Resource, rec: Rec) -> Record:
    item = Record(resource.family, rec["id"], body=_body(rec))
    for position, field_name in enumerate(resource.indexes):
        value = rec.get(field_name)
        setattr(item, f"idx{position + 1}", None if value is None else resource.index_key(position, value))
    when = resource.timer(rec) if resource.timer else None
    if when is not None:
        item.due, item.due_at = resource.family, int(when)
    if rec.get("_expires"):
        item.expires = datetime.datetime.fromtimestamp(rec["_expires"], tz=datetime.UTC)
    if rec.get("_version") is not None:
        item.version = rec["_version"]
    return item


def _raise_for(exc: TransactWriteError, unique_at: dict[int, tuple[Resource, str]]) -> None:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    for position, reason in enumerate(reasons):
        if reason is not None and reason.code == "ConditionalCheckFailed" and position in unique_at:
            resource, group = unique_at[position]
            raise ValidationError(group.split(",")[0],
                                  f"a {resource.family} with this {group.replace(',', ' and ')} already exists")
    raise Conflict("the record was changed by another request; read it again and retry") from exc


def next_id(family: str) -> int:
    return next_value(f"seq|{family}")


def create(resource: Resource, rec: Rec) -> Rec:
    return create_many([(resource, rec)])[0]


def create_many(records: list[tuple[Resource, Rec]]) -> list[Rec]:
    """New records in one transaction (each with its row counters and unique-key markers): all
    of them are stored, or none. Ids not given are taken from the families' counters first."""
    prepared = []
    for resource, rec in records:
        rec = dict(rec)
        rec.setdefault("id", next_id(resource.family))
        rec["_version"] = None
        prepared.append((resource, rec))
        search.before_write(resource, None, rec)  # the new grams, before the record exists
    unique_at: dict[int, tuple[Resource, str]] = {}  # transaction position -> what a marker guards
    puts = 0
    try:
        with TransactWrite(connection=_connection()) as tx:
            for resource, rec in prepared:
                tx.save(_item(resource, rec), condition=Record.id.does_not_exist())
                puts += 1
                for part in _partitions(resource, rec):
                    tx.update(Counter(f"count|{part}"), actions=[Counter.value.add(1)])
                for key, group in _unique_markers(resource, rec).items():
                    tx.save(Counter(key, value=rec["id"]), condition=Counter.name.does_not_exist())
                    # PynamoDB sends condition checks, deletes, puts, then updates (not call order),
                    # the puts in call order: a record's markers follow it
                    unique_at[puts] = (resource, group)
                    puts += 1
    except TransactWriteError as exc:
        _raise_for(exc, unique_at)
    for _, rec in prepared:
        rec["_version"] = 1
    return [rec for _, rec in prepared]


def update(resource: Resource, old: Rec, new: Rec, tallies: Iterable[Tally] = ()) -> Rec:
    """Replace a record (under its version condition) with its counters, markers and `tallies`
    in one transaction."""
    new = dict(new)
    new["id"] = old["id"]
    new["_version"] = old["_version"]
    old_parts, new_parts = set(_partitions(resource, old)), set(_partitions(resource, new))
    old_keys = _unique_markers(resource, old)
    new_keys = _unique_markers(resource, new)
    unique_at: dict[int, tuple[Resource, str]] = {}
    removed = set(old_keys) - set(new_keys)
    grams = search.before_write(resource, old, new)
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(_item(resource, new))
            for part in old_parts - new_parts:
                tx.update(Counter(f"count|{part}"), actions=[Counter.value.add(-1)])
            for part in new_parts - old_parts:
                tx.update(Counter(f"count|{part}"), actions=[Counter.value.add(1)])
            for key in removed:
                tx.delete(Counter(key))
            for key in set(new_keys) - set(old_keys):
                tx.save(Counter(key, value=new["id"]), condition=Counter.name.does_not_exist())
                # sent order is deletes, puts (the record first, then markers), updates
                unique_at[len(removed) + 1 + len(unique_at)] = (resource, new_keys[key])
            for tally in tallies:  # updates are sent last: the positions above do not move
                tx.update(Counter(tally.item), actions=tally.actions())
    except TransactWriteError as exc:
        _raise_for(exc, unique_at)
    new["_version"] = (old["_version"] or 0) + 1
    search.after_write(grams)
    return new


def mutate(resource: Resource, record_id: int, change: Callable[[Rec], bool | None], attempts: int = 10,
           current: Rec | None = None, tallies: Callable[[Rec, Rec], Iterable[Tally]] | None = None) -> Rec | None:
    """Apply `change(rec)` with optimistic locking, re-reading on a concurrent write.

    `change` edits the dict in place and returns False to skip the write. Returns the saved
    record (or the unchanged one when skipped; None when it is gone). `current` is the record as
    the caller just read it, to save the first read; a stale one only costs a retry. Writers of
    one record are few (the API, a handler, a runner), so a conflict retries at once after a
    short random pause rather than a fixed one: two writers racing must not add a visible delay.
    `tallies(before, after)` names counter changes written in the same transaction as the change
    (asked again on each attempt, so only the change that is stored counts).
    """
    for attempt in range(attempts):
        rec = dict(current) if current is not None and attempt == 0 else get(resource.family, record_id)
        if rec is None:
            return None
        before = dict(rec)
        if change(rec) is False or rec == before:
            return rec
        try:
            return update(resource, before, rec, tallies(before, rec) if tallies else ())
        except Conflict:
            time.sleep(random.uniform(0, 0.005 * (attempt + 1)))
    raise Conflict(f"{resource.family} {record_id} is being changed by too many writers")


#: DynamoDB's limit on the actions of one TransactWriteItems call
MAX_TRANSACTION_ACTIONS = 100


@dataclass(frozen=True)
class Removal:
    """What deleting one record writes: the record itself (under its version condition), -1 on
    the row counter of every partition it is listed in, and the deletion of its unique-key markers."""

    resource: Resource
    rec: Rec
    partitions: tuple[str, ...]
    markers: tuple[str, ...]

    @property
    def key(self) -> tuple[str, int]:
        return self.resource.family, int(self.rec["id"])


def removal(resource: Resource, rec: Rec) -> Removal:
    return Removal(resource, rec, tuple(_partitions(resource, rec)), tuple(_unique_markers(resource, rec)))


@dataclass
class DeleteTransaction:
    """Removals that fit one TransactWriteItems call. A transaction may not touch one item twice,
    so the counter decrements are summed per partition: one update each."""

    removals: list[Removal] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)  # partition -> (negative) delta

    @property
    def actions(self) -> int:
        return sum(1 + len(r.markers) for r in self.removals) + len(self.counters)

    def fits(self, item: Removal, limit: int) -> bool:
        new_counters = len(set(item.partitions) - set(self.counters))
        return self.actions + 1 + len(item.markers) + new_counters <= limit

    def add(self, item: Removal) -> None:
        self.removals.append(item)
        for part in item.partitions:
            self.counters[part] = self.counters.get(part, 0) - 1


def pack(removals: Iterable[Removal], limit: int = MAX_TRANSACTION_ACTIONS) -> list[DeleteTransaction]:
    """Removals in order, cut into as few transactions as DynamoDB's action limit allows (one
    record and its markers always share a transaction)."""
    out: list[DeleteTransaction] = []
    for item in removals:
        if not out or not out[-1].fits(item, limit):
            out.append(DeleteTransaction())
        out[-1].add(item)
    return out


def commit_removals(transaction: DeleteTransaction) -> None:
    """Write one transaction of removals: all of it or, if any record changed since it was read
    (its version condition fails), none of it (409)."""
    try:
        with TransactWrite(connection=_connection()) as tx:
            for item in transaction.removals:
                tx.delete(_item(item.resource, item.rec))
                for key in item.markers:
                    tx.delete(Counter(key))
            for part, delta in transaction.counters.items():
                tx.update(Counter(f"count|{part}"), actions=[Counter.value.add(delta)])
    except TransactWriteError as exc:
        raise Conflict("the record was changed by another request; read it again and retry") from exc
    for item in transaction.removals:
        search.after_remove(item.resource, item.rec)


def delete(resource: Resource, rec: Rec) -> None:
    """Delete one record, its counters and markers in one transaction (no on_delete rules: see
    `chalicelib.services.deletion` for those)."""
    commit_removals(pack([removal(resource, rec)])[0])


def find_unique(resource: Resource, values: dict) -> int | None:
    """The id of the record holding a unique combination (one GetItem on its marker), or None."""
    group = tuple(values)
    if group not in {tuple(g) for g in resource.unique}:
        raise ValueError(f"{resource.family}: {group} is not a unique group")
    try:
        return int(Counter.get(_marker(resource, values)).value)
    except DoesNotExist:
        return None

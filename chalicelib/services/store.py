"""Record storage over the records and counters tables.

One write is one DynamoDB transaction: the record, the row counters of every partition it is
listed in, and its unique-key markers change together, so `count` in a list envelope is one
GetItem and uniqueness ("hostname per inventory") never needs a read of the partition.
"""
from __future__ import annotations

import datetime
import functools
import json
import os
from typing import Any, Iterable, Iterator

from pynamodb.connection import Connection
from pynamodb.exceptions import DoesNotExist, TransactWriteError
from pynamodb.transactions import TransactWrite

from chalicelib.models import Counter, Record
from chalicelib.models.counters import next_value
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


def scan_index(resource: Resource, field: str, value: Any, ascending: bool = False,
               limit: int | None = None) -> Iterator[Rec]:
    """Records of `resource` whose indexed `field` equals `value`, in id order."""
    position = list(resource.indexes).index(field)
    index = Record.by_idx1 if position == 0 else Record.by_idx2
    key = resource.index_key(position, value)
    for item in index.query(key, scan_index_forward=ascending, limit=limit,
                            page_size=limit if limit and limit < 1000 else None):
        yield _to_dict(item)


def count(partition: str) -> int:
    try:
        return int(Counter.get(f"count|{partition}").value)
    except DoesNotExist:
        return 0


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
    spent on loading service models) rather than in the first request that needs them."""
    for model in (Record, Counter):
        model._get_connection().connection.client  # noqa: B018 - creating it is the point
    _connection().client  # noqa: B018


def _item(resource: Resource, rec: Rec) -> Record:
    item = Record(resource.family, rec["id"], body=_body(rec))
    for position, field_name in enumerate(resource.indexes):
        value = rec.get(field_name)
        setattr(item, f"idx{position + 1}", None if value is None else resource.index_key(position, value))
    if rec.get("_expires"):
        item.expires = datetime.datetime.fromtimestamp(rec["_expires"], tz=datetime.timezone.utc)
    if rec.get("_version") is not None:
        item.version = rec["_version"]
    return item


def _raise_for(exc: TransactWriteError, resource: Resource, unique_at: dict[int, str]) -> None:
    reasons = getattr(exc, "cancellation_reasons", None) or []
    for position, reason in enumerate(reasons):
        if reason is not None and reason.code == "ConditionalCheckFailed" and position in unique_at:
            group = unique_at[position]
            raise ValidationError(group.split(",")[0],
                                  f"a {resource.family} with this {group.replace(',', ' and ')} already exists")
    raise Conflict("the record was changed by another request; read it again and retry") from exc


def next_id(family: str) -> int:
    return next_value(f"seq|{family}")


def create(resource: Resource, rec: Rec) -> Rec:
    rec = dict(rec)
    rec.setdefault("id", next_id(resource.family))
    rec["_version"] = None
    unique_at: dict[int, str] = {}  # transaction position -> unique group, to name the field
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.save(_item(resource, rec), condition=Record.id.does_not_exist())
            for part in _partitions(resource, rec):
                tx.update(Counter(f"count|{part}"), actions=[Counter.value.add(1)])
            for key, group in _unique_markers(resource, rec).items():
                tx.save(Counter(key, value=rec["id"]), condition=Counter.name.does_not_exist())
                # PynamoDB sends condition checks, deletes, puts, then updates (not call order):
                # the k-th marker is the put right after the record's
                unique_at[1 + len(unique_at)] = group
    except TransactWriteError as exc:
        _raise_for(exc, resource, unique_at)
    rec["_version"] = 1
    return rec


def update(resource: Resource, old: Rec, new: Rec) -> Rec:
    new = dict(new)
    new["id"] = old["id"]
    new["_version"] = old["_version"]
    old_parts, new_parts = set(_partitions(resource, old)), set(_partitions(resource, new))
    old_keys = _unique_markers(resource, old)
    new_keys = _unique_markers(resource, new)
    unique_at: dict[int, str] = {}
    removed = set(old_keys) - set(new_keys)
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
                unique_at[len(removed) + 1 + len(unique_at)] = new_keys[key]
    except TransactWriteError as exc:
        _raise_for(exc, resource, unique_at)
    new["_version"] = (old["_version"] or 0) + 1
    return new


def delete(resource: Resource, rec: Rec) -> None:
    try:
        with TransactWrite(connection=_connection()) as tx:
            tx.delete(_item(resource, rec))
            for part in _partitions(resource, rec):
                tx.update(Counter(f"count|{part}"), actions=[Counter.value.add(-1)])
            for key in _unique_markers(resource, rec):
                tx.delete(Counter(key))
    except TransactWriteError as exc:
        raise Conflict("the record was changed by another request; read it again and retry") from exc


def find_unique(resource: Resource, values: dict) -> int | None:
    """The id of the record holding a unique combination (one GetItem on its marker), or None."""
    group = tuple(values)
    if group not in {tuple(g) for g in resource.unique}:
        raise ValueError(f"{resource.family}: {group} is not a unique group")
    try:
        return int(Counter.get(_marker(resource, values)).value)
    except DoesNotExist:
        return None

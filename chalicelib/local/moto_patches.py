"""Two fixes to moto's DynamoDB that the local stack needs to stay correct and fast as data grows,
and the change tracking that its persistence needs to stay cheap.

1. **Rollback by item, not by table.** moto's ``TransactWriteItems`` deep-copies a whole table
   for every operation of a transaction, so it can roll back by swapping the table. Every job
   state change, create and update here is a transaction, so each one cost time in proportion to
   all the data in the local stack (38 ms per update at 2,000 records, growing without bound).
   We copy only the items the transaction names and put them back if it is cancelled; the
   table copies moto asks for become references to the tables themselves.
2. **Writes are atomic.** moto's threaded server runs requests side by side, so another write
   could land between a transaction's condition check and its write (and moto's table-swap
   rollback could undo it). One lock serializes writes to DynamoDB, as DynamoDB itself
   isolates them; reads do not take it. S3 object writes take the same lock, so that a reader
   holding it (`writes_paused()`) sees neither an item nor an object change under it.
3. **Change listeners.** Every successful item write reports `(table name, DynamoDB-JSON key)` to
   the callbacks registered with `on_item_change`, and every object write or deletion reports
   `(bucket name, object key)` to those of `on_object_change`, so the local stack's snapshot
   (`chalicelib.local.snapshot`) persists only what changed. Transactions and BatchWriteItem write
   through `put_item`/`update_item`/`delete_item`, and CopyObject, multipart completion and
   DeleteObjects through `put_object`/`delete_object`, so those are the methods watched.
   Callbacks run inside the write lock: they must be quick and must not wait on other threads.
4. **Secondary indexes are read, not walked.** moto answers a query on a global secondary index
   by walking every item of the table, and every record family lives in one table. For the
   indexes of SPARSE_INDEXES (the `due` index the schedule ticker reads every second, and the
   records' `idx1`..`idx3`: "hosts of inventory 5", "activity of user 3") we keep the keys of
   the items that carry the index's key attribute, in the index's order, updated by every
   write, and a query reads only the items under its key condition: its cost follows what it
   asks for, as on DynamoDB.
5. **A table query reads its partition, from where its key condition starts.** moto answers a
   query on a table by walking and sorting every item of the table, then skipping to the range
   the key condition names: each query cost the whole table (the search index,
   `chalicelib.services.search`, reads many small pages of large gram partitions). We keep each
   queried partition's range keys sorted (built at its first query, kept by every write) and
   give moto's query only the items from the condition's start, after the exclusive start key,
   up to its Limit: its cost follows what it returns, as on DynamoDB.
6. **Step Functions calls back with the stack's key.** Its interpreter's clients use a fixed
   access key; the local stack's moto server admits only its own (`use_credentials`).

`apply()` is idempotent; the local stack calls it before moto starts and the tests call it
around their in-process mock, so both run the same code.
"""
from __future__ import annotations

import bisect
import contextlib
import copy
import decimal
import functools
import inspect
import itertools
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import DynamoType
from moto.dynamodb.models.table import Table
from moto.s3.models import S3Backend

ItemListener = Callable[[str, dict], None]
ObjectListener = Callable[[str, str], None]

_WRITES = threading.RLock()
_copy_by_reference = threading.local()
_applied = False
_item_listeners: list[ItemListener] = []
_object_listeners: list[ObjectListener] = []
#: global secondary indexes that few items carry (`chalicelib.models.records`: `due`), by name
SPARSE_INDEXES = frozenset({"due", "idx1", "idx2", "idx3"})
#: the items one query on a sparse index may see (per thread: moto's server is threaded)
_query_scope = threading.local()


def apply() -> None:
    """Patch moto's DynamoDB and S3 backends (once per process)."""
    global _applied
    if _applied:
        return
    _applied = True
    Table.__deepcopy__ = _table_deepcopy
    DynamoDBBackend.transact_write_items = _transact_write_items(DynamoDBBackend.transact_write_items)
    DynamoDBBackend.put_item = _serialized(DynamoDBBackend.put_item, _put_item_key)
    DynamoDBBackend.update_item = _serialized(DynamoDBBackend.update_item, _given_key)
    DynamoDBBackend.delete_item = _serialized(DynamoDBBackend.delete_item, _given_key)
    Table.query = _sparse_query(Table.query)
    Table.all_items = _scoped_items(Table.all_items)
    S3Backend.put_object = _serialized_object_write(S3Backend.put_object)
    S3Backend.delete_object = _serialized_object_write(S3Backend.delete_object)


def on_item_change(callback: ItemListener) -> None:
    """Call `callback(table name, key)` after every successful item write (put, update, delete)."""
    _item_listeners.append(callback)


def on_object_change(callback: ObjectListener) -> None:
    """Call `callback(bucket name, object key)` after every object write or deletion."""
    _object_listeners.append(callback)


def remove_listener(callback: ItemListener | ObjectListener) -> None:
    """Stop calling `callback` (registered with either function; a no-op when it is not)."""
    for listeners in (_item_listeners, _object_listeners):
        if callback in listeners:
            listeners.remove(callback)


@contextlib.contextmanager
def writes_paused() -> Iterator[None]:
    """Hold back every item and object write, to read moto's state while nothing mutates it."""
    with _WRITES:
        yield


def _put_item_key(table: Table, item_attrs: dict) -> dict:
    return {name: item_attrs[name] for name in (table.hash_key_attr, table.range_key_attr) if name}


def _given_key(table: Table, key: dict) -> dict:
    return key


def _serialized(method, key_of: Callable[[Table, dict], dict]):
    """`method(self, table_name, item_or_key, ...)` under the write lock, then reported to the listeners."""
    @functools.wraps(method)
    def write(self: DynamoDBBackend, table_name: str, item_or_key: dict, *args, **kwargs):
        with _WRITES:
            result = method(self, table_name, item_or_key, *args, **kwargs)
            table = self.get_table(table_name)  # the name may be an ARN
            key = key_of(table, item_or_key)
            _track_sparse(table, key)
            _track_partition(table, key)
            for listener in list(_item_listeners):
                listener(table.name, key)
            return result

    return write


def _serialized_object_write(method):
    """`method(self, bucket_name, key_name, ...)` under the write lock, then reported to the listeners."""
    @functools.wraps(method)
    def write(self: S3Backend, bucket_name: str, key_name: str, *args, **kwargs):
        with _WRITES:
            result = method(self, bucket_name, key_name, *args, **kwargs)
            for listener in list(_object_listeners):
                listener(bucket_name, key_name)
            return result

    return write


@dataclass
class _SparseIndex:
    """The items of one table that carry a sparse index's keys, in the index's key order:
    `entries` sorted by (hash value, range value, n); `keys` maps an item's primary key to its
    entry and `by_entry` back."""

    hash_attr: str
    range_attr: str
    entries: list = field(default_factory=list)
    keys: dict = field(default_factory=dict)
    by_entry: dict = field(default_factory=dict)
    _counter: itertools.count = field(default_factory=itertools.count)

    def entry(self, item) -> tuple | None:
        hash_value, range_value = item.attrs.get(self.hash_attr), item.attrs.get(self.range_attr)
        if hash_value is None or range_value is None:
            return None  # DynamoDB indexes only the items that carry both keys
        return (str(hash_value.value), _order(range_value), next(self._counter))

    def put(self, key: tuple, item) -> None:
        self.remove(key)
        entry = self.entry(item) if item is not None else None
        if entry is not None:
            bisect.insort(self.entries, entry)
            self.keys[key] = entry
            self.by_entry[entry] = key

    def remove(self, key: tuple) -> None:
        entry = self.keys.pop(key, None)
        if entry is not None:
            self.entries.pop(bisect.bisect_left(self.entries, entry))
            del self.by_entry[entry]

    def candidates(self, hash_key, comparison: str | None, values: list) -> list[tuple]:
        """Primary keys of the items a query (hash = `hash_key`, range `comparison` `values`)
        may match: a superset, which moto's own query then filters exactly."""
        h = str(hash_key.value)
        low, high = (h, _LOWEST), (h, _HIGHEST)
        comparison = _COMPARISONS.get(comparison or "", comparison)
        if comparison in ("LT", "LE", "EQ") and values:
            high = (h, _order(values[0]), _HIGHEST)
        if comparison in ("GT", "GE", "EQ") and values:
            low = (h, _order(values[0]))
        if comparison == "BETWEEN" and len(values) == 2:
            low, high = (h, _order(values[0])), (h, _order(values[1]), _HIGHEST)
        start, stop = bisect.bisect_left(self.entries, low), bisect.bisect_right(self.entries, high)
        return [self.by_entry[e] for e in self.entries[start:stop]]


class _Highest:
    """Sorts after every value (an open upper bound in a bisect)."""

    def __lt__(self, other) -> bool:
        return False

    def __gt__(self, other) -> bool:
        return True


_HIGHEST = _Highest()
#: the operators moto's key conditions arrive as, by their ComparisonOperator names
_COMPARISONS = {"<": "LT", "<=": "LE", "=": "EQ", ">": "GT", ">=": "GE"}
_LOWEST = (float("-inf"),)


def _order(value) -> tuple:
    """A range key value as something that sorts as DynamoDB sorts it: numbers by value."""
    return (float(value.value),) if value.type == "N" else (str(value.value),)


def _sparse(table: Table, index_name: str) -> _SparseIndex:
    """The table's sparse index: found by one walk of the table the first time it is queried,
    then kept by every write (`_track_sparse`)."""
    indexes = table.__dict__.setdefault("_sparse_indexes", {})
    if index_name not in indexes:
        schema = {k["KeyType"]: k["AttributeName"] for k in table.get_index(index_name).schema}
        index = _SparseIndex(schema["HASH"], schema.get("RANGE") or table.range_key_attr)
        for item in Table.all_items.__wrapped__(table):
            index.put((item.hash_key, item.range_key), item)
        indexes[index_name] = index
    return indexes[index_name]


def _track_sparse(table: Table, key: dict) -> None:
    indexes = table.__dict__.get("_sparse_indexes")
    if not indexes:
        return
    hash_key = DynamoType(key[table.hash_key_attr])
    range_key = DynamoType(key[table.range_key_attr]) if table.range_key_attr else None
    item = table.get_item(hash_key, range_key)
    for index in indexes.values():
        index.put((hash_key, range_key), item)


def _sparse_query(query):
    signature = inspect.signature(query)

    @functools.wraps(query)
    def sparse_query(self: Table, hash_key, range_comparison, range_objs, *args, **kwargs):
        index_name = kwargs.get("index_name", args[4] if len(args) > 4 else None)
        if index_name is None and hash_key is not None and self.range_key_attr:
            call = signature.bind(self, hash_key, range_comparison, range_objs, *args, **kwargs).arguments
            with _WRITES:  # the partition's order and its items, as of one moment
                items = _partition_items(self, call)
        elif index_name not in SPARSE_INDEXES or not any(i.name == index_name for i in self.global_indexes):
            return query(self, hash_key, range_comparison, range_objs, *args, **kwargs)
        else:
            with _WRITES:  # the index and the items it names, as of one moment
                keys = _sparse(self, index_name).candidates(hash_key, range_comparison, range_objs or [])
                items = [self.get_item(h, r) for h, r in keys]
        if items is None:  # a key type we do not order: moto's own walk
            return query(self, hash_key, range_comparison, range_objs, *args, **kwargs)
        _query_scope.table, _query_scope.items = self, [i for i in items if i is not None]
        try:
            return query(self, hash_key, range_comparison, range_objs, *args, **kwargs)
        finally:
            _query_scope.table = _query_scope.items = None

    return sparse_query


def _range_order(value) -> tuple | None:
    """A range key as DynamoDB orders it (numbers by value, strings by code point, which is
    UTF-8 byte order), or None for a type we leave to moto (binary)."""
    if value.type == "N":
        return (decimal.Decimal(value.value),)
    if value.type == "S":
        return (value.value,)
    return None


def _partition_keys(table: Table, hash_key) -> "_Partition | None":
    """The partition's range keys in order: sorted at the partition's first query, then kept
    by `_track_partition`; rebuilt if its size disagrees with moto's (a write that did not pass
    through the backend's methods). None for a range key type we leave to moto."""
    orders = table.__dict__.setdefault("_partition_orders", {})
    current = table.items[hash_key] if hash_key in table.items else {}
    known = orders.get(hash_key)
    if known is None or len(known.keys) != len(current):
        known = _Partition()
        for range_key in current:
            order = _range_order(range_key)
            if order is None:
                return None
            known.keys[order] = range_key
        known.orders = sorted(known.keys)
        orders[hash_key] = known
    return known


@dataclass
class _Partition:
    """One partition's range keys: `orders` sorted, `keys` from an order to moto's key."""

    orders: list = field(default_factory=list)
    keys: dict = field(default_factory=dict)


def _track_partition(table: Table, key: dict) -> None:
    orders = table.__dict__.get("_partition_orders")
    if not orders or not table.range_key_attr:
        return
    hash_key = DynamoType(key[table.hash_key_attr])
    known = orders.get(hash_key)
    if known is None:
        return
    range_key = DynamoType(key[table.range_key_attr])
    order = _range_order(range_key)
    if order is None:
        orders.pop(hash_key, None)
        return
    exists = hash_key in table.items and range_key in table.items[hash_key]
    if exists and order not in known.keys:
        bisect.insort(known.orders, order)
        known.keys[order] = range_key
    elif not exists and order in known.keys:
        known.orders.pop(bisect.bisect_left(known.orders, order))
        del known.keys[order]


#: the key conditions `_partition_items` turns into bounds
_BOUNDED = ("LT", "LE", "EQ", "GT", "GE", "BETWEEN")


def _partition_items(table: Table, call: dict) -> list | None:
    """The items a table query (the bound arguments of `Table.query`) may return: its key
    condition's range, after the exclusive start key, at most Limit + 1 of them (moto applies
    Limit before a filter expression, as DynamoDB does, and finds the LastEvaluatedKey from the
    one after). None: let moto walk the table."""
    hash_key = call["hash_key"]
    known = _partition_keys(table, hash_key)
    if known is None:
        return None
    orders = known.orders
    comparison = call.get("range_comparison")
    comparison = _COMPARISONS.get(comparison or "", comparison)
    values = [_range_order(v) for v in call.get("range_objs") or []]
    if any(v is None for v in values) or comparison not in (None, "", *_BOUNDED):
        return None  # begins_with: moto's walk
    start, stop = 0, len(orders)
    if values and comparison == "GT":
        start = bisect.bisect_right(orders, values[0])
    elif values and comparison in ("GE", "EQ", "BETWEEN"):
        start = bisect.bisect_left(orders, values[0])
    if values and comparison == "LT":
        stop = bisect.bisect_left(orders, values[-1])
    elif values and comparison in ("LE", "EQ", "BETWEEN"):
        stop = bisect.bisect_right(orders, values[-1])
    forward = call.get("scan_index_forward") is not False
    after = (call.get("exclusive_start_key") or {}).get(table.range_key_attr)
    if after is not None:
        order = _range_order(DynamoType(after))
        if order is None:
            return None
        if forward:
            start = max(start, bisect.bisect_right(orders, order))
        else:
            stop = min(stop, bisect.bisect_left(orders, order))
    chosen = orders[start:max(start, stop)]
    limit = call.get("limit")
    if limit and not call.get("filter_kwargs"):
        chosen = chosen[:limit + 1] if forward else chosen[-(limit + 1):]
    partition = table.items[hash_key] if hash_key in table.items else {}
    return [partition[known.keys[o]] for o in chosen if known.keys[o] in partition]


def _scoped_items(all_items):
    """`Table.all_items`, or during a sparse index query (`_sparse_query`) the items it may see."""
    @functools.wraps(all_items)
    def scoped_items(self: Table):
        if getattr(_query_scope, "table", None) is self:
            return list(_query_scope.items)
        return all_items(self)

    return scoped_items


def _table_deepcopy(self: Table, memo: dict) -> Table:
    """The table itself while a transaction takes its "backup"; otherwise a real deep copy."""
    if getattr(_copy_by_reference, "active", False):
        return self
    clone = self.__class__.__new__(self.__class__)
    memo[id(self)] = clone
    for name, value in self.__dict__.items():
        setattr(clone, name, copy.deepcopy(value, memo))
    return clone


def _transact_write_items(original):
    @functools.wraps(original)
    def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
        with _WRITES:
            saved = _items_before(self, transact_items)
            _copy_by_reference.active = True
            try:
                return original(self, transact_items)
            except Exception:
                _restore(self, saved)
                raise
            finally:
                _copy_by_reference.active = False

    return transact_write_items


def _items_before(backend: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> list[tuple[str, dict, dict | None]]:
    """(table, key, item attributes or None) for every item the transaction names, as they are now.

    Operations moto will reject anyway (unknown table, malformed key) are skipped: they change nothing.
    """
    saved = []
    for entry in transact_items:
        try:
            _, op = next(iter(entry.items()))
            table = backend.tables[op["TableName"]]
            if "Item" in op:
                key = {name: op["Item"][name] for name in (table.hash_key_attr, table.range_key_attr) if name}
            else:
                key = op["Key"]
            current = backend.get_item(op["TableName"], key)
        except Exception:  # noqa: BLE001 - moto raises its own validation error for it below
            continue
        saved.append((op["TableName"], key, copy.deepcopy(current.to_json()["Attributes"]) if current else None))
    return saved


def _restore(backend: DynamoDBBackend, saved: list[tuple[str, dict, dict | None]]) -> None:
    """Put back every item a cancelled transaction named, as it was before."""
    for table_name, key, attributes in saved:
        if attributes is None:
            if backend.get_item(table_name, key) is not None:
                backend.delete_item(table_name, key)
        else:
            backend.put_item(table_name, attributes)


class _CredentialedBoto3:
    """Stands in for `boto3` in moto's Step Functions interpreter, whose clients call the moto
    server back with the fixed key "ak": behind the local stack's key gate they must carry the
    stack's key (`chalicelib.local.moto_server`)."""

    def __init__(self, key_id: str, secret: str):
        import boto3

        self._boto3 = boto3
        self._key = {"aws_access_key_id": key_id, "aws_secret_access_key": secret}

    def client(self, *args, **kwargs):
        return self._boto3.client(*args, **{**kwargs, **self._key})

    def __getattr__(self, name: str):
        return getattr(self._boto3, name)


def use_credentials(key_id: str, secret: str) -> None:
    """Make moto's Step Functions interpreter call services with this key."""
    from moto.stepfunctions.parser.asl.utils import boto_client

    boto_client.boto3 = _CredentialedBoto3(key_id, secret)

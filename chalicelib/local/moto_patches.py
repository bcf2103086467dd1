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
4. **Step Functions calls back with the stack's key.** Its interpreter's clients use a fixed
   access key; the local stack's moto server admits only its own (`use_credentials`).

`apply()` is idempotent; the local stack calls it before moto starts and the tests call it
around their in-process mock, so both run the same code.
"""
from __future__ import annotations

import contextlib
import copy
import functools
import threading
from collections.abc import Callable, Iterator
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table
from moto.s3.models import S3Backend

ItemListener = Callable[[str, dict], None]
ObjectListener = Callable[[str, str], None]

_WRITES = threading.RLock()
_copy_by_reference = threading.local()
_applied = False
_item_listeners: list[ItemListener] = []
_object_listeners: list[ObjectListener] = []


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
            if _item_listeners:
                table = self.get_table(table_name)  # the name may be an ARN
                key = key_of(table, item_or_key)
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

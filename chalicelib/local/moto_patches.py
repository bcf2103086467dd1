"""Two fixes to moto's DynamoDB that the local stack needs to stay correct and fast as data grows.

1. **Rollback by item, not by table.** moto's ``TransactWriteItems`` deep-copies a whole table
   for every operation of a transaction, so it can roll back by swapping the table. Every job
   state change, create and update here is a transaction, so each one cost time in proportion to
   all the data in the local stack (38 ms per update at 2,000 records, growing without bound).
   We copy only the items the transaction names and put them back if it is cancelled; the
   table copies moto asks for become references to the tables themselves.
2. **Writes are atomic.** moto's threaded server runs requests side by side, so another write
   could land between a transaction's condition check and its write (and moto's table-swap
   rollback could undo it). One lock serializes writes to DynamoDB, as DynamoDB itself
   isolates them; reads do not take it.

`apply()` is idempotent; the local stack calls it before moto starts and the tests call it
around their in-process mock, so both run the same code.
"""
from __future__ import annotations

import copy
import functools
import threading
from typing import Any

from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.table import Table

_WRITES = threading.RLock()
_copy_by_reference = threading.local()
_applied = False


def apply() -> None:
    """Patch moto's DynamoDB backend (once per process)."""
    global _applied
    if _applied:
        return
    _applied = True
    Table.__deepcopy__ = _table_deepcopy
    DynamoDBBackend.transact_write_items = _transact_write_items(DynamoDBBackend.transact_write_items)
    for name in ("put_item", "update_item", "delete_item"):
        setattr(DynamoDBBackend, name, _serialized(getattr(DynamoDBBackend, name)))


def _serialized(method):
    @functools.wraps(method)
    def write(self, *args, **kwargs):
        with _WRITES:
            return method(self, *args, **kwargs)

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

"""The local stack's fixes to moto's DynamoDB (chalicelib/local/moto_patches.py): transactions roll
back item by item, and writes are atomic. The `aws_mock` fixture applies them, as the local stack does."""
from __future__ import annotations

import copy
import threading
import time

import pytest

from chalicelib.services import (
    catalog,  # noqa: F401  (registers the resource families)
    store,
)
from chalicelib.services.errors import Conflict, ValidationError
from chalicelib.services.resources import get


def _team(name: str) -> dict:
    return store.create(get("team"), {"name": name, "description": ""})  # team names are unique


def test_a_cancelled_transaction_leaves_every_item_as_it_was(aws_mock):
    first, second = _team("first"), _team("second")
    count = store.count("team")
    with pytest.raises(ValidationError):  # the record is written, the old marker deleted, then the new one clashes
        store.update(get("team"), first, {**first, "name": "second", "description": "renamed"})
    assert store.get("team", first["id"]) == first
    assert store.find_unique(get("team"), {"name": "first"}) == first["id"]
    assert store.find_unique(get("team"), {"name": "second"}) == second["id"]
    assert store.count("team") == count


def test_a_transaction_that_creates_an_item_removes_it_when_cancelled(aws_mock):
    _team("taken")
    next_before = store.count("team")
    with pytest.raises(ValidationError):
        _team("taken")
    assert store.count("team") == next_before
    assert [r["name"] for r in store.scan_partition("team")] == ["taken"]


def test_concurrent_updates_of_one_version_let_exactly_one_win(aws_mock, monkeypatch):
    from moto.dynamodb.models import DynamoDBBackend

    read_item = DynamoDBBackend.get_item

    def slow_read(self, *args, **kwargs):  # every writer reads before any writes, unless they queue
        item = read_item(self, *args, **kwargs)
        time.sleep(0.02)
        return item

    monkeypatch.setattr(DynamoDBBackend, "get_item", slow_read)
    rec = _team("contested")
    outcomes: list[str] = []
    start = threading.Barrier(8)

    def writer(i: int) -> None:
        start.wait()
        try:
            store.update(get("team"), rec, {**rec, "description": f"writer {i}"})
            outcomes.append("won")
        except Conflict:
            outcomes.append("conflict")

    threads = [threading.Thread(target=writer, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["conflict"] * 7 + ["won"]
    assert store.get("team", rec["id"])["_version"] == rec["_version"] + 1


def test_a_table_copied_outside_a_transaction_is_a_real_copy(aws_mock):
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.dynamodb.models import dynamodb_backends

    _team("original")
    table = next(iter(dynamodb_backends[DEFAULT_ACCOUNT_ID]["us-east-1"].tables.values()))
    clone = copy.deepcopy(table)
    assert clone is not table and clone.items is not table.items


def _due_ids(until: int) -> list[int]:
    from chalicelib.services import store
    from chalicelib.services.resources import get

    return [rec["id"] for rec in store.due(get("schedule"), until)]


def _schedule(next_time: int | None, enabled: int = 1) -> dict:
    from chalicelib.services import store
    from chalicelib.services.resources import get

    return store.create(get("schedule"), {"name": "s", "template": 1, "type": "cron", "minute": "", "hour": "",
                                          "day": "", "month": "", "week": "", "timezone": "UTC", "enabled": enabled,
                                          "start_time": 0, "next_time": next_time, "max_delay": 600})


def test_a_sparse_index_query_answers_as_moto_would_after_every_kind_of_write(aws_mock):
    from chalicelib.services import store
    from chalicelib.services.resources import get

    early, late = _schedule(100), _schedule(300)
    _schedule(None)  # not in the index
    _schedule(50, enabled=0)  # not in the index either
    assert _due_ids(200) == [early["id"]]
    assert _due_ids(300) == [early["id"], late["id"]]
    moved = store.update(get("schedule"), late, {**late, "next_time": 150})
    assert _due_ids(200) == [early["id"], late["id"]]
    store.update(get("schedule"), moved, {**moved, "next_time": None})
    assert _due_ids(10**6) == [early["id"]]
    store.delete(get("schedule"), store.get("schedule", early["id"]))
    assert _due_ids(10**6) == []


def test_a_sparse_index_query_reads_only_the_items_in_its_key_range(aws_mock, monkeypatch):
    from moto.dynamodb.models.table import Table

    for n in range(40):
        _schedule(1000 + n)
    _due_ids(0)  # the first query builds the index from one walk of the table
    seen = []
    real_get = Table.get_item
    monkeypatch.setattr(Table, "get_item", lambda self, *a, **kw: seen.append(a) or real_get(self, *a, **kw))
    assert len(_due_ids(1002)) == 3
    assert len(seen) == 3, "the query read the three items up to 1002, not the 40 in the index"

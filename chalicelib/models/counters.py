"""Atomic counters: id sequences (`seq|<family>`) and row counts (`count|<partition>`).

Row counts make `count` in a list envelope one GetItem instead of reading the partition.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.models.base import meta


class Counter(Model):
    Meta = meta("counters")

    name = UnicodeAttribute(hash_key=True)
    value = NumberAttribute(default=0)


def next_value(name: str) -> int:
    """Atomically increment counter `name` and return the new value (ids start at 1)."""
    item = Counter(name)
    item.update(actions=[Counter.value.add(1)])
    return int(item.value)

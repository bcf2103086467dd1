"""The records table: every API resource family lives here, one partition per family.

Key design (why): lists are DynamoDB *queries*, never scans. A family's partition is read in id
order (the range key), and up to two declared foreign keys of a family are projected into the
`idx1`/`idx2`/`idx3` GSIs (value `"<family>|<field>=<value>"`) so that "hosts of inventory 5" or
"grants of user 3" is one query whose cost does not depend on how large the table is.

A family with a timer (schedules: their `next_time`) also writes `due` = its family and `due_at`
= the time, so "what is due now" is one query on the sparse `due` index, read up to now: it costs
what is due, not what is stored.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.models.base import meta


def _index(name: str, range_key: str = "id") -> GlobalSecondaryIndex:
    """A GSI named after its hash key attribute (a string), ranged by `range_key` (a number),
    projecting every attribute: the queries read whole records."""
    meta_class = type("Meta", (), {"index_name": name, "projection": AllProjection()})
    index_class = type(f"_By{name.capitalize()}", (GlobalSecondaryIndex,), {
        "Meta": meta_class, name: UnicodeAttribute(hash_key=True), range_key: NumberAttribute(range_key=True)})
    return index_class()


class Record(Model):
    Meta = meta("records")

    family = UnicodeAttribute(hash_key=True)
    id = NumberAttribute(range_key=True)
    body = UnicodeAttribute()  # JSON object of the stored fields
    idx1 = UnicodeAttribute(null=True)
    idx2 = UnicodeAttribute(null=True)
    idx3 = UnicodeAttribute(null=True)
    due = UnicodeAttribute(null=True)
    due_at = NumberAttribute(null=True)
    expires = TTLAttribute(null=True)
    version = VersionAttribute()

    by_idx1 = _index("idx1")
    by_idx2 = _index("idx2")
    by_idx3 = _index("idx3")
    by_due = _index("due", range_key="due_at")

"""The records table: every API resource family lives here, one partition per family.

Key design (why): lists are DynamoDB *queries*, never scans. A family's partition is read in id
order (the range key), and up to two declared foreign keys of a family are projected into the
`idx1`/`idx2` GSIs (value `"<family>|<field>=<value>"`) so that "hosts of inventory 5" or "grants
of user 3" is one query whose cost does not depend on how large the table is.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute, VersionAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from chalicelib.models.base import meta


class _ByIdx1(GlobalSecondaryIndex):
    class Meta:
        index_name = "idx1"
        projection = AllProjection()

    idx1 = UnicodeAttribute(hash_key=True)
    id = NumberAttribute(range_key=True)


class _ByIdx2(GlobalSecondaryIndex):
    class Meta:
        index_name = "idx2"
        projection = AllProjection()

    idx2 = UnicodeAttribute(hash_key=True)
    id = NumberAttribute(range_key=True)


class Record(Model):
    Meta = meta("records")

    family = UnicodeAttribute(hash_key=True)
    id = NumberAttribute(range_key=True)
    body = UnicodeAttribute()  # JSON object of the stored fields
    idx1 = UnicodeAttribute(null=True)
    idx2 = UnicodeAttribute(null=True)
    expires = TTLAttribute(null=True)
    version = VersionAttribute()

    by_idx1 = _ByIdx1()
    by_idx2 = _ByIdx2()

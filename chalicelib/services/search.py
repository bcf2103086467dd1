"""`?search=` that costs what it finds: an n-gram index kept in the records table.

Why: a substring search ("fuzzy" in the spec) used to read a family's whole partition, so one
keystroke in the console cost every row of the family (11.5 s at 20,000 rows in the local stack).
The index turns it into reads of the few small partitions the needle names.

Layout: for every record of a resource that declares `search` fields, one item per distinct
character and per distinct trigram of those fields' values (lowercased, as `crud` compares
them), keyed
family = ``gram|<family>|<gram>``, id = the record's id, so a gram's partition lists the ids of
the records that contain it, in id order. A value longer than `LONG_VALUE` characters (a long
description) is not split into grams: its record's id goes in ``gram|<family>|*long*`` instead,
which every search of that family reads too, so search cost grows with the number of such
records, never with the number of short ones.

The index is a superset of the truth: every id it yields is read and checked against the
record with the same substring test as before (`crud._matches`), so an entry left stale by a
write that failed halfway, or by a concurrent edit, costs one extra read, never a wrong result.
What must not happen is a missing entry, hence the order of writes (`store` calls the hooks):

  * grams a write adds are written *before* the record's transaction (a crash after the commit
    leaves no unsearchable record); on an update, again after it (see `after_update`);
  * grams a write removes are deleted only *after* the transaction committed, and the record is
    then read again and any deleted gram its current value still needs is written back, so a
    concurrent edit that renamed it back in between keeps its grams.

A query intersects the id lists of the needle's grams with a leapfrog join: each partition is
read from the current candidate id onwards (`id >= c`, a small Limit), and the lagging ones
skip ahead, so the reads follow the ids the partitions share rather than the largest one.

Records written before the index existed (a local stack's snapshot of an older version, an AWS
installation upgraded in place) are indexed by `reindex`; until a family's marker
``search|indexed|<family>|<fields>`` exists, search of that family reads its partition as
before (correct, slow). The marker names the search fields, so declaring another field makes
the family fall back until it is reindexed. `reindex_missing` runs at every local stack start
and, on AWS, once per deploy (`python -m chalicelib.services.search reindex`).
"""
from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.models import Counter, Record
from chalicelib.services.resources import Resource

#: values longer than this (characters) are not split into grams (see the module docstring)
LONG_VALUE = 256
#: the pseudo-gram of records with a long value; longer than any gram, so it never collides
LONG = "*long*"
#: the body of an index item (the records table requires one)
_BODY = "{}"
#: first page of a join cursor; it doubles while the cursor is read sequentially
_FIRST_PAGE = 10
_MAX_PAGE = 1000


# ---------------------------------------------------------------- grams


def text(value: Any) -> str:
    """A field's value as `crud._matches` compares it: falsy values are empty, others lowercased."""
    return str(value or "").lower()


#: the gram lengths indexed: characters and trigrams. Bigrams are left out (they were a third of
#: the items every write stored): a two-character needle is looked up by its two characters,
#: a superset that the check against the record narrows.
GRAM_SIZES = (1, 3)


def grams_of(value: str) -> set[str]:
    """The distinct characters and trigrams of a (lowercased) string."""
    return {value[i:i + n] for n in GRAM_SIZES for i in range(len(value) - n + 1)}


def needle_grams(needle: str) -> set[str]:
    """Grams every value containing `needle` contains: its trigrams, or its characters when it
    is shorter than three."""
    needle = needle.lower()
    if len(needle) < 3:
        return set(needle)
    return {needle[i:i + 3] for i in range(len(needle) - 2)}


def record_grams(resource: Resource, rec: dict | None) -> set[str]:
    """The index entries of a record: the grams of its search fields (`LONG` for a long value)."""
    out: set[str] = set()
    if rec is None:
        return out
    for name in indexed_fields(resource):
        value = text(rec.get(name))
        if len(value) > LONG_VALUE:
            out.add(LONG)
        else:
            out |= grams_of(value)
    return out


def indexed_fields(resource: Resource) -> tuple[str, ...]:
    """The fields whose grams the index keeps: the search fields, unless the family opts out."""
    return tuple(resource.search) if resource.search_index else ()


def partition(family: str, gram: str) -> str:
    return f"gram|{family}|{gram}"


def marker(resource: Resource) -> str:
    """The item that says a family is indexed; it names the fields and the gram sizes, so that
    a change of either makes the family fall back until it is reindexed."""
    sizes = ",".join(map(str, GRAM_SIZES))
    return f"search|indexed|{resource.family}|{','.join(resource.search)}|grams={sizes}"


# ---------------------------------------------------------------- writing (called by store)


def _put(family: str, record_id: int, grams: Iterable[str]) -> None:
    """Index items, 25 per BatchWriteItem (PynamoDB retries unprocessed items)."""
    grams = list(grams)
    if not grams:
        return
    with Record.batch_write() as batch:
        for gram in grams:
            batch.save(Record(partition(family, gram), record_id, body=_BODY))


def _delete(family: str, record_id: int, grams: Iterable[str]) -> None:
    grams = list(grams)
    if not grams:
        return
    with Record.batch_write() as batch:
        for gram in grams:
            batch.delete(Record(partition(family, gram), record_id))


@dataclass
class Pending:
    """What one record write does to the index: computed before the record's transaction
    (`before_write`), finished after it committed (`after_write`)."""

    resource: Resource
    record_id: int
    creating: bool
    added: set[str] = field(default_factory=set)
    removed: set[str] = field(default_factory=set)


def before_write(resource: Resource, old: dict | None, new: dict) -> Pending | None:
    """Write the grams `new` adds over `old` (None: a new record); None when nothing changes.
    Families without search fields (jobs) cost nothing here: no read, no write."""
    if not indexed_fields(resource):
        return None
    before, after = record_grams(resource, old), record_grams(resource, new)
    pending = Pending(resource, int(new["id"]), old is None, after - before, before - after)
    if not pending.added and not pending.removed:
        return None
    _put(resource.family, pending.record_id, sorted(pending.added))
    return pending


def after_write(pending: Pending | None) -> None:
    """After the record's transaction committed: delete the grams it removed and repair what a
    concurrent edit needs (see the module docstring). For a new record there is nothing to do:
    no other writer deletes grams of an id before it exists."""
    if pending is None or pending.creating:
        return
    family = pending.resource.family
    # written again after the commit: a concurrent writer's deletes may have run between our
    # first write and our commit (and its re-read saw the value before ours)
    _put(family, pending.record_id, sorted(pending.added))
    if not pending.removed:
        return
    from chalicelib.services import store  # store calls this module: imported here, no cycle

    _delete(family, pending.record_id, sorted(pending.removed))
    current = store.get(family, pending.record_id, consistent=True)
    _put(family, pending.record_id, sorted(record_grams(pending.resource, current) & pending.removed))


def after_remove(resource: Resource, rec: dict) -> None:
    """A deleted record's grams, after its transaction (ids are never reused: no race)."""
    if indexed_fields(resource):
        _delete(resource.family, int(rec["id"]), sorted(record_grams(resource, rec)))


# ---------------------------------------------------------------- querying


class _Cursor:
    """The ids of one gram partition, read forward from a given id in pages."""

    def __init__(self, key: str):
        self.key = key
        self.buffer: list[int] = []
        self.exhausted = False
        self.page = _FIRST_PAGE
        self.reads = 0

    def seek(self, candidate: int) -> int | None:
        """The smallest id >= candidate in the partition, or None."""
        consumed_all = bool(self.buffer) and self.buffer[-1] < candidate
        self.buffer = [i for i in self.buffer if i >= candidate]
        if self.buffer:
            return self.buffer[0]
        if self.exhausted:
            return None
        # read sequentially (the whole last page was used): a larger page; jumped ahead: small again
        self.page = min(self.page * 2, _MAX_PAGE) if consumed_all and self.reads else _FIRST_PAGE
        self.reads += 1
        items = Record._get_connection().query(
            self.key, range_key_condition=Record.id >= candidate, limit=self.page,
            attributes_to_get=["id"], scan_index_forward=True).get("Items", [])
        self.buffer = [int(item["id"]["N"]) for item in items]
        self.exhausted = len(self.buffer) < self.page
        return self.buffer[0] if self.buffer else None


def _intersect(keys: list[str]) -> Iterator[int]:
    """Ids present in every partition, ascending (leapfrog join)."""
    cursors = [_Cursor(k) for k in keys]
    candidate = 1
    while True:
        agreed = 0
        position = 0
        while agreed < len(cursors):
            found = cursors[position].seek(candidate)
            if found is None:
                return
            if found == candidate:
                agreed += 1
            else:
                candidate, agreed = found, 1
            position = (position + 1) % len(cursors)
        yield candidate
        candidate += 1


def _all_ids(key: str) -> list[int]:
    out: list[int] = []
    start = None
    while True:
        page = Record._get_connection().query(key, attributes_to_get=["id"], exclusive_start_key=start)
        out.extend(int(item["id"]["N"]) for item in page.get("Items", []))
        start = page.get("LastEvaluatedKey")
        if not start:
            return out


def is_indexed(resource: Resource) -> bool:
    try:
        Counter.get(marker(resource))
        return True
    except DoesNotExist:
        return False


def candidate_ids(resource: Resource, needle: str) -> list[int] | None:
    """Ascending ids of the records of `resource` that may contain `needle` in a search field
    (a superset: the caller verifies each record), or None when the family is not indexed yet
    (the caller reads the partition instead)."""
    grams = needle_grams(needle)
    if not indexed_fields(resource) or not grams or not is_indexed(resource):
        return None
    found = set(_intersect([partition(resource.family, g) for g in sorted(grams)]))
    found.update(_all_ids(partition(resource.family, LONG)))
    return sorted(found)


# ---------------------------------------------------------------- existing data


def reindex(resource: Resource) -> int:
    """Write the grams of every record of `resource` (reads its partition once: a one-time step,
    never a request), then its marker. Idempotent; returns the records indexed."""
    indexed = 0
    if indexed_fields(resource):
        with Record.batch_write() as batch:
            for item in Record.query(resource.family, page_size=1000):
                rec = json.loads(item.body)
                for gram in record_grams(resource, rec):
                    batch.save(Record(partition(resource.family, gram), int(item.id), body=_BODY))
                indexed += 1
    Counter(marker(resource), value=indexed).save()
    return indexed


def reindex_missing() -> dict[str, int]:
    """Reindex every family with search fields whose marker is missing: {family: records}.
    One GetItem per family when all are marked (every local stack start)."""
    import chalicelib.services.catalog  # noqa: F401 - registers every family
    from chalicelib.services.resources import all_resources

    return {r.family: reindex(r) for r in all_resources() if indexed_fields(r) and not is_indexed(r)}


def mark_fresh() -> None:
    """Mark every family with search fields as indexed, on tables known to be new (a first
    start, a test's tables): nothing was stored before the index, so nothing needs reindexing,
    and every record written from here on writes its own grams."""
    import chalicelib.services.catalog  # noqa: F401 - registers every family
    from chalicelib.services.resources import all_resources

    with Counter.batch_write() as batch:
        for resource in all_resources():
            if indexed_fields(resource):
                batch.save(Counter(marker(resource), value=0))


def reindex_all() -> dict[str, int]:
    """Reindex every family with search fields, marked or not (a repair)."""
    import chalicelib.services.catalog  # noqa: F401 - registers every family
    from chalicelib.services.resources import all_resources

    return {r.family: reindex(r) for r in all_resources() if indexed_fields(r)}


def main(argv: list[str] | None = None) -> int:
    """`python -m chalicelib.services.search reindex [--all]`: index the records written before
    the search index existed (once per installation; with its environment, OPSGRAT_PREFIX and
    AWS credentials). `--all` rewrites every family's grams, marked or not."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args not in (["reindex"], ["reindex", "--all"]):
        print("usage: python -m chalicelib.services.search reindex [--all]", file=sys.stderr)
        return 2
    done = reindex_all() if "--all" in args else reindex_missing()
    for family, records in sorted(done.items()):
        print(f"{family}: {records} records indexed")
    if not done:
        print("every family is indexed already")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Deletes that are all or nothing: a plan computed from reads alone, then written.

`plan` reads and writes nothing. It
  1. checks that the caller may write every requested record (403 otherwise);
  2. gathers the cascade closure: every record that an on_delete="cascade" field, or a family's
     `also_deletes`, leads to, recursively, each once;
  3. checks every on_delete="protect" rule of every record in the closure. A referrer outside the
     closure refuses the whole delete (400 naming both records); a referrer that the plan deletes
     too does not, as nothing would be left pointing at a deleted record. A family's own
     `check_delete` rule is asked about each of its records in the closure the same way.

`execute` writes the plan, only ever after every rule passed for every record in it. What is
atomic: one DynamoDB transaction, which holds at most 100 actions (each record with its
unique-key markers, plus one summed decrement per row counter). A plan that fits, which is any
ordinary single-record delete, is one transaction: all of it is written or, when a record changed
since it was read (its version condition), none of it (409). A larger plan is written as several
transactions in order, dependants before what they depend on; if a later one fails with a 409,
the earlier ones stay written, which leaves parents with fewer dependants but never a dependant
without its parent, and deleting again finishes the job. The after_delete hooks run once the
writes are done, for the records actually deleted, so a refused delete runs none of them.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib.services import rbac, store
from chalicelib.services.errors import Conflict, ValidationError
from chalicelib.services.resources import AfterDelete, Resource, referrers

Key = tuple[str, int]  # (family, id)

#: rows read per page while looking for a record that protects one in the plan: usually the
#: first referrer answers the question
_PROTECT_PAGE = 10


@dataclass(frozen=True)
class FollowUp:
    """An after_delete hook to run for one deleted record once the writes are done."""

    hook: AfterDelete
    key: Key
    rec: dict


@dataclass
class DeletePlan:
    """Everything one delete will write, computed before any of it is written."""

    principal: rbac.Principal | None
    #: write order: every record comes after the records that depend on it
    removals: list[store.Removal]
    follow_ups: list[FollowUp] = field(default_factory=list)

    @property
    def counter_deltas(self) -> dict[str, int]:
        """Row counter partition -> change (negative), over the whole plan."""
        deltas: dict[str, int] = {}
        for item in self.removals:
            for part in item.partitions:
                deltas[part] = deltas.get(part, 0) - 1
        return deltas

    @property
    def marker_deletes(self) -> list[str]:
        return [key for item in self.removals for key in item.markers]

    def transactions(self) -> list[store.DeleteTransaction]:
        return store.pack(self.removals)


class _IndexRows:
    """Index partitions read while planning, each once: deleting an inventory reads its
    memberships by inventory for the cascade and again for every group's `also_deletes`."""

    def __init__(self) -> None:
        self._read: dict[tuple[str, str, Any], list[dict]] = {}

    def __call__(self, resource: Resource, field_name: str, value: Any) -> list[dict]:
        key = (resource.family, field_name, value)
        if key not in self._read:
            self._read[key] = list(store.scan_index(resource, field_name, value))
        return self._read[key]


def _key(resource: Resource, rec: dict) -> Key:
    return resource.family, int(rec["id"])


def _dependants(resource: Resource, rec: dict, rows: _IndexRows) -> Iterator[tuple[Resource, dict]]:
    for child, ref in referrers(resource.family):
        if ref.on_delete == "cascade":
            for row in rows(child, ref.name, rec["id"]):
                yield child, row
    if resource.also_deletes:
        yield from resource.also_deletes(rec, rows)


def _closure(roots: Sequence[tuple[Resource, dict]]) -> tuple[list[tuple[Resource, dict]], dict[Key, Key]]:
    """The records the roots take with them, in write order (a depth-first post-order, so every
    record follows its dependants), and for each the requested record it is deleted with."""
    rows = _IndexRows()
    requested = {_key(r, rec) for r, rec in roots}
    order: list[tuple[Resource, dict]] = []
    deleted_with: dict[Key, Key] = {}
    for root, root_rec in roots:
        root_key = _key(root, root_rec)
        if root_key in deleted_with:
            continue  # another requested record's cascade reached it first
        deleted_with[root_key] = root_key
        stack = [(root, root_rec, _dependants(root, root_rec, rows))]
        while stack:
            resource, rec, pending = stack[-1]
            nxt = next(pending, None)
            if nxt is None:
                stack.pop()
                order.append((resource, rec))
                continue
            child, row = nxt
            child_key = _key(child, row)
            if child_key in deleted_with:
                continue
            deleted_with[child_key] = child_key if child_key in requested else root_key
            stack.append((child, row, _dependants(child, row, rows)))
    return order, deleted_with


def _check_protections(order: list[tuple[Resource, dict]], deleted_with: dict[Key, Key],
                       field_name: str | None) -> None:
    for resource, rec in order:
        if resource.check_delete is not None:
            reason = resource.check_delete(rec, deleted_with)
            if reason:
                raise ValidationError(field_name, reason)
        for child, ref in referrers(resource.family):
            if ref.on_delete != "protect":
                continue
            for row in store.scan_index(child, ref.name, rec["id"], page_size=_PROTECT_PAGE):
                if _key(child, row) in deleted_with:
                    continue  # deleted in this plan too
                own = _key(resource, rec)
                root = deleted_with[own]
                what = f"{resource.family} {rec['id']}"
                if root != own:
                    what += f", which deleting {root[0]} {root[1]} would delete,"
                raise ValidationError(field_name, f"{what} is used by {child.family} {row['id']} "
                                                  f"(its {ref.name}); remove that first")


def plan(resource: Resource, records: Sequence[dict], principal: rbac.Principal | None, *,
         check_write: bool, field_name: str | None = None) -> DeletePlan:
    """The plan for deleting `records` of `resource`, or the error that refuses it.

    `check_write`: the caller needs write on every requested record (dependants that cascade
    are not checked: they go with a record the caller may delete). `field_name` prefixes a
    refusal (bulk deletes name `pk`).
    """
    if check_write:
        for rec in records:
            rbac.require(principal, resource, rec, "write")
    order, deleted_with = _closure([(resource, rec) for rec in records])
    _check_protections(order, deleted_with, field_name)
    return DeletePlan(
        principal=principal,
        removals=[store.removal(r, rec) for r, rec in order],
        follow_ups=[FollowUp(r.after_delete, _key(r, rec), rec) for r, rec in order if r.after_delete],
    )


def execute(delete_plan: DeletePlan) -> None:
    """Write the plan's transactions in order, then run the after_delete hooks of what was
    deleted (also when a later transaction failed with a 409, for the earlier ones)."""
    deleted: set[Key] = set()
    try:
        for transaction in delete_plan.transactions():
            store.commit_removals(transaction)
            deleted.update(item.key for item in transaction.removals)
    except Conflict:
        _follow_up(delete_plan, deleted)
        raise
    _follow_up(delete_plan, deleted)


def _follow_up(delete_plan: DeletePlan, deleted: set[Key]) -> None:
    for follow_up in delete_plan.follow_ups:
        if follow_up.key in deleted:
            follow_up.hook(delete_plan.principal, follow_up.rec)

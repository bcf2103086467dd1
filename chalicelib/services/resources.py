"""Resource declarations: what each API family stores, accepts, searches and who may touch it.

Per-resource code declares a `Resource` (`chalicelib.services.catalog`); `chalicelib.services.crud`
implements create / read / update / delete / list once for all of them, and
`chalicelib.api.resources.expose` gives them their HTTP routes and OpenAPI entries. Adding a family
is one declaration (`register(Resource(...))`) plus one `expose` call in its area's blueprint.
"""
from __future__ import annotations

import enum
from collections.abc import Container, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from chalicelib.services.fields import Field, Label, Ref

if TYPE_CHECKING:
    from chalicelib.services.crud import Change
    from chalicelib.services.rbac import Principal

#: ordered permission levels; a higher level includes the lower ones
LEVELS = {"read": 1, "execute": 2, "write": 3, "admin": 4}
#: the records table's GSIs idx1..idx3 (`chalicelib.models.records`)
MAX_INDEXES = 3
LEVEL_LABELS = {"read": "Read-only", "execute": "Execute", "write": "Read-write & Execute", "admin": "Admin"}


class AccessKind(enum.StrEnum):
    OPEN = "open"
    SUPERUSER = "superuser"
    PROTECTED = "protected"
    PARENT = "parent"


@dataclass(frozen=True)
class Access:
    """Who may read and write a family's records.

    kinds:
      * ``open``: every authenticated user reads; superusers write (system catalogues).
      * ``superuser``: superusers only (users).
      * ``protected``: per-object grants to users and teams (credentials, inventories, ...);
        with `readable_via`, readers of the record that a field names read this one too.
      * ``parent``: follows the permission on the record named by `parent_field` (hosts follow
        their inventory, grants follow the object they grant on).
    """

    kind: AccessKind
    parent_field: str = ""
    parent_family: str = ""
    #: level needed on the parent to create/update/delete (for ``parent``)
    write_level: str = "write"

    @classmethod
    def open(cls) -> "Access":
        return cls(AccessKind.OPEN)

    @classmethod
    def superuser(cls) -> "Access":
        return cls(AccessKind.SUPERUSER)

    @classmethod
    def protected(cls, readable_via: tuple[str, str] | None = None) -> "Access":
        """`readable_via=(field, family)`: whoever may read the record of protected `family` named
        by `field` may read this one (AWX: who can read a job template sees its jobs)."""
        field_name, family = readable_via or ("", "")
        return cls(AccessKind.PROTECTED, field_name, family)

    @classmethod
    def parent(cls, field_name: str, family: str, write_level: str = "write") -> "Access":
        return cls(AccessKind.PARENT, field_name, family, write_level)


class Validate(Protocol):
    """Cross-field rules of a create or update, before anything is stored; may complete
    `change.data` (derived fields) and raises ValidationError/PermissionDenied to refuse it."""

    def __call__(self, change: "Change") -> None: ...


class AfterSave(Protocol):
    """Runs after a record was stored (`previous` is None for a create): denormalized copies."""

    def __call__(self, principal: "Principal | None", rec: dict, previous: dict | None) -> None: ...


class Extra(Protocol):
    """Read-only values computed from a stored record when it is shown (not stored labels)."""

    def __call__(self, rec: dict) -> dict[str, Any]: ...


class AfterDelete(Protocol):
    """Runs once the deletes of a plan are written (never for a refused delete). `principal` is
    the caller, or None for deletes the system makes (a host source sync)."""

    def __call__(self, principal: "Principal | None", rec: dict) -> None: ...


class Timer(Protocol):
    """When a record is next due (epoch seconds), or None: kept in the records table's `due`
    index, which `store.due` reads up to a time (schedules: their next run)."""

    def __call__(self, rec: dict) -> int | None: ...


class IndexRows(Protocol):
    """The records of `resource` whose indexed `field_name` equals `value`; one query per
    distinct partition while a delete plan is computed."""

    def __call__(self, resource: "Resource", field_name: str, value: Any) -> list[dict]: ...


class AlsoDeletes(Protocol):
    """The records that must be deleted with `rec` although no indexed on_delete="cascade" field
    leads to them (a Resource indexes at most three fields)."""

    def __call__(self, rec: dict, rows: IndexRows) -> Iterable[tuple["Resource", dict]]: ...


class CheckDelete(Protocol):
    """A rule no protect field can express, checked for every record a delete plan would remove:
    the reason to refuse deleting `rec`, or None. `deleting` holds the (family, id) of every
    record of the plan, so a rule can allow what the same delete makes moot (a workflow's start
    node goes with its workflow, never alone)."""

    def __call__(self, rec: dict, deleting: Container[tuple[str, int]]) -> str | None: ...


@dataclass
class Resource:
    family: str
    path: str
    title: str
    fields: Sequence[Field]
    access: Access
    labels: Sequence[Label] = ()
    search: Sequence[str] = ()
    #: keep an n-gram index of the search fields (`chalicelib.services.search`); False for small
    #: catalogues an administrator curates (modules, tags, variables), whose search reads their
    #: partition: its size does not grow with use, and every write skips the index
    search_index: bool = True
    filters: Sequence[str] = ()
    ordering: Sequence[str] = ()
    default_ordering: str = "-id"
    #: up to three fields whose values are projected into the idx1/idx2/idx3 GSIs
    indexes: Sequence[str] = ()
    #: tuples of fields unique together (enforced with conditional writes, not by reading)
    unique: Sequence[Sequence[str]] = ()
    validate: Validate | None = None
    #: after_delete runs after a delete plan is written
    after_save: AfterSave | None = None
    after_delete: AfterDelete | None = None
    #: dependants deleted with a record that no indexed cascade field finds (see AlsoDeletes)
    also_deletes: AlsoDeletes | None = None
    #: refuses deleting a record for a reason of its own (see CheckDelete)
    check_delete: CheckDelete | None = None
    #: when a record is next due, kept in the `due` index (see Timer)
    timer: Timer | None = None
    #: at most one record (job settings)
    singleton: bool = False
    #: clients only list and read it (no POST/PUT/PATCH/DELETE routes; `crud.create` refuses):
    #: job logs and host summaries, which the platform writes through `store`
    read_only: bool = False
    #: False: clients create (and delete) records but never edit them, e.g. jobs (no PUT/PATCH)
    updatable: bool = True
    tag: str = ""
    description: str = ""
    extra: Extra | None = None
    #: the names `extra` adds, so the OpenAPI document lists them without calling the hook
    #: (a hook may need a real record or read other services)
    extra_fields: Sequence[str] = ()
    by_name: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        if len(self.indexes) > MAX_INDEXES:
            raise ValueError(f"{self.family}: at most {MAX_INDEXES} indexed fields")
        if self.access.kind == "parent" and self.access.parent_field not in self.indexes:
            raise ValueError(f"{self.family}: parent field must be indexed")
        self.by_name = {f.name: f for f in self.fields}
        for f in self.fields:
            for alias in f.aliases:
                self.by_name.setdefault(alias, f)
        for f in self.refs:
            if f.on_delete != "keep" and f.name not in self.indexes:
                raise ValueError(f"{self.family}.{f.name}: on_delete needs an indexed field")
        if not self.tag:
            self.tag = self.path.split("/")[2] if self.path.count("/") > 2 else "api"

    @property
    def writable(self) -> list[Field]:
        return [f for f in self.fields if not f.read_only]

    @property
    def secrets(self) -> list[Field]:
        return [f for f in self.fields if f.secret]

    @property
    def refs(self) -> list[Ref]:
        return [f for f in self.fields if isinstance(f, Ref)]

    def index_key(self, position: int, value: Any) -> str:
        return f"{self.family}|{self.indexes[position]}={value}"


_REGISTRY: dict[str, Resource] = {}


def register(resource: Resource) -> Resource:
    if resource.family in _REGISTRY and _REGISTRY[resource.family] is not resource:
        raise ValueError(f"family {resource.family} declared twice")
    _REGISTRY[resource.family] = resource
    return resource


def get(family: str) -> Resource:
    return _REGISTRY[family]


def all_resources() -> list[Resource]:
    return list(_REGISTRY.values())


def referrers(family: str) -> list[tuple[Resource, Ref]]:
    """The (resource, field) pairs whose indexed Ref points at `family` with an on_delete rule."""
    return [(r, f) for r in _REGISTRY.values() for f in r.refs
            if f.family == family and f.on_delete != "keep"]

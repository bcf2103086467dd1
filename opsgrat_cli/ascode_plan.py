"""Configuration as code without HTTP: which families are configuration, records named by their
natural key, the export document, and the plan `opsgrat apply` writes.

Everything here is driven by the families' `x-opsgrat` facts (key, refs, secrets, singleton,
read_only, updatable): a family the API gains is exported and applied with no code here. The
records come from a `Store`, which loads a family once through the callable it is given, so the
logic can be exercised without an installation and `ascode` owns every request.
"""
from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from opsgrat_cli.errors import CliError
from opsgrat_cli.spec import Family, Spec

#: what a secret reads as when a value is stored; in a file it means "leave the stored value"
ENCRYPTED = "$encrypted$"

Warn = Callable[[str], None]


# ----------------------------------------------------------------------------- families


def is_configuration(fam: Family) -> bool:
    """A family `export`/`apply` cover: clients create and update it, and its records have a
    natural key (or it is the one record of a singleton). Jobs, logs and summaries are not."""
    return not fam.read_only and fam.updatable and fam.can_create and (bool(fam.key) or fam.singleton)


def configuration_families(spec: Spec, only: Iterable[str] = ()) -> list[Family]:
    """The configuration families (those named in `only`, by family or command name, when given),
    dependencies first."""
    names = list(only)
    chosen = [f for f in spec.families if is_configuration(f)]
    if names:
        wanted = set()
        for name in names:
            fam = spec.family(name)
            if not is_configuration(fam):
                raise CliError(f"{fam.command} is not configuration (read-only, not updatable or without a natural key)")
            wanted.add(fam.family)
        chosen = [f for f in chosen if f.family in wanted]
    return dependency_order(chosen)


def dependencies(fam: Family) -> set[str]:
    """The families a record of `fam` names through its writable fields (itself excluded: a
    self-reference needs only the earlier records of the same family)."""
    inputs = {f.name for f in fam.inputs} | set(fam.key)
    return {target for name, target in fam.refs.items() if name in inputs and target != fam.family}


def dependency_order(families: list[Family]) -> list[Family]:
    """A topological sort over `refs`, ties broken by the document's order, so that export and
    apply list the same families in the same order and every record comes after what it names. A
    cycle (none today) falls back to the document's order for the families in it."""
    present = {f.family for f in families}
    waiting = {f.family: dependencies(f) & present for f in families}
    done: list[Family] = []
    remaining = list(families)
    while remaining:
        ready = next((f for f in remaining if not waiting[f.family] - {d.family for d in done}), remaining[0])
        done.append(ready)
        remaining.remove(ready)
    return done


def write_only(fam: Family) -> set[str]:
    """Inputs a record never shows (a user's password): like secrets, never exported, and
    compared with nothing."""
    return {f.name for f in fam.inputs if f.name not in fam.columns}


def hidden_values(fam: Family) -> set[str]:
    """Fields whose stored value the client cannot read back: secrets and write-only inputs."""
    return set(fam.secrets) | write_only(fam)


# ----------------------------------------------------------------------------- values


def normal(value: Any, kind: str = "") -> Any:
    """A value as compared: strings stripped (YAML block scalars add a newline), numbers given as
    text in an integer field as numbers, booleans as the API's 0/1, containers element-wise."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, str):
        text = value.strip()
        if kind == "integer" and text.lstrip("-").isdigit():
            return int(text)
        return text
    if isinstance(value, float) and kind == "integer" and value.is_integer():
        return int(value)
    if isinstance(value, list):
        return [normal(v) for v in value]
    if isinstance(value, dict):
        return {k: normal(v) for k, v in value.items()}
    return value


def same(desired: Any, current: Any, kind: str = "") -> bool:
    """Whether a file's value equals the record's. A list the API answers may be given as one
    value or a comma-separated string (as the API accepts it); null and "" are both "nothing"."""
    a, b = normal(desired, kind), normal(current, kind)
    if isinstance(b, list) and not isinstance(a, list) and a is not None:
        a = [p.strip() for p in a.split(",") if p.strip()] if isinstance(a, str) else [a]
    if isinstance(a, (int, float)) and isinstance(b, str) or isinstance(b, (int, float)) and isinstance(a, str):
        a, b = str(a), str(b)  # `limit: 5` in a file for a text field
    if a in (None, "") and b in (None, ""):
        return True
    return a == b


def label_of(form: Any) -> str:
    """A key form as one line: a scalar as itself, a mapping as `field=value` pairs, nested
    mappings' values joined by "/" (`group=web/db host=web/h1`)."""
    if isinstance(form, dict):
        return " ".join(f"{k}={_nested(v)}" for k, v in form.items())
    return str(form)


def _nested(form: Any) -> str:
    return "/".join(_nested(v) for v in form.values()) if isinstance(form, dict) else str(form)


def names_in(form: Any) -> list[str]:
    """Every scalar of a key form (what `--match` globs are tried against)."""
    if isinstance(form, dict):
        return [n for v in form.values() for n in names_in(v)]
    return [str(form)]


# ----------------------------------------------------------------------------- records


class Store:
    """Each family's records, loaded once (`load(family)` returns them all), by id and by key."""

    def __init__(self, spec: Spec, load: Callable[[Family], list[dict]]):
        self.spec = spec
        self._load = load
        self._records: dict[str, list[dict]] = {}
        self._by_id: dict[str, dict[Any, dict]] = {}
        self._by_key: dict[str, dict[tuple, list[dict]]] = {}

    def records(self, fam: Family) -> list[dict]:
        if fam.family not in self._records:
            self.reload(fam)
        return self._records[fam.family]

    def reload(self, fam: Family) -> None:
        """Forget what was loaded: the server may have made records of `fam` itself (a workflow's
        start node when the workflow was created)."""
        self._records[fam.family] = list(self._load(fam))
        self._by_id.pop(fam.family, None)
        self._by_key.pop(fam.family, None)

    def add(self, fam: Family, record: dict) -> None:
        """A record this apply created (a family not loaded yet will load it with the rest)."""
        if fam.family not in self._records:
            return
        self._records[fam.family].append(record)
        self._by_id.pop(fam.family, None)
        self._by_key.pop(fam.family, None)

    def by_id(self, fam: Family) -> dict[Any, dict]:
        if fam.family not in self._by_id:
            self._by_id[fam.family] = {r.get("id"): r for r in self.records(fam)}
        return self._by_id[fam.family]

    def by_key(self, fam: Family) -> dict[tuple, list[dict]]:
        if fam.family not in self._by_key:
            index: dict[tuple, list[dict]] = {}
            for rec in self.records(fam):
                index.setdefault(record_key(fam, rec), []).append(rec)
            self._by_key[fam.family] = index
        return self._by_key[fam.family]


def record_key(fam: Family, rec: dict) -> tuple:
    """A stored record's key: references as ids, other fields normalized (empty for a singleton)."""
    return tuple(rec.get(k) if k in fam.refs else normal(rec.get(k), _kind(fam, k)) for k in fam.key)


def _kind(fam: Family, name: str) -> str:
    f = fam.input(name)
    return f.kind if f else ""


# ----------------------------------------------------------------------------- export


class Exporter:
    """Records as a file names them: only writable fields, references as the referenced
    record's key form, secrets as `$encrypted$`."""

    def __init__(self, store: Store, warn: Warn):
        self.store = store
        self.spec = store.spec
        self.warn = warn

    def key_form(self, fam: Family, rec: dict) -> Any:
        """The record's natural key: the value of a one-field key, else a mapping of its fields,
        references resolved recursively."""
        parts = {k: self._component(fam, rec, k) for k in fam.key}
        return parts[fam.key[0]] if len(fam.key) == 1 else parts

    def _component(self, fam: Family, rec: dict, name: str) -> Any:
        value = rec.get(name)
        if name in fam.refs and value is not None:
            return self.ref_form(fam, rec, name)
        return value

    def ref_form(self, fam: Family, rec: dict, name: str) -> Any:
        """A reference as the referenced record's key, or the id kept (with a warning) when that
        record is not exportable or does not exist."""
        value = rec.get(name)
        target = self.spec.by_family.get(fam.refs[name])
        where = f"{fam.command} id {rec.get('id')}"
        if target is None or not target.key:
            self.warn(f"{where}: {name} {value} names a {fam.refs[name]}, which has no natural key; the id is kept")
            return value
        found = self.store.by_id(target).get(value)
        if found is None:
            self.warn(f"{where}: {name} {value} names no existing {target.command}; the id is kept")
            return value
        return self.key_form(target, found)

    def record(self, fam: Family, rec: dict) -> dict:
        """One record of the file: key fields first, then the other inputs that hold a value."""
        out: dict[str, Any] = {}
        skip = write_only(fam)
        names = [*fam.key, *(f.name for f in fam.inputs if f.name not in fam.key)]
        for name in names:
            value = rec.get(name)
            if name in skip or (name not in fam.key and value in (None, "")):
                continue
            if name in fam.secrets:
                value = ENCRYPTED
            elif name in fam.refs and value is not None:
                value = self._component(fam, rec, name)
            out[name] = value
        return out

    def selected(self, families: list[Family], globs: list[str]) -> dict[str, list[dict]]:
        """The records to export, by family: all of them, or with `globs` those whose key (any of
        its names, the names of the records it references included) matches one, plus every
        record they reference in the exported families, so the file applies on its own."""
        exported = {f.family: f for f in families}
        chosen: dict[str, dict[Any, dict]] = {f.family: {} for f in families}

        def take(fam: Family, rec: dict) -> None:
            if rec.get("id") in chosen[fam.family]:
                return
            chosen[fam.family][rec.get("id")] = rec
            for name, target_name in fam.refs.items():
                target = exported.get(target_name)
                if target is None or fam.input(name) is None or rec.get(name) is None:
                    continue
                found = self.store.by_id(target).get(rec.get(name))
                if found is not None:
                    take(target, found)

        for fam in families:
            for rec in self.store.records(fam):
                if not globs or (fam.key and _matches(names_in(self.key_form(fam, rec)), globs)):
                    take(fam, rec)
        order = {f.family: [r.get("id") for r in self.store.records(f)] for f in families}
        return {f.family: [chosen[f.family][i] for i in order[f.family] if i in chosen[f.family]] for f in families}

    def document(self, families: list[Family], globs: list[str]) -> dict[str, list[dict]]:
        """The file's mapping: family command -> records, in dependency order, empty families left out."""
        chosen = self.selected(families, globs)
        out: dict[str, list[dict]] = {}
        for fam in families:
            rows = [self.record(fam, rec) for rec in chosen[fam.family]]
            if rows:
                out[fam.command] = rows
        return out


def _matches(names: list[str], globs: list[str]) -> bool:
    return any(fnmatch.fnmatchcase(n, g) for n in names for g in globs)


# ----------------------------------------------------------------------------- plan


@dataclass(eq=False)
class Pending:
    """A record the apply creates: what references to it hold until it exists (then `id`)."""

    family: str
    label: str
    id: Any = None


@dataclass
class Change:
    """One record of the file and what applying it does.

    `desired` holds every field the file gives, references resolved (ids or `Pending`), so a
    create can be matched again at write time against records the server made meanwhile."""

    fam: Family
    label: str
    #: "create", "update" or "unchanged"
    action: str
    key: tuple
    desired: dict[str, Any]
    #: what is sent: every field to create, the changed fields to update
    body: dict[str, Any] = field(default_factory=dict)
    #: the changed fields of an update, in the file's order
    fields: list[str] = field(default_factory=list)
    record: dict | None = None
    pending: Pending | None = None

    def line(self) -> str:
        """How the change is reported: `+ template deploy`, `~ inventory web: description`."""
        if self.action == "create":
            return f"+ {self.fam.command} {self.label}".rstrip()
        return f"~ {self.fam.command} {self.label}".rstrip() + ": " + ", ".join(self.fields)


def diff(fam: Family, desired: dict[str, Any], record: dict, update_secrets: bool) -> dict[str, Any]:
    """The fields of `desired` that differ from `record` (what a PATCH sends). A secret or
    write-only field in clear text cannot be compared, so it is sent only with `update_secrets`;
    `$encrypted$` never is."""
    hidden = hidden_values(fam)
    out: dict[str, Any] = {}
    for name, value in desired.items():
        if name in fam.key:
            continue
        if name in hidden:
            if value == ENCRYPTED:
                continue
            if value in (None, "") and name in fam.secrets:
                if record.get(name) not in (None, ""):  # clearing a stored secret is visible
                    out[name] = value
                continue
            if update_secrets:
                out[name] = value
            continue
        if isinstance(value, Pending) or not same(value, record.get(name), _kind(fam, name)):
            out[name] = value
    return out


def create_body(fam: Family, desired: dict[str, Any]) -> dict[str, Any]:
    """Everything the file gives for a new record, except secrets left as `$encrypted$`."""
    return {k: v for k, v in desired.items() if not (k in hidden_values(fam) and v == ENCRYPTED)}


def materialize(value: Any) -> Any:
    """A value to send: every `Pending` replaced by the id its record was created with."""
    if isinstance(value, Pending):
        if value.id is None:
            raise CliError(f"{value.family} {value.label} was not created before a record that names it")
        return value.id
    if isinstance(value, tuple):
        return tuple(materialize(v) for v in value)
    if isinstance(value, list):
        return [materialize(v) for v in value]
    if isinstance(value, dict):
        return {k: materialize(v) for k, v in value.items()}
    return value


def settle(change: Change, record: dict | None, update_secrets: bool) -> Change:
    """`change` decided against `record` (the stored record with its key, or None)."""
    if record is None:
        change.action, change.body, change.fields, change.record = "create", create_body(change.fam, change.desired), [], None
        return change
    body = diff(change.fam, change.desired, record, update_secrets)
    change.record, change.body, change.fields = record, body, list(body)
    change.action = "update" if body else "unchanged"
    return change


def rematch(store: Store, change: Change, update_secrets: bool) -> Change:
    """A planned create decided again just before it is written, against the records stored
    then: the server may have made it meanwhile with its parent (a workflow's start node), and
    then it is updated (or left alone), and what names it gets the stored record's id."""
    found = store.by_key(change.fam).get(materialize(change.key), [])
    settle(change, found[0] if len(found) == 1 else None, update_secrets)
    if change.record is not None and change.pending is not None:
        change.pending.id = change.record.get("id")
    return change


class Planner:
    """Turns a parsed file into `Change`s, resolving every reference before anything is written:
    to a stored record, or to one the same apply creates earlier (dependencies first)."""

    def __init__(self, store: Store, source: str, update_secrets: bool = False, warn: Warn | None = None):
        self.store = store
        self.warn: Warn = warn or (lambda message: None)
        self.spec = store.spec
        self.source = source
        self.update_secrets = update_secrets
        #: key -> id or Pending of every record the file names, per family, as planned so far
        self.planned: dict[str, dict[tuple, Any]] = {}

    def fail(self, message: str) -> CliError:
        return CliError(f"{self.source}: {message}")

    # -------------------------------------------------------------- the file

    def sections(self, document: Any, only: Iterable[str] = ()) -> list[tuple[Family, list[dict]]]:
        """The file's families (checked) and their records, dependencies first; with `only`,
        just those families."""
        if document is None:
            return []
        if not isinstance(document, dict):
            raise self.fail("expected a mapping of families (e.g. `template:`) to lists of records")
        given: dict[str, tuple[Family, list]] = {}
        for name, rows in document.items():
            fam = self.spec.by_command.get(str(name)) or self.spec.by_family.get(str(name))
            if fam is None:
                raise self.fail(f"unknown family {name!r}; `opsgrat --help` lists them")
            if not is_configuration(fam):
                raise self.fail(f"{fam.command} is not configuration (read-only, not updatable or without a natural key)")
            if fam.singleton and isinstance(rows, dict):
                rows = [rows]
            if rows is None:
                rows = []
            if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
                raise self.fail(f"{fam.command}: expected a list of records (mappings of field names to values)")
            if fam.singleton and len(rows) > 1:
                raise self.fail(f"{fam.command} is a single record; the file gives {len(rows)}")
            if fam.family in given:
                raise self.fail(f"{fam.command} is given twice")
            given[fam.family] = (fam, rows)
        wanted = {self.spec.family(n).family for n in only}
        order = dependency_order([fam for fam, _ in given.values()])
        return [(fam, given[fam.family][1]) for fam in order if not wanted or fam.family in wanted]

    def plan(self, document: Any, only: Iterable[str] = ()) -> list[Change]:
        changes: list[Change] = []
        for fam, rows in self.sections(document, only):
            self.planned.setdefault(fam.family, {})
            for position, raw in enumerate(rows, 1):
                changes.append(self.plan_record(fam, raw, position))
        return changes

    def plan_record(self, fam: Family, raw: dict, position: int) -> Change:
        missing = [k for k in fam.key if raw.get(k) in (None, "")]
        if missing:
            raise self.fail(f"{fam.command} #{position}: the key field {missing[0]!r} is missing")
        form = {k: raw[k] for k in fam.key}
        label = label_of(form[fam.key[0]] if len(fam.key) == 1 else form) if fam.key else ""
        where = f"{fam.command} {label}".rstrip()
        allowed = {f.name for f in fam.inputs}
        for name in raw:
            if name not in allowed:
                raise self.fail(f"{where}: unknown field {name!r} (not a writable field of {fam.command})")
        desired = {name: self.value(fam, name, value, where) for name, value in raw.items()}
        key = tuple(desired[k] if k in fam.refs else normal(desired[k], _kind(fam, k)) for k in fam.key)
        if key in self.planned[fam.family]:
            raise self.fail(f"{where} is given twice")
        change = Change(fam, label, "create", key, desired)
        record = self.stored(fam, key, where)
        settle(change, record, self.update_secrets)
        if record is None:
            change.pending = Pending(fam.command, label)
            for name in sorted(set(fam.secrets) & {k for k, v in desired.items() if v == ENCRYPTED}):
                self.warn(f"{where}: {name} is {ENCRYPTED} and the record is new: it is created without it "
                          "(give the value in clear text to set it)")
            self.planned[fam.family][key] = change.pending
        else:
            self.planned[fam.family][key] = record.get("id")
        return change

    def value(self, fam: Family, name: str, value: Any, where: str) -> Any:
        if name in fam.refs and value is not None:
            return self.resolve(self.spec.by_family.get(fam.refs[name]), value, f"{where}: field {name!r}")
        return value

    # -------------------------------------------------------------- references

    def stored(self, fam: Family, key: tuple, where: str) -> dict | None:
        """The stored record with `key` (None when the key names a record still to be made)."""
        if any(isinstance(k, Pending) for k in key):
            return None
        found = self.store.by_key(fam).get(key, [])
        if len(found) > 1:
            ids = ", ".join(str(r.get("id")) for r in found[:10])
            raise self.fail(f"{where}: {len(found)} {fam.command} records have this key (ids {ids}); apply cannot tell them apart")
        return found[0] if found else None

    def resolve(self, target: Family | None, value: Any, where: str) -> Any:
        """A reference in the file (the target's key form, or an id) as an id or a `Pending`."""
        if target is None:
            raise self.fail(f"{where}: names a family this installation does not have")
        if isinstance(value, int) and not isinstance(value, bool):
            if value in self.store.by_id(target):
                return value
            raise self.fail(f"{where}: no {target.command} with id {value}")
        if not target.key:
            raise self.fail(f"{where}: {target.command} records have no natural key; give the id")
        if not isinstance(value, dict):
            if len(target.key) > 1 or isinstance(value, (list, bool)):
                raise self.fail(f"{where}: expected a {target.command} key: a mapping of {', '.join(target.key)}")
            value = {target.key[0]: value}
        unknown = sorted(set(value) - set(target.key))
        missing = [k for k in target.key if value.get(k) in (None, "")]
        if unknown or missing:
            raise self.fail(f"{where}: a {target.command} is named by {', '.join(target.key)}"
                            + (f" (not {unknown[0]!r})" if unknown else f" ({missing[0]!r} is missing)"))
        key = tuple(self.resolve(self.spec.by_family.get(target.refs[k]), value[k], where) if k in target.refs
                    else normal(value[k], _kind(target, k)) for k in target.key)
        planned = self.planned.get(target.family, {})
        if key in planned:
            return planned[key]
        record = self.stored(target, key, where)
        if record is None:
            shown = label_of(value[target.key[0]] if len(target.key) == 1 else value)
            raise self.fail(f"{where}: no {target.command} {shown!r} in the installation or earlier in the file")
        return record.get("id")


def summary(changes: list[Change], dry_run: bool = False) -> str:
    """`3 created, 1 updated, 12 unchanged`, or `no changes`."""
    count = {a: sum(1 for c in changes if c.action == a) for a in ("create", "update", "unchanged")}
    if not count["create"] and not count["update"]:
        return "no changes" + (f" ({count['unchanged']} unchanged)" if count["unchanged"] else "")
    if dry_run:
        return f"{count['create']} to create, {count['update']} to update, {count['unchanged']} unchanged (dry run: nothing written)"
    return f"{count['create']} created, {count['update']} updated, {count['unchanged']} unchanged"

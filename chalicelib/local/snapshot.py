"""Persistence for the local stack: moto keeps nothing on disk, so tables, objects and the KMS
key material are written to `$OPSGRAT_HOME/snapshot/` and loaded back on the next start.

The cost of persisting grows with the changes, not with the data: `moto_patches` reports every
item and object write, and every `interval` seconds (2 by default) the `Snapshotter` reads the
current state of just those items and objects from moto's in-process backends and appends it to
a journal. The snapshot directory holds

    dynamodb/<table>.jsonl   the base: one item (DynamoDB JSON) a line
    s3/index.json, s3/<file> the base's objects ([{"key", "file"}]) and the objects' bytes
    kms.json                 the key id and material, so that old ciphertexts still decrypt
    journal.jsonl            the changes since the base, in order, one a line:
                             {"table", "key", "item"} or {"object", "file"} (null: deleted)

An object's file is named after a hash of its key and replaced whole (temporary file + rename)
when the object changes, so the base and the journal refer to the same file. A new base (a full
dump, written to a temporary directory and renamed into place) replaces the journal when it grows
longer than the base, and at every start, so the cost per change stays constant; unchanged
objects are hard-linked into the new base, not copied. Snapshots of older versions are a base
without a journal (with numbered object files), so they load as they are.

What a crash (kill -9, power loss) can lose: the changes of the last `interval` seconds (the
journal is fsynced at every flush; a torn last line is ignored), plus queued SQS messages and
running jobs, which are not persisted at all (the next start fails the jobs left unfinished).
"""
from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from aws_lambda_powertools import Logger
from moto.dynamodb.models import DynamoDBBackend, dynamodb_backends
from moto.dynamodb.models.dynamo_type import Item
from moto.dynamodb.models.table import Table
from moto.dynamodb.models.utilities import dynamo_json_dump
from moto.s3.models import FakeBucket, S3Backend, s3_backends

from chalicelib import aws, config
from chalicelib.local import moto_patches
from chalicelib.stack import STACK

logger = Logger(service="opsgrat-local")

#: a journal shorter than this is never replaced by a new base, however small the base
MIN_JOURNAL_LINES = 1000


def _table_names() -> list[str]:
    return [model.Meta.table_name for model in STACK.tables]


def _backends() -> tuple[DynamoDBBackend, S3Backend]:
    """moto's in-process backends holding the stack: those of the account that owns the stack's
    bucket (the one the stack's credentials map to), in the stack's region."""
    partition, account = s3_backends.bucket_accounts[STACK.bucket]
    return dynamodb_backends[account][config.region()], s3_backends[account][partition]


def _kms_key(stack=STACK):
    """The moto key object behind the installation's alias (in-process backend)."""
    from moto.kms.models import kms_backends

    ddb_region = aws.client("kms").meta.region_name
    for account_backends in kms_backends.values():
        backend = account_backends.get(ddb_region) if hasattr(account_backends, "get") else None
        if backend is None:
            continue
        for key in backend.keys.values():
            if stack.kms_alias in key.aliases:
                return backend, key
    return None, None


def _object_file(name: str) -> str:
    """The file of an object: one name per key, so a change replaces the file instead of adding one."""
    return hashlib.sha256(f"{STACK.bucket}/{name}".encode()).hexdigest()


def _table_items(table: Table) -> list[Item]:
    """Every item of a table. Call with writes paused; reads still add empty partitions to
    `table.items` (a defaultdict), hence the copy in one step before iterating."""
    entries = list(table.items.values())
    return [item for partition in entries for item in partition.values()] if table.range_key_attr else entries


def _object_bytes(bucket: FakeBucket, name: str) -> bytes | None:
    """The object's bytes, None when it does not exist. Call with writes paused: an overwrite
    closes the replaced object's buffer."""
    obj = bucket.keys.get(name)
    return None if obj is None else obj.value


def _write_durably(path: Path, data: bytes) -> None:
    """Whole or not at all (temporary file + rename), and on disk before anything refers to it."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as out:
        out.write(data)
        out.flush()
        os.fsync(out.fileno())
    os.replace(tmp, path)


def _fsync_dir(path: Path) -> None:
    """Make the entries just created or renamed in a directory durable."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _snapshot_dir(home: Path) -> Path | None:
    """The snapshot to load: `snapshot/`, or `snapshot.old/` after a crash between the two renames
    that put a new base in place (it is whole then: it is only deleted once `snapshot/` exists)."""
    for candidate in (home / "snapshot", home / "snapshot.old"):
        if candidate.exists():
            return candidate
    return None


def _journal(path: Path) -> Iterator[dict]:
    """The journaled changes in order. A line that does not parse was torn by a crash during a
    flush; it can only be the last one (every start writes a new base), so it ends the journal."""
    if not path.exists():
        return
    with open(path) as lines:
        for line in lines:
            try:
                yield json.loads(line)
            except ValueError:
                return


def restore(home: Path) -> bool:
    """Load the last snapshot (base, then journal) into freshly provisioned resources. Returns
    False when there is none. Writes straight into moto's backends: no HTTP, no batching."""
    source = _snapshot_dir(home)
    if source is None:
        return False
    ddb, s3 = _backends()
    tables = _table_names()
    for table in tables:
        path = source / "dynamodb" / f"{table}.jsonl"
        if path.exists():
            with open(path) as lines:
                for line in lines:
                    ddb.put_item(table, json.loads(line))
    index_file = source / "s3" / "index.json"
    objects = {entry["key"]: entry["file"] for entry in json.loads(index_file.read_text())} if index_file.exists() else {}
    for change in _journal(source / "journal.jsonl"):
        if "object" in change:
            objects[change["object"]] = change["file"]
        elif change["table"] in tables:
            if change["item"] is None:
                ddb.delete_item(change["table"], change["key"])
            else:
                ddb.put_item(change["table"], change["item"])
    for name, file in objects.items():  # resolved first, so that each object is read once
        if file is not None:
            s3.put_object(STACK.bucket, name, (source / "s3" / file).read_bytes())
    kms_file = source / "kms.json"
    if kms_file.exists():
        _restore_key(json.loads(kms_file.read_text()))
    return True


def _restore_key(saved: dict) -> None:
    """Give the provisioned key the saved id and material, so old ciphertexts decrypt."""
    backend, key = _kms_key()
    if key is None:
        return
    old_id, new_id = saved["key_id"], key.id
    key.key_material = base64.b64decode(saved["material"])
    if old_id != new_id:
        backend.keys.pop(new_id)
        key.id = old_id
        key.arn = key.arn.replace(new_id, old_id)
        for alias in key.aliases.values():
            alias.target_key_id = old_id
        backend.keys[old_id] = key


class Snapshotter(threading.Thread):
    """Persists the stack's changes every `interval` seconds when there are any, and once at stop.

    Create it after `restore()`: it persists the writes made from its creation on, and its first
    flush writes a new base of everything, so the journal starts empty, the writes of `restore()`
    need no journal line, and the object files `restore()` read can be linked into that base.
    """

    def __init__(self, home: Path, interval: float = 2.0):
        super().__init__(name="snapshotter", daemon=True)
        self.home = home
        self.interval = interval
        self._tables = frozenset(_table_names())
        self._items: set[tuple[str, str]] = set()  # (table, key as canonical JSON) changed since the last flush
        self._objects: set[str] = set()  # object keys changed since the last flush
        self._changes = threading.Lock()
        self._flushing = threading.Lock()
        self._halt = threading.Event()
        self._base_size: int | None = None  # items and objects in the base; None until this wrote one
        self._journal_lines = 0
        moto_patches.on_item_change(self._item_changed)
        moto_patches.on_object_change(self._object_changed)

    def _item_changed(self, table: str, key: dict) -> None:
        if table in self._tables:
            with self._changes:
                self._items.add((table, json.dumps(key, sort_keys=True)))

    def _object_changed(self, bucket: str, name: str) -> None:
        if bucket == STACK.bucket:
            with self._changes:
                self._objects.add(name)

    def _take_changes(self) -> tuple[set[tuple[str, str]], set[str]]:
        with self._changes:
            items, self._items = self._items, set()
            objects, self._objects = self._objects, set()
        return items, objects

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            try:
                self.flush()
            except Exception:  # noqa: BLE001 - the changes are kept and retried at the next flush
                logger.exception("snapshot flush failed")

    def flush(self) -> None:
        """Journal the changes since the last flush, or write a new base when one is due."""
        with self._flushing:
            items, objects = self._take_changes()
            try:
                if self._base_size is None or self._journal_lines > max(MIN_JOURNAL_LINES, self._base_size):
                    self._write_base(objects)
                else:
                    self._append(items, objects)
            except BaseException:
                with self._changes:
                    self._items |= items
                    self._objects |= objects
                raise

    def _append(self, items: set[tuple[str, str]], objects: set[str]) -> None:
        """One journal line per changed item and object, with its state now (read after the change)."""
        if not items and not objects:
            return
        ddb, s3 = _backends()
        bucket = s3.get_bucket(STACK.bucket)
        with moto_patches.writes_paused():
            lines = []
            for table, key_json in sorted(items):
                key = json.loads(key_json)
                item = ddb.get_item(table, key)
                lines.append(dynamo_json_dump({"table": table, "key": key,
                                               "item": None if item is None else item.to_json()["Attributes"]}))
            bodies = {name: _object_bytes(bucket, name) for name in sorted(objects)}
        target = self.home / "snapshot"
        for name, body in bodies.items():
            file = None
            if body is not None:  # a deleted object's file stays until the next base, which drops it
                file = _object_file(name)
                _write_durably(target / "s3" / file, body)
            lines.append(json.dumps({"object": name, "file": file}))
        if bodies:
            _fsync_dir(target / "s3")
        with open(target / "journal.jsonl", "a") as journal:
            journal.write("".join(line + "\n" for line in lines))
            journal.flush()
            os.fsync(journal.fileno())
        self._journal_lines += len(lines)

    def _write_base(self, changed_objects: set[str]) -> None:
        """A full dump with an empty journal, written aside and renamed into place.

        Every item and object is read now, after the changes were taken, so the changes need no
        journal line. An object that did not change since the last flush is hard-linked from the
        current snapshot: its file holds its current bytes (each flush rewrites the file of every
        changed object, and restore loaded the objects from those files).
        """
        ddb, s3 = _backends()
        target, tmp, old = self.home / "snapshot", self.home / "snapshot.tmp", self.home / "snapshot.old"
        shutil.rmtree(tmp, ignore_errors=True)
        (tmp / "dynamodb").mkdir(parents=True)
        (tmp / "s3").mkdir()
        size = 0
        for table_name in sorted(self._tables):
            with moto_patches.writes_paused():
                lines = [dynamo_json_dump(item.to_json()["Attributes"]) + "\n"
                         for item in _table_items(ddb.get_table(table_name))]
            _write_durably(tmp / "dynamodb" / f"{table_name}.jsonl", "".join(lines).encode())
            size += len(lines)
        bucket = s3.get_bucket(STACK.bucket)
        with moto_patches.writes_paused():
            names = list(bucket.keys)
        index = []
        for name in names:
            file = _object_file(name)
            current = target / "s3" / file
            if name not in changed_objects and current.exists():
                os.link(current, tmp / "s3" / file)
            else:
                with moto_patches.writes_paused():
                    body = _object_bytes(bucket, name)
                if body is None:  # deleted since the listing: the next flush journals it
                    continue
                _write_durably(tmp / "s3" / file, body)
            index.append({"key": name, "file": file})
        _write_durably(tmp / "s3" / "index.json", json.dumps(index).encode())
        _, key = _kms_key()
        if key is not None:
            _write_durably(tmp / "kms.json", json.dumps(
                {"key_id": key.id, "material": base64.b64encode(key.key_material).decode()}).encode())
        (tmp / "journal.jsonl").touch()
        for directory in (tmp / "dynamodb", tmp / "s3", tmp):
            _fsync_dir(directory)
        if target.exists():
            shutil.rmtree(old, ignore_errors=True)
            target.rename(old)
        tmp.rename(target)
        _fsync_dir(self.home)
        shutil.rmtree(old, ignore_errors=True)
        self._base_size, self._journal_lines = size + len(index), 0

    def stop(self) -> None:
        """Stop the thread (if it runs), flush the last changes and stop listening."""
        self._halt.set()
        if self.is_alive():
            self.join(timeout=30)
        try:
            self.flush()
        finally:
            moto_patches.remove_listener(self._item_changed)
            moto_patches.remove_listener(self._object_changed)

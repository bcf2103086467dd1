"""Persistence for the local stack: moto keeps nothing on disk, so tables, objects and the KMS
key material are written to `$OPSGRAT_HOME/snapshot/` and loaded back on the next start.

A snapshot is written to a temporary directory and renamed into place, so a crash during a write
leaves the previous snapshot whole. What a crash can lose: the writes since the last snapshot
(at most `interval` seconds, 2 by default, while the stack is busy).
"""
from __future__ import annotations

import base64
import json
import shutil
import threading
from pathlib import Path

from chalicelib import aws
from chalicelib.stack import STACK


def _table_names() -> list[str]:
    return [model.Meta.table_name for model in STACK.tables]


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


def save(home: Path) -> None:
    target = home / "snapshot"
    tmp = home / "snapshot.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    (tmp / "dynamodb").mkdir(parents=True)
    (tmp / "s3").mkdir(parents=True)
    ddb = aws.client("dynamodb")
    for table in _table_names():
        with open(tmp / "dynamodb" / f"{table}.jsonl", "w") as out:
            for page in ddb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    out.write(json.dumps(item) + "\n")
    s3 = aws.client("s3")
    index = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=STACK.bucket):
        for n, obj in enumerate(page.get("Contents", [])):
            name = f"{len(index):08d}"
            body = s3.get_object(Bucket=STACK.bucket, Key=obj["Key"])["Body"].read()
            (tmp / "s3" / name).write_bytes(body)
            index.append({"key": obj["Key"], "file": name})
    (tmp / "s3" / "index.json").write_text(json.dumps(index))
    _, key = _kms_key()
    if key is not None:
        (tmp / "kms.json").write_text(json.dumps({"key_id": key.id, "material": base64.b64encode(key.key_material).decode()}))
    old = home / "snapshot.old"
    shutil.rmtree(old, ignore_errors=True)
    if target.exists():
        target.rename(old)
    tmp.rename(target)
    shutil.rmtree(old, ignore_errors=True)


def restore(home: Path) -> bool:
    """Load the last snapshot into freshly provisioned resources. Returns False when none exists."""
    source = home / "snapshot"
    if not source.exists():
        return False
    ddb = aws.client("dynamodb")
    for table in _table_names():
        path = source / "dynamodb" / f"{table}.jsonl"
        if not path.exists():
            continue
        batch = []
        with open(path) as lines:
            for line in lines:
                batch.append({"PutRequest": {"Item": json.loads(line)}})
                if len(batch) == 25:
                    _write(ddb, table, batch)
                    batch = []
        if batch:
            _write(ddb, table, batch)
    index_file = source / "s3" / "index.json"
    if index_file.exists():
        s3 = aws.client("s3")
        for entry in json.loads(index_file.read_text()):
            s3.put_object(Bucket=STACK.bucket, Key=entry["key"], Body=(source / "s3" / entry["file"]).read_bytes())
    kms_file = source / "kms.json"
    if kms_file.exists():
        _restore_key(json.loads(kms_file.read_text()))
    return True


def _write(ddb, table: str, batch: list) -> None:
    pending = {table: batch}
    while pending:
        pending = ddb.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


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
    """Writes a snapshot every `interval` seconds when something changed, and once at stop."""

    def __init__(self, home: Path, interval: float = 2.0):
        super().__init__(name="snapshotter", daemon=True)
        self.home = home
        self.interval = interval
        self.dirty = threading.Event()
        self._halt = threading.Event()
        self._lock = threading.Lock()

    def mark_dirty(self, *args, **kwargs) -> None:
        self.dirty.set()

    def run(self) -> None:
        while not self._halt.wait(self.interval):
            if self.dirty.is_set():
                self.flush()

    def flush(self) -> None:
        with self._lock:
            self.dirty.clear()
            save(self.home)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=30)
        self.flush()

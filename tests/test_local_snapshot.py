"""The local stack's incremental persistence (chalicelib/local/snapshot.py): a base plus a journal
of the changes that moto_patches reports, restored into freshly provisioned resources."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from chalicelib import aws
from chalicelib.local import moto_patches, snapshot
from chalicelib.models import Record
from chalicelib.services import (
    catalog,  # noqa: F401  (registers the resource families)
    store,
)
from chalicelib.services.resources import get
from chalicelib.stack import STACK

RECORDS = Record.Meta.table_name


def _put_record(family: str, id_: int, body: str = "{}") -> None:
    aws.client("dynamodb").put_item(TableName=RECORDS, Item={
        "family": {"S": family}, "id": {"N": str(id_)}, "body": {"S": body}, "version": {"N": "1"}})


def _delete_record(family: str, id_: int) -> None:
    aws.client("dynamodb").delete_item(TableName=RECORDS, Key={"family": {"S": family}, "id": {"N": str(id_)}})


def _put_object(key: str, body: bytes) -> None:
    aws.client("s3").put_object(Bucket=STACK.bucket, Key=key, Body=body)


def _state() -> tuple[dict, dict]:
    """Every item of every stack table and every object of the stack's bucket, over the API."""
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    tables = {}
    for table in snapshot._table_names():
        items = [item for page in ddb.get_paginator("scan").paginate(TableName=table) for item in page["Items"]]
        tables[table] = sorted(items, key=lambda item: json.dumps(item, sort_keys=True, default=str))
    objects = {}
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=STACK.bucket):
        for obj in page.get("Contents", []):
            objects[obj["Key"]] = s3.get_object(Bucket=STACK.bucket, Key=obj["Key"])["Body"].read()
    return tables, objects


def _fresh_stack() -> None:
    """What a new start sees before restoring: empty, freshly provisioned resources (a new KMS key too)."""
    from moto.core.base_backend import BackendDict

    from chalicelib.local.provision import provision

    BackendDict.reset()
    aws.reset()
    provision()


def _journal(home: Path) -> list[dict]:
    return [json.loads(line) for line in (home / "snapshot" / "journal.jsonl").read_text().splitlines()]


@pytest.fixture
def snapshotter(aws_mock, tmp_path):
    """A Snapshotter whose first flush has written the base of the seeded stack."""
    snap = snapshot.Snapshotter(tmp_path)
    snap.flush()
    yield snap
    snap.stop()


def test_every_kind_of_write_reports_the_key_it_changed(aws_mock):
    items, objects = [], []

    def item_changed(table: str, key: dict) -> None:
        items.append((table, key))

    def object_changed(bucket: str, key: str) -> None:
        objects.append((bucket, key))

    moto_patches.on_item_change(item_changed)
    moto_patches.on_object_change(object_changed)
    try:
        ddb, s3 = aws.client("dynamodb"), aws.client("s3")
        team = store.create(get("team"), {"name": "reported", "description": ""})  # a transaction
        assert (RECORDS, {"family": {"S": "team"}, "id": {"N": str(team["id"])}}) in items
        items.clear()
        ddb.batch_write_item(RequestItems={RECORDS: [
            {"PutRequest": {"Item": {"family": {"S": "x"}, "id": {"N": "1"}}}},
            {"DeleteRequest": {"Key": {"family": {"S": "x"}, "id": {"N": "2"}}}}]})
        ddb.update_item(TableName=RECORDS, Key={"family": {"S": "x"}, "id": {"N": "1"}},
                        UpdateExpression="SET body = :b", ExpressionAttributeValues={":b": {"S": "{}"}})
        assert items == [(RECORDS, {"family": {"S": "x"}, "id": {"N": "1"}}),
                         (RECORDS, {"family": {"S": "x"}, "id": {"N": "2"}}),
                         (RECORDS, {"family": {"S": "x"}, "id": {"N": "1"}})]
        s3.put_object(Bucket=STACK.bucket, Key="a", Body=b"a")
        s3.copy_object(Bucket=STACK.bucket, Key="b", CopySource={"Bucket": STACK.bucket, "Key": "a"})
        upload = s3.create_multipart_upload(Bucket=STACK.bucket, Key="c")["UploadId"]
        part = s3.upload_part(Bucket=STACK.bucket, Key="c", UploadId=upload, PartNumber=1, Body=b"c")
        s3.complete_multipart_upload(Bucket=STACK.bucket, Key="c", UploadId=upload,
                                     MultipartUpload={"Parts": [{"ETag": part["ETag"], "PartNumber": 1}]})
        s3.delete_object(Bucket=STACK.bucket, Key="a")
        s3.delete_objects(Bucket=STACK.bucket, Delete={"Objects": [{"Key": "b"}, {"Key": "c"}]})
        assert objects == [(STACK.bucket, key) for key in ("a", "b", "c", "a", "b", "c")]
    finally:
        moto_patches.remove_listener(item_changed)
        moto_patches.remove_listener(object_changed)


def test_a_flush_journals_only_the_items_and_objects_that_changed(snapshotter, tmp_path, monkeypatch):
    _put_record("x", 1)
    _put_record("x", 2)
    _put_object("unchanged", b"same")
    _put_object("changed", b"old")
    snapshotter.flush()
    before = len(_journal(tmp_path))
    written: list[str] = []
    write = snapshot._write_durably
    monkeypatch.setattr(snapshot, "_write_durably", lambda path, data: (written.append(path.name), write(path, data)))

    _put_record("x", 2, body='{"a": 1}')
    _put_object("changed", b"new")
    snapshotter.flush()

    added = _journal(tmp_path)[before:]
    assert sorted(added, key=json.dumps) == sorted([
        {"table": RECORDS, "key": {"family": {"S": "x"}, "id": {"N": "2"}},
         "item": {"family": {"S": "x"}, "id": {"N": "2"}, "body": {"S": '{"a": 1}'}, "version": {"N": "1"}}},
        {"object": "changed", "file": snapshot._object_file("changed")},
    ], key=json.dumps)
    assert written == [snapshot._object_file("changed")]
    assert (tmp_path / "snapshot" / "s3" / snapshot._object_file("changed")).read_bytes() == b"new"


def test_a_flush_without_changes_writes_nothing(snapshotter, tmp_path):
    _put_record("x", 1)
    snapshotter.flush()
    journal = (tmp_path / "snapshot" / "journal.jsonl").read_bytes()
    snapshotter.flush()
    assert (tmp_path / "snapshot" / "journal.jsonl").read_bytes() == journal


def test_deletes_are_journaled_and_replayed(aws_mock, tmp_path):
    _put_record("x", 1)
    _put_object("gone", b"bytes")
    snap = snapshot.Snapshotter(tmp_path)
    snap.flush()  # the base holds both
    _put_record("x", 2)
    snap.flush()

    _delete_record("x", 1)
    _delete_record("x", 2)
    aws.client("s3").delete_object(Bucket=STACK.bucket, Key="gone")
    snap.stop()

    assert sorted(_journal(tmp_path)[1:], key=json.dumps) == sorted([
        {"table": RECORDS, "key": {"family": {"S": "x"}, "id": {"N": "1"}}, "item": None},
        {"table": RECORDS, "key": {"family": {"S": "x"}, "id": {"N": "2"}}, "item": None},
        {"object": "gone", "file": None}], key=json.dumps)
    expected = _state()
    assert "gone" not in expected[1]
    _fresh_stack()
    assert snapshot.restore(tmp_path)
    assert _state() == expected


def test_restoring_the_base_and_the_journal_reproduces_every_table_and_object(snapshotter, tmp_path):
    kept = store.create(get("team"), {"name": "kept", "description": ""})
    dropped = store.create(get("team"), {"name": "dropped", "description": ""})
    _put_object("first", b"\x00\x01binary")
    snapshotter.flush()
    store.update(get("team"), kept, {**kept, "description": "updated"})
    store.delete(get("team"), dropped)
    _put_object("first", b"replaced")
    _put_object("second", b"2" * 100_000)
    snapshotter.stop()
    expected = _state()
    assert len(_journal(tmp_path)) >= 7  # no new base: the journal holds every change

    _fresh_stack()
    assert snapshot.restore(tmp_path)
    assert _state() == expected
    assert store.get("team", kept["id"])["description"] == "updated"


def test_a_torn_last_journal_line_is_ignored(snapshotter, tmp_path):
    _put_record("x", 1)
    _put_object("kept", b"kept")
    snapshotter.stop()
    expected = _state()
    with open(tmp_path / "snapshot" / "journal.jsonl", "a") as journal:
        journal.write(f'{{"table": "{RECORDS}", "key": {{"family": {{"S": "x"}}, "id": {{"N": "1"}}}}, "item": nu')

    _fresh_stack()
    assert snapshot.restore(tmp_path)
    assert _state() == expected


def test_a_long_journal_is_replaced_by_a_new_base_that_restores_the_same(snapshotter, tmp_path, monkeypatch):
    _put_object("unchanged", b"same")
    _put_object("changed", b"old")
    snapshotter.flush()
    unchanged = tmp_path / "snapshot" / "s3" / snapshot._object_file("unchanged")
    inode = unchanged.stat().st_ino
    monkeypatch.setattr(snapshot, "MIN_JOURNAL_LINES", 0)
    bulk = snapshotter._base_size + 1
    for id_ in range(bulk):
        _put_record("bulk", id_)
    snapshotter.flush()
    assert len(_journal(tmp_path)) > snapshotter._base_size

    _delete_record("bulk", 0)
    _put_object("changed", b"new")
    snapshotter.flush()  # the journal is longer than the base: this writes a new base instead

    assert _journal(tmp_path) == []
    base = (tmp_path / "snapshot" / "dynamodb" / f"{RECORDS}.jsonl").read_text().splitlines()
    assert sum('"bulk"' in line for line in base) == bulk - 1
    assert unchanged.stat().st_ino == inode  # linked into the new base, not copied
    assert (tmp_path / "snapshot" / "s3" / snapshot._object_file("changed")).read_bytes() == b"new"
    expected = _state()
    snapshotter.stop()
    _fresh_stack()
    assert snapshot.restore(tmp_path)
    assert _state() == expected


def test_a_restart_starts_from_a_new_base_and_an_empty_journal(snapshotter, tmp_path):
    _put_record("x", 1)
    _put_object("kept", b"kept")
    snapshotter.stop()
    expected = _state()
    assert _journal(tmp_path)

    _fresh_stack()
    snapshot.restore(tmp_path)
    restarted = snapshot.Snapshotter(tmp_path)  # as the local stack does: after restoring
    restarted.flush()
    restarted.flush()
    restarted.stop()

    assert _journal(tmp_path) == []
    _fresh_stack()
    assert snapshot.restore(tmp_path)
    assert _state() == expected


def test_a_crash_between_the_renames_of_a_new_base_restores_the_previous_snapshot(snapshotter, tmp_path):
    _put_record("x", 1)
    snapshotter.stop()
    expected = _state()
    (tmp_path / "snapshot").rename(tmp_path / "snapshot.old")

    _fresh_stack()
    assert snapshot.restore(tmp_path)
    assert _state() == expected


def _save_in_the_old_format(home: Path) -> None:
    """The snapshot layout of earlier versions: a full dump with numbered object files, no journal."""
    target = home / "snapshot"
    (target / "dynamodb").mkdir(parents=True)
    (target / "s3").mkdir()
    ddb, s3 = aws.client("dynamodb"), aws.client("s3")
    for table in snapshot._table_names():
        with open(target / "dynamodb" / f"{table}.jsonl", "w") as out:
            for page in ddb.get_paginator("scan").paginate(TableName=table):
                for item in page["Items"]:
                    out.write(json.dumps(item) + "\n")
    index = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=STACK.bucket):
        for obj in page.get("Contents", []):
            name = f"{len(index):08d}"
            (target / "s3" / name).write_bytes(s3.get_object(Bucket=STACK.bucket, Key=obj["Key"])["Body"].read())
            index.append({"key": obj["Key"], "file": name})
    (target / "s3" / "index.json").write_text(json.dumps(index))
    _, key = snapshot._kms_key()
    (target / "kms.json").write_text(json.dumps({"key_id": key.id, "material": base64.b64encode(key.key_material).decode()}))


def test_a_snapshot_in_the_old_format_restores_and_converts(aws_mock, tmp_path):
    team = store.create(get("team"), {"name": "old", "description": ""})
    _put_object("archive", b"old bytes")
    secret = aws.client("kms").encrypt(KeyId=STACK.kms_alias, Plaintext=b"secret")["CiphertextBlob"]
    _save_in_the_old_format(tmp_path)
    expected = _state()

    _fresh_stack()
    assert snapshot.restore(tmp_path)
    assert _state() == expected
    assert store.get("team", team["id"])["name"] == "old"
    assert aws.client("kms").decrypt(CiphertextBlob=secret)["Plaintext"] == b"secret"

    converted = snapshot.Snapshotter(tmp_path)
    converted.flush()
    converted.stop()
    assert not (tmp_path / "snapshot" / "s3" / "00000000").exists()
    _fresh_stack()
    assert snapshot.restore(tmp_path)
    assert _state() == expected
    assert aws.client("kms").decrypt(CiphertextBlob=secret)["Plaintext"] == b"secret"

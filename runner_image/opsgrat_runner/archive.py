"""Unpack an archive project (project_type `archive`) into the job's project directory.

The archive comes from the artifacts bucket, where the API stored it after its checks
(`chalicelib.services.archives`). The runner does not trust that: the same checks run again on
the bytes it downloaded, the sha256 must be the project's revision, and the unpacking itself
refuses what could leave the directory: tar members go through tarfile's `data` filter (no
absolute or `..` paths, no links out, no special files, no setuid bits, resolved against the
directory on disk); zip members are written one by one to a path checked the same way, reading
no more than each header declares (a zip whose data is longer than it says is refused), and
links are made last, each only if it resolves inside the directory.
"""
from __future__ import annotations

import io
import os
import stat
import tarfile
import zipfile
import zlib

from chalicelib.services import archives
from chalicelib.services.errors import ValidationError

_CHUNK = 1 << 16


class ArchiveError(RuntimeError):
    """The archive cannot be unpacked; the message says why."""


def download(project_id: int, sha256: str) -> bytes:
    from chalicelib import aws
    from chalicelib.stack import STACK

    try:
        return aws.client("s3").get_object(Bucket=STACK.bucket, Key=archives.object_key(project_id, sha256))["Body"].read()
    except Exception as exc:  # noqa: BLE001 - a missing object or an S3 error: the sync fails saying so
        raise ArchiveError(f"the archive {sha256} could not be read from the bucket: {exc}") from None


def _inside(root: str, path: str) -> bool:
    return os.path.commonpath([root, os.path.realpath(path)]) == root


def unpack(data: bytes, dest: str, sha256: str | None = None) -> archives.Checked:
    """Check ``data`` and unpack it into ``dest`` (which exists and is empty)."""
    try:
        checked = archives.check(data)
    except ValidationError as exc:
        raise ArchiveError(str(exc)) from None
    if sha256 and checked.sha256 != sha256:
        raise ArchiveError(f"archive: the stored archive's sha256 is {checked.sha256}, not the project's {sha256}")
    root = os.path.realpath(dest)
    try:
        if checked.kind == "tar.gz":
            with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
                tar.extractall(root, filter="data")
        else:
            _unzip(data, root)
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError) as exc:
        raise ArchiveError(f"archive: cannot be unpacked: {exc}") from None
    return checked


def _unzip(data: bytes, root: str) -> None:
    written = 0
    links: list[tuple[str, str]] = []
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        for info in archive.infolist():
            name = archives.member_path(info.filename)
            if not name:
                continue
            path = os.path.join(root, *name.split("/"))
            if not _inside(root, os.path.dirname(path)):
                raise ArchiveError(f"archive: member {info.filename!r} would leave the project directory")
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                with archive.open(info) as handle:
                    links.append((path, handle.read(archives.MAX_LINK_TARGET + 1).decode("utf-8")))
                continue
            if info.is_dir():
                os.makedirs(path, mode=0o755, exist_ok=True)
                continue
            os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
            if os.path.lexists(path):
                raise ArchiveError(f"archive: member {info.filename!r} appears twice")
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                         0o755 if mode & 0o100 else 0o644)
            with os.fdopen(fd, "wb") as out, archive.open(info) as src:
                size = 0
                while chunk := src.read(_CHUNK):
                    size += len(chunk)
                    written += len(chunk)
                    if size > info.file_size or written > archives.MAX_UNPACKED_BYTES:
                        raise ArchiveError(f"archive: member {info.filename!r} holds more than its header declares")
                    out.write(chunk)
    for path, target in links:
        resolved = os.path.join(os.path.dirname(path), target)
        if os.path.isabs(target) or not _inside(root, resolved):
            raise ArchiveError(f"archive: link {os.path.relpath(path, root)!r} -> {target!r} points outside the project")
        os.makedirs(os.path.dirname(path), mode=0o755, exist_ok=True)
        os.symlink(target, path)

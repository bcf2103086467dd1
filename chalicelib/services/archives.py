"""Archive projects: the checks a `.tar.gz` or `.zip` of playbooks passes before it is stored,
and again before the runner unpacks it (defence in depth: the runner never trusts the bucket).

The checks read headers only (the tar headers as the gzip stream goes by, the zip central
directory), never extract, and stop at the first limit passed:

* at most `MAX_ARCHIVE_BYTES` compressed (the request body limit: a Lambda event is at most 6 MB,
  and a binary body arrives base64-encoded, 4/3 of its size), `MAX_UNPACKED_BYTES` unpacked
  (the sizes the headers declare; the runner also counts what it really writes) and
  `MAX_MEMBERS` members;
* member paths relative and inside the project: no absolute path, no `..` component, no NUL,
  none that passes through a symbolic link of the archive;
* symbolic and hard links only to a path inside the project (relative, resolved lexically);
* regular files, directories and links only: no device files, fifos or other tar types.

A refusal is a ValidationError naming `archive`, so the upload answers 400 saying what to change.
"""
from __future__ import annotations

import hashlib
import io
import posixpath
import stat
import tarfile
import zipfile
from dataclasses import dataclass

from chalicelib.services import limits
from chalicelib.services.errors import ValidationError

MAX_ARCHIVE_BYTES = limits.MAX_BODY_BYTES
MAX_UNPACKED_BYTES = 64 * 1024 * 1024
MAX_MEMBERS = 10_000
#: a zip's symbolic link stores its target as the member's data; more than this is no path
MAX_LINK_TARGET = 4096

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGICS = (b"PK\x03\x04", b"PK\x05\x06")  # a local file header; an empty archive's end record


@dataclass(frozen=True)
class Member:
    """One entry of an archive, as its header tells it."""

    name: str  # normalised: relative, "/"-separated, no "./" or trailing "/"
    kind: str  # "file", "dir", "symlink" or "hardlink"
    size: int = 0
    target: str = ""  # a link's target (a hard link's: a path from the archive's root)


@dataclass(frozen=True)
class Checked:
    kind: str  # "tar.gz" or "zip"
    sha256: str
    members: tuple[Member, ...]
    unpacked: int


def refuse(text: str) -> ValidationError:
    return ValidationError("archive", text)


def kind_of(data: bytes) -> str:
    """`tar.gz` or `zip`, by the magic bytes; a 400 for anything else."""
    if data.startswith(GZIP_MAGIC):
        return "tar.gz"
    if data.startswith(ZIP_MAGICS):
        return "zip"
    raise refuse("not a .tar.gz or .zip archive (upload the archive's bytes as the request body)")


def member_path(raw: str) -> str:
    """A member's path, normalised; a 400 for one that is absolute or leaves the project."""
    if "\x00" in raw:
        raise refuse(f"member {raw!r}: NUL in the path")
    if raw.startswith(("/", "\\")) or (len(raw) > 1 and raw[1] == ":" and raw[0].isalpha()):
        raise refuse(f"member {raw!r}: absolute paths are refused")
    parts = [p for p in raw.replace("\\", "/").split("/") if p not in ("", ".")]
    if ".." in parts:
        raise refuse(f"member {raw!r}: paths with '..' are refused")
    return "/".join(parts)


def _inside(name: str, target: str, hard: bool, links: set[str]) -> str:
    """A link's target resolved lexically from the project root; a 400 if it leaves it, or if
    the way there passes through a symbolic link of the archive (where a `..` after that link
    would be resolved from the link's target, not lexically: `b -> .` and `c -> b/../x`)."""
    if not target or "\x00" in target:
        raise refuse(f"link {name!r}: empty target")
    if target.startswith(("/", "\\")):
        raise refuse(f"link {name!r} -> {target!r}: absolute link targets are refused")
    parts = [] if hard else name.split("/")[:-1]
    steps = [p for p in target.replace("\\", "/").split("/") if p not in ("", ".")]
    for index, step in enumerate(steps):
        if step == "..":
            if not parts:
                raise refuse(f"link {name!r} -> {target!r} points outside the project")
            parts.pop()
            continue
        parts.append(step)
        if index < len(steps) - 1 and "/".join(parts) in links:
            raise refuse(f"link {name!r} -> {target!r} passes through the symbolic link {'/'.join(parts)!r}")
    return "/".join(parts) or "."


def _tar_members(data: bytes) -> list[Member]:
    out: list[Member] = []
    total = 0
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r|gz") as tar:  # a stream: headers in order
            for info in tar:
                if len(out) >= MAX_MEMBERS:
                    raise refuse(f"more than {MAX_MEMBERS:,} members")
                name = member_path(info.name)
                if not name and info.isdir():  # the archive's own root, "./"
                    continue
                if not name:
                    raise refuse(f"member {info.name!r}: no path")
                if info.isreg():
                    total += info.size
                    if total > MAX_UNPACKED_BYTES:
                        raise refuse(f"unpacks to more than {MAX_UNPACKED_BYTES:,} bytes")
                    out.append(Member(name, "file", info.size))
                elif info.isdir():
                    out.append(Member(name, "dir"))
                elif info.issym():
                    out.append(Member(name, "symlink", target=info.linkname))
                elif info.islnk():
                    out.append(Member(name, "hardlink", target=info.linkname))
                else:
                    raise refuse(f"member {info.name!r}: device files, fifos and other special files are refused")
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - tarfile and gzip on hostile bytes raise many kinds (TypeError too)
        raise refuse(f"not a readable .tar.gz archive: {type(exc).__name__}: {exc}") from None
    return out


def _zip_members(data: bytes) -> list[Member]:
    out: list[Member] = []
    total = 0
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            infos = archive.infolist()
            if len(infos) > MAX_MEMBERS:
                raise refuse(f"more than {MAX_MEMBERS:,} members")
            for info in infos:
                name = member_path(info.filename)
                if not name and info.is_dir():
                    continue
                if not name:
                    raise refuse(f"member {info.filename!r}: no path")
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode):
                    if info.file_size > MAX_LINK_TARGET:
                        raise refuse(f"link {info.filename!r}: target longer than {MAX_LINK_TARGET} bytes")
                    with archive.open(info) as handle:
                        target = handle.read(MAX_LINK_TARGET + 1).decode("utf-8")
                    out.append(Member(name, "symlink", target=target))
                elif info.is_dir():
                    out.append(Member(name, "dir"))
                elif mode and not stat.S_ISREG(mode) and stat.S_IFMT(mode):
                    raise refuse(f"member {info.filename!r}: device files, fifos and other special files are refused")
                else:
                    total += info.file_size
                    if total > MAX_UNPACKED_BYTES:
                        raise refuse(f"unpacks to more than {MAX_UNPACKED_BYTES:,} bytes")
                    out.append(Member(name, "file", info.file_size))
    except ValidationError:
        raise
    except Exception as exc:  # noqa: BLE001 - zipfile and zlib on hostile bytes raise many kinds
        raise refuse(f"not a readable .zip archive: {type(exc).__name__}: {exc}") from None
    return out


def check(data: bytes) -> Checked:
    """The archive's format, sha256 and members, when it passes every check; a 400 otherwise."""
    if len(data) > MAX_ARCHIVE_BYTES:
        raise refuse(f"{len(data):,} bytes is more than the {MAX_ARCHIVE_BYTES:,} an archive may have")
    kind = kind_of(data)
    members = _tar_members(data) if kind == "tar.gz" else _zip_members(data)
    links = {m.name for m in members if m.kind == "symlink"}
    for member in members:
        parts = member.name.split("/")
        through = next((posixpath.join(*parts[:i]) for i in range(1, len(parts))
                        if posixpath.join(*parts[:i]) in links), None)
        if through:
            raise refuse(f"member {member.name!r} lies under the symbolic link {through!r}")
        if member.kind == "symlink":
            _inside(member.name, member.target, hard=False, links=links)
        elif member.kind == "hardlink":
            resolved = _inside(member.name, member.target, hard=True, links=links)
            if resolved in links or resolved == ".":
                raise refuse(f"hard link {member.name!r} -> {member.target!r} must name a regular file")
    return Checked(kind, hashlib.sha256(data).hexdigest(), tuple(members),
                   sum(m.size for m in members if m.kind == "file"))


def object_key(project_id: int, sha256: str) -> str:
    """Where an accepted archive is kept in the artifacts bucket (by content: an upload of the
    same bytes again is the same object)."""
    return f"projects/{int(project_id)}/{sha256}"


def upload(principal, project_id, data: bytes) -> dict:
    """Store an accepted archive as the project's content and sync the project: the sync job.

    Needs write on the project (it replaces what every job of the project runs); the project
    must be an `archive` project. A refused archive changes nothing: it is checked before
    anything is stored, and the revision is set only once the object is in the bucket.
    """
    from chalicelib import aws
    from chalicelib.services import crud, launch, rbac, store
    from chalicelib.services.catalog.project import PROJECTS
    from chalicelib.services.jobs import JobKind
    from chalicelib.stack import STACK

    rec = crud.load(PROJECTS, project_id)
    rbac.require(principal, PROJECTS, rec, "write")
    if rec.get("project_type") != "archive":
        raise ValidationError("project_type", f'only archive projects take an upload; this one is "{rec.get("project_type")}"')
    checked = check(data)
    aws.client("s3").put_object(Bucket=STACK.bucket, Key=object_key(rec["id"], checked.sha256), Body=data,
                                ContentType="application/gzip" if checked.kind == "tar.gz" else "application/zip")

    def set_revision(current: dict) -> None:
        current["revision"] = checked.sha256

    store.mutate(PROJECTS, rec["id"], set_revision, current=rec)
    from chalicelib.services import activity

    activity.record(principal, activity.Action.UPDATE, "project", rec["id"], rec.get("name"),
                    {"revision": checked.sha256, "archive": checked.kind})
    return launch.launch_sync(principal, JobKind.PROJECT_UPDATE, rec["id"])

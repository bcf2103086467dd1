"""Archive projects (in-process): the checks of `chalicelib.services.archives`, the upload route
(`POST /api/project/project/{id}/upload/`), the runner's unpacking of the same archives, and the
save-time checks of the svn / archive / git-pin fields of a project."""
from __future__ import annotations

import hashlib
import io
import itertools
import os
import tarfile
import zipfile

import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.services import archives
from chalicelib.stack import STACK
from runner_image.opsgrat_runner import archive as runner_archive

URL = "/api/project/project/"
PLAYBOOK = b"- hosts: all\n  gather_facts: false\n  tasks:\n    - ansible.builtin.debug: {msg: hi}\n"


def tar_gz(*members: tuple) -> bytes:
    """(name, kind, payload): kind file (payload bytes), dir, symlink / hardlink (payload: target), fifo."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE}[kind]
            info.linkname = payload or ""
            tar.addfile(info)
    return buffer.getvalue()


def zip_of(*members: tuple) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, kind, payload in members:
            if kind == "symlink":
                info = zipfile.ZipInfo(name)
                info.external_attr = (0o120777 << 16)
                archive.writestr(info, payload)
            else:
                archive.writestr(name, payload)
    return buffer.getvalue()


def big_tar_gz(size: int) -> bytes:
    """A gzip bomb: one member of `size` zero bytes, a few KiB compressed."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", compresslevel=1) as tar:
        info = tarfile.TarInfo("big.bin")
        info.size = size
        tar.addfile(info, _Zeros(size))
    return buffer.getvalue()


class _Zeros(io.RawIOBase):
    def __init__(self, size: int):
        self.left = size

    def read(self, n: int = -1) -> bytes:
        n = self.left if n < 0 else min(n, self.left)
        self.left -= n
        return bytes(n)


def big_zip(size: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        with archive.open("big.bin", "w", force_zip64=True) as out:
            chunk = bytes(1 << 20)
            for _ in range(size // len(chunk)):
                out.write(chunk)
    return buffer.getvalue()


GOOD_TAR = tar_gz(("./", "dir", None), ("site.yml", "file", PLAYBOOK), ("roles/web/tasks/main.yml", "file", b"[]\n"),
                  ("current.yml", "symlink", "site.yml"), ("copy.yml", "hardlink", "site.yml"))
GOOD_ZIP = zip_of(("site.yml", "file", PLAYBOOK), ("sub/", "dir", b""), ("sub/other.yml", "file", PLAYBOOK),
                  ("sub/up.yml", "symlink", "../site.yml"))

#: one archive per refusal, and a word the 400's detail must hold
REFUSED = {
    "dotdot_path": (tar_gz(("site.yml", "file", PLAYBOOK), ("../evil.yml", "file", b"x")), "'..'"),
    "dotdot_inside_path": (zip_of(("a/../../evil.yml", "file", b"x")), "'..'"),
    "absolute_path": (tar_gz(("/etc/cron.d/evil", "file", b"x")), "absolute"),
    "absolute_zip_path": (zip_of(("/tmp/evil", "file", b"x")), "absolute"),
    "symlink_out": (tar_gz(("out", "symlink", "../../etc/passwd")), "outside"),
    "absolute_symlink": (tar_gz(("out", "symlink", "/etc/passwd")), "absolute"),
    "zip_symlink_out": (zip_of(("out", "symlink", "../x")), "outside"),
    "hardlink_out": (tar_gz(("h", "hardlink", "../etc/shadow")), "outside"),
    "member_under_a_symlink": (tar_gz(("d", "symlink", "."), ("d/x.yml", "file", b"x")), "symbolic link"),
    "link_through_a_link": (tar_gz(("b", "symlink", "."), ("c", "symlink", "b/../x")), "passes through"),
    "fifo": (tar_gz(("pipe", "fifo", None)), "special"),
    "bomb_tar_over_unpacked_limit": (big_tar_gz(archives.MAX_UNPACKED_BYTES + 1), "unpacks to more than"),
    "bomb_zip_over_unpacked_limit": (big_zip(archives.MAX_UNPACKED_BYTES + (1 << 20)), "unpacks to more than"),
    "too_many_members": (zip_of(*[(f"f{i}", "file", b"") for i in range(archives.MAX_MEMBERS + 1)]), "members"),
    "over_compressed_limit": (archives.GZIP_MAGIC + os.urandom(archives.MAX_ARCHIVE_BYTES), "more than the"),
    "not_an_archive": (b"just some text, not an archive\n", "not a .tar.gz or .zip"),
    "corrupt_gzip": (archives.GZIP_MAGIC + b"\x08\x00garbage" * 10, "not a readable .tar.gz"),
}


_names = itertools.count()


@pytest.fixture(scope="module")
def api():
    """One moto stack and admin client for the module: every test makes its own records."""
    from tests.conftest import Api, moto_stack

    with moto_stack():
        from app import app
        from chalicelib.services import auth

        _, token = auth.ensure_superuser("admin")
        with Client(app) as client:
            yield Api(client, token)


def name(prefix: str) -> str:
    return f"{prefix}{next(_names)}"


@pytest.fixture
def archive_project(api):
    r = api.post(URL, {"name": name("archived"), "project_type": "archive"})
    assert r.status_code == 201, r.body
    return r.data


def stored(project_id: int) -> list[str]:
    listing = aws.client("s3").list_objects_v2(Bucket=STACK.bucket, Prefix=f"projects/{project_id}/")
    return [o["Key"] for o in listing.get("Contents", [])]


# ---------------------------------------------------------------- the checks, without HTTP


def test_a_good_tar_gz_passes_with_its_members():
    checked = archives.check(GOOD_TAR)
    assert checked.kind == "tar.gz" and checked.sha256 == hashlib.sha256(GOOD_TAR).hexdigest()
    assert {m.name for m in checked.members} == {"site.yml", "roles/web/tasks/main.yml", "current.yml", "copy.yml"}


def test_a_good_zip_passes_with_its_symlink():
    checked = archives.check(GOOD_ZIP)
    assert checked.kind == "zip"
    assert [m for m in checked.members if m.kind == "symlink"] == [archives.Member("sub/up.yml", "symlink",
                                                                                   target="../site.yml")]


@pytest.mark.parametrize("case", sorted(REFUSED))
def test_a_refused_archive_names_the_archive_and_the_reason(case):
    data, word = REFUSED[case]
    with pytest.raises(archives.ValidationError) as refused:
        archives.check(data)
    assert refused.value.field == "archive" and word in str(refused.value), str(refused.value)


# ---------------------------------------------------------------- the upload route


def test_uploading_a_tar_gz_stores_it_sets_the_revision_and_starts_a_sync(api, archive_project):
    pid = archive_project["id"]
    r = api.post(f"{URL}{pid}/upload/", GOOD_TAR, headers={"Content-Type": "application/gzip"})
    assert r.status_code == 201, r.body
    sha = hashlib.sha256(GOOD_TAR).hexdigest()
    assert r.data["kind"] == "project_update" and r.data["project"] == pid
    assert api.get(f"{URL}{pid}/").data["revision"] == sha
    assert stored(pid) == [archives.object_key(pid, sha)]
    body = aws.client("s3").get_object(Bucket=STACK.bucket, Key=archives.object_key(pid, sha))["Body"].read()
    assert body == GOOD_TAR


def test_uploading_a_zip_as_octet_stream_is_accepted(api, archive_project):
    r = api.post(f"{URL}{archive_project['id']}/upload/", GOOD_ZIP)  # application/octet-stream
    assert r.status_code == 201, r.body
    assert api.get(f"{URL}{archive_project['id']}/").data["revision"] == hashlib.sha256(GOOD_ZIP).hexdigest()


@pytest.mark.parametrize("case", ["dotdot_path", "absolute_path", "symlink_out", "hardlink_out",
                                  "bomb_zip_over_unpacked_limit", "over_compressed_limit", "not_an_archive"])
def test_a_refused_upload_is_a_400_and_leaves_the_project_as_it_was(api, archive_project, case):
    pid = archive_project["id"]
    first = api.post(f"{URL}{pid}/upload/", GOOD_TAR, headers={"Content-Type": "application/gzip"})
    assert first.status_code == 201, first.body
    before, jobs = api.get(f"{URL}{pid}/").data, api.get("/api/job/job/").data["count"]
    data, word = REFUSED[case]
    r = api.post(f"{URL}{pid}/upload/", data, headers={"Content-Type": "application/zip"})
    assert r.status_code == 400, r.body
    assert r.data["detail"].startswith("archive: ") and word in r.data["detail"]
    assert api.get(f"{URL}{pid}/").data == before
    assert stored(pid) == [archives.object_key(pid, hashlib.sha256(GOOD_TAR).hexdigest())]
    assert api.get("/api/job/job/").data["count"] == jobs


def test_a_json_body_is_not_an_archive(api, archive_project):
    r = api.post(f"{URL}{archive_project['id']}/upload/", {"archive": "x"})
    assert r.status_code == 400 and r.data["detail"].startswith("archive: ")


def test_only_an_archive_project_takes_an_upload(api):
    pid = api.post(URL, {"name": name("g"), "repository_url": "file:///srv/g.git"}).data["id"]
    r = api.post(f"{URL}{pid}/upload/", GOOD_TAR, headers={"Content-Type": "application/gzip"})
    assert r.status_code == 400 and r.data["detail"].startswith("project_type: ")
    assert stored(pid) == []


def test_uploading_needs_write_on_the_project(api, archive_project):
    r = api.post("/api/system/user/", {"username": "uploader", "password": "s3cret-pass", "last_name": "Up"})
    assert r.status_code == 201, r.body
    user = r.data
    as_user = api.as_token(api.as_token(None).post("/api/auth/token/", {"username": "uploader",
                                                                        "password": "s3cret-pass"}).data["token"])
    r = api.post("/api/project/project/authorized/users/", {"username": user["id"], "data": archive_project["id"],
                                                            "permission": "execute"})
    assert r.status_code == 201, r.body
    r = as_user.post(f"{URL}{archive_project['id']}/upload/", GOOD_TAR)
    assert r.status_code == 403, r.body
    assert stored(archive_project["id"]) == []


# ---------------------------------------------------------------- the runner's unpacking


def test_the_runner_unpacks_a_tar_gz_with_its_links(tmp_path):
    runner_archive.unpack(GOOD_TAR, str(tmp_path), hashlib.sha256(GOOD_TAR).hexdigest())
    assert (tmp_path / "site.yml").read_bytes() == PLAYBOOK
    assert os.readlink(tmp_path / "current.yml") == "site.yml" and (tmp_path / "copy.yml").read_bytes() == PLAYBOOK


def test_the_runner_unpacks_a_zip_with_its_links(tmp_path):
    runner_archive.unpack(GOOD_ZIP, str(tmp_path))
    assert (tmp_path / "sub" / "other.yml").read_bytes() == PLAYBOOK
    assert (tmp_path / "sub" / "up.yml").read_bytes() == PLAYBOOK and os.path.islink(tmp_path / "sub" / "up.yml")


@pytest.mark.parametrize("case", ["dotdot_path", "absolute_zip_path", "symlink_out", "zip_symlink_out",
                                  "hardlink_out", "link_through_a_link", "fifo"])
def test_the_runner_refuses_what_the_api_refuses_and_writes_nothing_outside(tmp_path, case):
    dest = tmp_path / "project"
    dest.mkdir()
    with pytest.raises(runner_archive.ArchiveError, match="archive: "):
        runner_archive.unpack(REFUSED[case][0], str(dest))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["project"]


def test_the_runner_refuses_an_archive_that_is_not_the_projects_revision(tmp_path):
    with pytest.raises(runner_archive.ArchiveError, match="sha256"):
        runner_archive.unpack(GOOD_TAR, str(tmp_path), "0" * 64)


# ---------------------------------------------------------------- the project types' fields


def test_an_archive_project_has_no_repository_url(api):
    r = api.post(URL, {"name": name("a"), "project_type": "archive", "repository_url": "file:///srv/a.git"})
    assert r.status_code == 400 and r.data["detail"].startswith("repository_url: ")


@pytest.mark.parametrize("kind", ["git", "svn"])
def test_a_repository_project_needs_a_repository_url(api, kind):
    r = api.post(URL, {"name": name("r"), "project_type": kind})
    assert r.status_code == 400 and r.data["detail"].startswith("repository_url: ")


@pytest.mark.parametrize("url", ["svn://svn.example.com/repo", "https://svn.example.com/repo", "file:///srv/svn/repo",
                                 "svn+ssh://svn.example.com/repo"])
def test_svn_urls_are_accepted(api, url):
    r = api.post(URL, {"name": name("s"), "project_type": "svn", "repository_url": url, "branch_specifier": "branches/x",
                       "scm_revision": "42"})
    assert r.status_code == 201, r.body
    assert (r.data["project_type_name"], r.data["scm_revision"]) == ("Subversion", "42")


@pytest.mark.parametrize("body, field", [
    ({"repository_url": "git@host:repo.git"}, "repository_url"),
    ({"repository_url": "svn://u:pw@host/repo"}, "repository_url"),
    ({"repository_url": "svn://host/repo", "branch_specifier": "../other"}, "branch_specifier"),
    ({"repository_url": "svn://host/repo", "scm_revision": "HEAD~1"}, "scm_revision"),
])
def test_bad_svn_fields_are_refused(api, body, field):
    r = api.post(URL, {"name": name("s"), "project_type": "svn", **body})
    assert r.status_code == 400 and r.data["detail"].startswith(f"{field}: "), r.body


@pytest.mark.parametrize("pin, ok", [("v1.2", True), ("0123abcd", True), ("a b", False), ("-x", False), ("t..", False)])
def test_a_git_pin_is_a_commit_or_a_tag(api, pin, ok):
    r = api.post(URL, {"name": name("p"), "repository_url": "file:///srv/g.git", "scm_revision": pin, "scm_clean": 1,
                       "scm_track_submodules": True})
    assert r.status_code == (201 if ok else 400), r.body
    if ok:
        assert (r.data["scm_clean"], r.data["scm_track_submodules"]) == (1, 1)
    else:
        assert r.data["detail"].startswith("scm_revision: ")

"""Project types end to end (changelog 2.1): an svn project checked out from a loopback
`svnserve` with a password, archive projects uploaded as .tar.gz and .zip, and git projects
pinned to a tag and with submodules (followed or at their recorded commits)."""
from __future__ import annotations

import io
import socket
import subprocess
import tarfile
import time
import zipfile

import pytest

from tests.gitserver import commit, git, init_repo, publish_bare
from tests.localstack import free_port

SVN_USER, SVN_PASSWORD = "alice", "svn-Secret-4711"


def play(message: str) -> str:
    return ("- hosts: all\n  gather_facts: false\n  tasks:\n"
            f"    - ansible.builtin.debug:\n        msg: \"{message}\"\n")


@pytest.fixture(scope="module")
def svnserve(tmp_path_factory):
    """A repository with trunk/site.yml at revision 1, served by svnserve on loopback with a
    password database (no anonymous access); yields its svn:// URL."""
    root = tmp_path_factory.mktemp("svn")
    repo = root / "repo"
    subprocess.run(["svnadmin", "create", str(repo)], check=True, capture_output=True)
    (repo / "conf" / "svnserve.conf").write_text("[general]\nanon-access = none\nauth-access = write\n"
                                                 "password-db = passwd\nrealm = opsgrat-test\n")
    (repo / "conf" / "passwd").write_text(f"[users]\n{SVN_USER} = {SVN_PASSWORD}\n")
    tree = root / "import" / "trunk"
    tree.mkdir(parents=True)
    (tree / "site.yml").write_text(play("hello from svn"))
    subprocess.run(["svn", "import", "--quiet", "--non-interactive", "-m", "initial", str(root / "import"),
                    f"file://{repo}"], check=True, capture_output=True)
    port = free_port()
    proc = subprocess.Popen(["svnserve", "-d", "--foreground", "--listen-host", "127.0.0.1", "--listen-port",
                             str(port), "-r", str(root)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "svnserve did not start"
                time.sleep(0.05)
        yield f"svn://127.0.0.1:{port}/repo"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="module")
def inventory(stack):
    return stack.local_inventory("project types")


def credential(stack, name: str, password: str) -> dict:
    r = stack.http("POST", "/api/project/credential/", json={"name": name, "type": "user_pwd",
                                                             "user_name": SVN_USER, "password": password})
    assert r.status_code == 201, r.text
    return r.json()


def project(stack, **fields) -> dict:
    r = stack.http("POST", "/api/project/project/", json=fields)
    assert r.status_code == 201, r.text
    return r.json()


def sync(stack, project_id: int) -> dict:
    return stack.wait_job(stack.http("POST", f"/api/project/project/{project_id}/sync/").json()["id"])


def run(stack, project_id: int, playbook: str, inventory: dict) -> tuple[dict, str]:
    r = stack.http("POST", "/api/template/template/", json={"name": f"types {project_id} {playbook}",
                                                            "project": project_id, "playbook": playbook,
                                                            "inventory": inventory["id"]})
    assert r.status_code == 201, r.text
    job = stack.wait_job(stack.http("POST", "/api/template/template/run/", json={"id": r.json()["id"]}).json()["id"])
    return job, stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=txt").text


# ---------------------------------------------------------------- svn


@pytest.fixture(scope="module")
def svn_project(stack, svnserve):
    cred = credential(stack, "svn login", SVN_PASSWORD)
    rec = project(stack, name="svn site", project_type="svn", repository_url=svnserve, branch_specifier="trunk",
                  credential=cred["id"])
    job = sync(stack, rec["id"])
    assert job["state"] == "successful", job
    return rec


def test_an_svn_sync_records_the_revision_and_the_playbooks(stack, svn_project):
    rec = stack.http("GET", f"/api/project/project/{svn_project['id']}/").json()
    assert (rec["revision"], rec["playbooks"]) == ("1", ["site.yml"])


def test_a_job_runs_a_playbook_from_svn(stack, svn_project, inventory):
    job, stdout = run(stack, svn_project["id"], "site.yml", inventory)
    assert job["state"] == "successful", stdout
    assert "hello from svn" in stdout and job["revision"] == "1"


def test_a_wrong_svn_password_fails_the_sync_clearly_without_the_password(stack, svnserve):
    wrong = "Wrong-pass-9876"
    cred = credential(stack, "svn wrong login", wrong)
    rec = project(stack, name="svn wrong", project_type="svn", repository_url=svnserve, branch_specifier="trunk",
                  credential=cred["id"])
    job = sync(stack, rec["id"])
    stdout = stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=txt").text
    assert job["state"] == "failed"
    assert "svn checkout failed" in job["reason"] and "Authentication error" in job["reason"], job["reason"]
    assert wrong not in job["reason"] + stdout and SVN_PASSWORD not in job["reason"] + stdout


# ---------------------------------------------------------------- archives


def tar_gz(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, text in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(text.encode())
            tar.addfile(info, io.BytesIO(text.encode()))
    return buffer.getvalue()


def zip_of(files: dict[str, str]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, text in files.items():
            archive.writestr(name, text)
    return buffer.getvalue()


@pytest.mark.parametrize("fmt, pack, content_type", [("tar.gz", tar_gz, "application/gzip"),
                                                     ("zip", zip_of, "application/zip")])
def test_a_job_runs_a_playbook_from_an_uploaded_archive(stack, inventory, fmt, pack, content_type):
    rec = project(stack, name=f"archive {fmt}", project_type="archive")
    data = pack({"plays/site.yml": play(f"hello from {fmt}"), "roles/x/tasks/main.yml": "[]\n"})
    r = stack.http("POST", f"/api/project/project/{rec['id']}/upload/", data=data,
                   headers={"Content-Type": content_type})
    assert r.status_code == 201, r.text
    assert stack.wait_job(r.json()["id"])["state"] == "successful"
    synced = stack.http("GET", f"/api/project/project/{rec['id']}/").json()
    assert synced["playbooks"] == ["plays/site.yml"] and len(synced["revision"]) == 64
    job, stdout = run(stack, rec["id"], "plays/site.yml", inventory)
    assert job["state"] == "successful", stdout
    assert f"hello from {fmt}" in stdout and job["revision"] == synced["revision"]


def test_an_archive_with_a_path_out_is_refused_over_http(stack):
    rec = project(stack, name="archive refused", project_type="archive")
    r = stack.http("POST", f"/api/project/project/{rec['id']}/upload/", data=tar_gz({"../evil.yml": "x"}),
                   headers={"Content-Type": "application/gzip"})
    assert r.status_code == 400 and r.json()["detail"].startswith("archive: ")
    assert stack.http("GET", f"/api/project/project/{rec['id']}/").json()["revision"] == ""


# ---------------------------------------------------------------- git pins and submodules


@pytest.fixture(scope="module")
def repos(tmp_path_factory):
    """A repository tagged v1 (site.yml says "one") whose main then says "two", with a
    submodule `sub` recorded at the submodule's first commit; the submodule's main has a newer
    commit that adds newer.yml."""
    root = tmp_path_factory.mktemp("pins")
    init_repo(str(root / "subwork"), {"sub.yml": play("in the submodule")})
    sub_url = "file://" + publish_bare(str(root / "subwork"), str(root / "sub.git"))
    work = str(root / "work")
    init_repo(work, {"site.yml": play("version one")})
    git("tag", "v1", cwd=work)
    v1 = git("rev-parse", "HEAD", cwd=work)
    git("-c", "protocol.file.allow=always", "submodule", "add", "-q", "-b", "main", sub_url, "sub", cwd=work)
    commit(work, {"site.yml": play("version two")}, "two, with a submodule")
    commit(str(root / "subwork"), {"newer.yml": play("newer")}, "newer")
    publish_bare(str(root / "subwork"), str(root / "sub.git"))
    return {"url": "file://" + publish_bare(work, str(root / "repo.git")), "v1": v1}


def test_a_pinned_tag_runs_that_tags_playbook(stack, repos, inventory):
    rec = project(stack, name="pinned v1", repository_url=repos["url"], branch_specifier="main", scm_revision="v1",
                  scm_clean=1)
    assert sync(stack, rec["id"])["state"] == "successful"
    job, stdout = run(stack, rec["id"], "site.yml", inventory)
    assert job["state"] == "successful", stdout
    assert "version one" in stdout and "version two" not in stdout and job["revision"] == repos["v1"]


def test_submodules_are_checked_out_at_their_recorded_commits(stack, repos):
    rec = project(stack, name="with submodule", repository_url=repos["url"])
    assert sync(stack, rec["id"])["state"] == "successful"
    assert stack.http("GET", f"/api/project/project/{rec['id']}/playbooks/").json() == ["site.yml", "sub/sub.yml"]


def test_tracking_submodules_moves_them_to_their_newest_commit(stack, repos):
    rec = project(stack, name="tracking submodule", repository_url=repos["url"], scm_track_submodules=1)
    assert sync(stack, rec["id"])["state"] == "successful"
    assert stack.http("GET", f"/api/project/project/{rec['id']}/playbooks/").json() == \
        ["site.yml", "sub/newer.yml", "sub/sub.yml"]


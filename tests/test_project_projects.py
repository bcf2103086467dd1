"""Projects (`/api/project/project/`): URL and branch checks, credentials, sync-recorded fields, grants."""
from __future__ import annotations

import pytest

URL = "/api/project/project/"


def project(**extra) -> dict:
    return {"name": "tomcat playbook", "project_type": "git",
            "repository_url": "http://git.example.com:8090/test/tomcat.git", "branch_specifier": "master", **extra}


@pytest.fixture
def git_login(api) -> int:
    return api.post("/api/project/credential/", {"name": "GitLab", "type": "user_pwd", "user_name": "bot",
                                                  "password": "p"}).data["id"]


def test_project_is_created_with_spec_fields(api, git_login):
    r = api.post(URL, project(credential=git_login))
    assert r.status_code == 201, r.body
    assert r.data["credential_name"] == "GitLab"
    assert r.data["repository_url"] == "http://git.example.com:8090/test/tomcat.git"
    assert r.data["revision"] == "" and r.data["playbooks"] is None and r.data["last_sync_time"] is None
    assert r.data["vault_credential"] is None and r.data["cuser"] is not None


@pytest.mark.parametrize("url", [
    "https://github.com/org/repo.git", "http://10.0.0.5/group/sub/repo", "ssh://git@host:2222/org/repo.git",
    "git@github.com:org/repo.git", "file:///srv/git/repo.git",
])
def test_repository_url_forms_git_can_clone_are_accepted(api, url):
    assert api.post(URL, project(repository_url=url)).status_code == 201


@pytest.mark.parametrize("url", [
    "ftp://host/repo", "http://", "https://host/", "not a url", "https://user:secret@host/repo.git",
    "file://relative/path", "http://host:99999/repo",
])
def test_bad_repository_urls_are_rejected(api, url):
    r = api.post(URL, project(repository_url=url))
    assert r.status_code == 400, url
    assert r.data["detail"].startswith("repository_url:")


@pytest.mark.parametrize("branch", ["feature/x", "v1.2.3", "release-2020.04", "0123abcd"])
def test_valid_branch_names_are_accepted(api, branch):
    assert api.post(URL, project(branch_specifier=branch)).status_code == 201


@pytest.mark.parametrize("branch", ["bad branch", "a..b", "-x", "x.lock", "a:b", "x/", "a~1", "@{u}"])
def test_invalid_branch_names_are_rejected(api, branch):
    r = api.post(URL, project(branch_specifier=branch))
    assert r.status_code == 400 and r.data["detail"].startswith("branch_specifier:")


def test_credential_must_fit_the_url(api, git_login):
    ssh = api.post("/api/project/credential/", {"name": "key", "type": "ssh", "user_name": "git"}).data["id"]
    r = api.post(URL, project(credential=ssh))
    assert r.status_code == 400 and r.data["detail"].startswith("credential:")
    assert api.post(URL, project(repository_url="git@host:org/r.git", credential=ssh)).status_code == 201
    r = api.post(URL, project(repository_url="git@host:org/r.git", credential=git_login))
    assert r.status_code == 400


def test_vault_credential_must_be_a_vault_credential(api, git_login):
    r = api.post(URL, project(vault_credential=git_login))
    assert r.status_code == 400 and r.data["detail"].startswith("vault_credential:")
    vault = api.post("/api/project/credential/", {"name": "v", "type": "vault", "vault_password": "x"}).data["id"]
    assert api.post(URL, project(vault_credential=vault)).status_code == 201


def test_sync_fields_are_read_only(api):
    pid = api.post(URL, project(revision="abc", playbooks=["x.yml"], last_sync_time=5)).data["id"]
    r = api.get(f"{URL}{pid}/")
    assert r.data["revision"] == "" and r.data["playbooks"] is None and r.data["last_sync_time"] is None


def test_playbooks_endpoint_returns_the_list_recorded_by_a_sync(api):
    from chalicelib.services import store
    from chalicelib.services.catalog.project import PROJECTS

    pid = api.post(URL, project()).data["id"]
    assert api.get(f"{URL}{pid}/playbooks/").data == []
    rec = store.get("project", pid)
    store.update(PROJECTS, rec, {**rec, "playbooks": ["site.yml", "roles/x/main.yml"], "revision": "9f8e",
                                 "last_sync_time": 1_700_000_000})
    r = api.get(f"{URL}{pid}/playbooks/")
    assert r.status_code == 200 and r.data == ["site.yml", "roles/x/main.yml"]
    assert api.get(f"{URL}{pid}/").data["revision"] == "9f8e"


def test_attaching_a_credential_needs_execute_on_it_read_is_not_enough(api, make_user, git_login):
    user, as_user = make_user()
    assert as_user.post(URL, project(credential=git_login)).status_code == 403
    grants = "/api/project/credential/authorized/users/"
    api.post(grants, {"username": user["id"], "data": git_login, "permission": "read"})
    r = as_user.post(URL, project(credential=git_login))
    assert r.status_code == 403 and "execute" in r.data["detail"]
    grant = api.get(f"{grants}?data={git_login}&username={user['id']}").data["results"][0]
    api.patch(f"{grants}{grant['id']}/", {"permission": "execute"})
    assert as_user.post(URL, project(credential=git_login)).status_code == 201


def test_a_credential_in_use_by_a_project_cannot_be_deleted(api, git_login):
    pid = api.post(URL, project(credential=git_login)).data["id"]
    r = api.delete(f"/api/project/credential/{git_login}/")
    assert r.status_code == 400 and "project" in r.data["detail"]
    api.delete(f"{URL}{pid}/")
    assert api.delete(f"/api/project/credential/{git_login}/").status_code == 204


def test_user_without_grant_sees_no_project(api, make_user):
    pid = api.post(URL, project()).data["id"]
    _, as_user = make_user()
    assert as_user.get(f"{URL}{pid}/").status_code == 403
    assert as_user.get(f"{URL}{pid}/playbooks/").status_code == 403
    assert as_user.get(URL).data["count"] == 0


def test_project_grants_use_the_spec_paths(api, make_user):
    pid = api.post(URL, project()).data["id"]
    user, as_user = make_user()
    team = api.post("/api/system/team/", {"name": "dev"}).data["id"]
    api.post("/api/system/team/users/", {"team": team, "username": user["id"]})
    r = api.post(URL + "empowered/teams/", {"team": team, "data": pid, "permission": "write"})
    assert r.status_code == 201 and r.data["team_name"] == "dev"
    assert as_user.patch(f"{URL}{pid}/", {"description": "d"}).status_code == 200
    assert api.get(URL + "authorized/users/").status_code == 200


def test_list_searches_name_and_description(api):
    api.post(URL, project(name="alpha", description="nginx roles"))
    api.post(URL, project(name="beta"))
    assert [p["name"] for p in api.get(URL + "?search=NGINX").data["results"]] == ["alpha"]

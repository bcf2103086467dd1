"""Galaxy credentials (type `galaxy`: server URL + token) and a project's `galaxy_credential`,
which its requirements are installed from (runner_image/opsgrat_runner/requirements.py)."""
from __future__ import annotations

CREDENTIALS = "/api/project/credential/"
PROJECTS = "/api/project/project/"


def galaxy(api, **extra):
    return api.post(CREDENTIALS, {"name": "hub", "type": "galaxy", "url": "https://hub.example.com/api/galaxy/",
                                  "token": "galaxy-Tok-1", **extra})


def test_a_galaxy_credential_keeps_its_url_and_hides_its_token(api):
    r = galaxy(api)
    assert r.status_code == 201, r.body
    assert (r.data["type_name"], r.data["url"], r.data["token"]) == \
        ("Ansible Galaxy/Automation Hub", "https://hub.example.com/api/galaxy/", "$encrypted$")
    assert "galaxy-Tok-1" not in api.get(f"{CREDENTIALS}{r.data['id']}/").body.decode()


def test_the_token_is_stored_encrypted(api):
    from chalicelib.services import store
    from chalicelib.services.catalog.credential import plaintext

    rec = store.get("credential", galaxy(api).data["id"])
    assert rec["token"] != "galaxy-Tok-1" and plaintext(rec, "token") == "galaxy-Tok-1"


def test_a_galaxy_credential_needs_an_http_url(api):
    for url, words in (("", "required"), ("ftp://hub.example.com/", "http(s)"), ("https://", "http(s)"),
                       ("https://u:pw@hub.example.com/", "password")):
        r = galaxy(api, url=url)
        assert r.status_code == 400, (url, r.body)
        assert r.data["detail"].startswith("url:") and words in r.data["detail"], r.data["detail"]


def test_an_anonymous_galaxy_server_needs_no_token(api):
    assert galaxy(api, token="").status_code == 201


def test_url_and_token_belong_to_galaxy_credentials_only(api):
    r = api.post(CREDENTIALS, {"name": "v", "type": "vault", "vault_password": "pw", "token": "x"})
    assert r.status_code == 400 and r.data["detail"].startswith("token:"), r.body


def test_a_project_takes_a_galaxy_credential_and_names_it(api):
    cred = galaxy(api).data
    r = api.post(PROJECTS, {"name": "site", "repository_url": "file:///srv/site.git", "galaxy_credential": cred["id"]})
    assert r.status_code == 201, r.body
    assert (r.data["galaxy_credential"], r.data["galaxy_credential_name"]) == (cred["id"], "hub")


def test_a_projects_galaxy_credential_must_be_of_type_galaxy(api):
    vault = api.post(CREDENTIALS, {"name": "v", "type": "vault", "vault_password": "pw"}).data
    r = api.post(PROJECTS, {"name": "site", "repository_url": "file:///srv/site.git", "galaxy_credential": vault["id"]})
    assert r.status_code == 400 and r.data["detail"].startswith("galaxy_credential:"), r.body


def test_a_galaxy_credential_in_use_by_a_project_cannot_be_deleted(api):
    cred = galaxy(api).data
    api.post(PROJECTS, {"name": "site", "repository_url": "file:///srv/site.git", "galaxy_credential": cred["id"]})
    assert api.delete(f"{CREDENTIALS}{cred['id']}/").status_code in (400, 409)


# ---------------------------------------------------------------- the runner's side


def test_requirements_go_ahead_of_ansibles_own_paths():
    from runner_image.opsgrat_runner.execute import RunSpec, _environment

    env = _environment(RunSpec(requirements_dir="/job/zone/requirements",
                               env={"ANSIBLE_COLLECTIONS_PATH": "/opt/collections"}), "/job/zone/run")
    assert env["ANSIBLE_ROLES_PATH"].split(":")[:2] == ["/job/zone/requirements/roles", "~/.ansible/roles"]
    assert env["ANSIBLE_COLLECTIONS_PATH"] == "/job/zone/requirements/collections:/opt/collections"
    assert "ANSIBLE_ROLES_PATH" not in _environment(RunSpec(), "/job/zone/run")


def test_the_cache_key_is_the_project_and_a_revision_that_cannot_leave_its_prefix():
    from runner_image.opsgrat_runner.requirements import archive_key

    assert archive_key(7, "a" * 40) == f"requirements/7/{'a' * 40}.tar.gz"
    odd = archive_key(7, "../../jobs/1/stdout.txt")
    assert odd.startswith("requirements/7/") and odd.count("/") == 2 and ".." not in odd


def test_a_galaxy_server_reaches_ansible_galaxy_in_its_environment():
    from runner_image.opsgrat_runner.requirements import Galaxy

    assert Galaxy("https://hub.example.com/", "t0k").environment() == {
        "ANSIBLE_GALAXY_SERVER_LIST": "opsgrat", "ANSIBLE_GALAXY_SERVER_OPSGRAT_URL": "https://hub.example.com/",
        "ANSIBLE_GALAXY_SERVER_OPSGRAT_TOKEN": "t0k"}


def test_what_a_zone_command_prints_is_redacted_and_streamed_line_by_line(tmp_path):
    from runner_image.opsgrat_runner import workdir
    from runner_image.opsgrat_runner.redact import MASK, Redactor
    from runner_image.opsgrat_runner.requirements import Galaxy, ZoneCommand
    from runner_image.opsgrat_runner.sandbox import Mode, Sandbox

    dirs = workdir.create(1, str(tmp_path))
    lines: list[str] = []
    galaxy = Galaxy("https://hub.example.com/", "galaxy-Tok-1")
    run = ZoneCommand(Sandbox(Mode.NONE), dirs, lines.append, Redactor([galaxy.token]))
    rc, tail = run(["/bin/sh", "-c", 'echo "server token: $ANSIBLE_GALAXY_SERVER_OPSGRAT_TOKEN"; echo done; exit 3'],
                   cwd=dirs.zone, env=galaxy.environment())
    assert (rc, lines, tail) == (3, [f"server token: {MASK}", "done"], [f"server token: {MASK}", "done"])
    workdir.remove(dirs)

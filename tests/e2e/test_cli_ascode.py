"""`opsgrat export` and `opsgrat apply` end to end: objects built through the API in the shared
stack are exported (only this module's, by `--match`), applied into a second, fresh stack, and
applied again; then a changed field, a dry run and the file errors.

The tests run in order and share the module's file and fresh stack (each step is the state the
next one starts from), which keeps the module to one extra stack."""
from __future__ import annotations

import secrets

import pytest
import yaml

from tests.cli import Opsgrat
from tests.localstack import RunningStack

pytestmark = pytest.mark.e2e

PREFIX = f"cac{secrets.token_hex(3)}"
PASSWORD = "Exp0rt-and-apply!"


def name(suffix: str) -> str:
    return f"{PREFIX}-{suffix}"


def created(stack: RunningStack, path: str, **body) -> dict:
    r = stack.http("POST", path, json=body)
    assert r.status_code == 201, (path, r.text)
    return r.json()


def only(stack: RunningStack, path: str, **params) -> dict:
    rows = stack.http("GET", path, params=params).json()["results"]
    assert len(rows) == 1, (path, params, rows)
    return rows[0]


@pytest.fixture(scope="module")
def source(stack) -> dict:
    """The objects to export, in the shared stack: every kind of reference (by name, composite,
    a user by login, a workflow's nodes and lines) and a secret."""
    cred = created(stack, "/api/project/credential/", name=name("cred"), type="ssh", user_name="deploy",
                   password="s3cret-source")
    project = created(stack, "/api/project/project/", name=name("proj"), repository_url="file:///nonexistent/repo.git")
    inventory = created(stack, "/api/project/inventory/", name=name("web"), variables="env: prod\nregion: eu\n")
    h1 = created(stack, "/api/project/host/", inventory=inventory["id"], hostname="h1", variables="port: 22")
    created(stack, "/api/project/host/", inventory=inventory["id"], hostname="h2")
    group = created(stack, "/api/project/group/", inventory=inventory["id"], name="db")
    created(stack, "/api/project/hosts/", group=group["id"], host=h1["id"])
    template = created(stack, "/api/template/template/", name=name("deploy"), project=project["id"],
                       inventory=inventory["id"], credential=cred["id"], playbook="site.yml", description="first")
    team = created(stack, "/api/system/team/", name=name("ops"))
    created(stack, "/api/system/user/", username=name("alice"), password=PASSWORD, last_name="Alice")
    created(stack, "/api/system/team/users/", team=team["id"], username=name("alice"))
    created(stack, "/api/template/template/permission/users/", data=template["id"], username=name("alice"),
            permission="execute")
    created(stack, "/api/system/tag/", tag=name("tag"), weight=3)
    flow = created(stack, "/api/template/template/", name=name("flow"), template_type="workflow")
    start = only(stack, "/api/template/workflow/node/", template=flow["id"])
    build = created(stack, "/api/template/workflow/node/", template=flow["id"], name="build", type="job",
                    bind_template=template["id"], left=200)
    gate = created(stack, "/api/template/workflow/node/", template=flow["id"], name="gate", type="approval", timeout=600)
    created(stack, "/api/template/workflow/line/", node=start["id"], next_node=build["id"], result="successful")
    created(stack, "/api/template/workflow/line/", node=build["id"], next_node=gate["id"], result=["successful"])
    return {"template": template, "flow": flow}


@pytest.fixture(scope="module")
def fresh(tmp_path_factory):
    running = RunningStack(tmp_path_factory.mktemp("ascode-fresh") / "home").start()
    yield running
    running.stop()


@pytest.fixture(scope="module")
def cli_source(stack, tmp_path_factory) -> Opsgrat:
    return Opsgrat(tmp_path_factory.mktemp("ascode-cli-source"), stack.url, stack.token)


@pytest.fixture(scope="module")
def cli_fresh(fresh, tmp_path_factory) -> Opsgrat:
    return Opsgrat(tmp_path_factory.mktemp("ascode-cli-fresh"), fresh.url, fresh.token)


@pytest.fixture(scope="module")
def exported(source, cli_source) -> str:
    r = cli_source("export", "--match", f"{PREFIX}-*")
    assert r.returncode == 0, r.stderr
    return r.stdout


@pytest.fixture(scope="module")
def site(exported, tmp_path_factory):
    """The export with what a fresh installation needs given in clear text: the user's password
    (never exported) and the credential's secret."""
    doc = yaml.safe_load(exported)
    doc["user"][0]["password"] = PASSWORD
    doc["credential"][0]["password"] = "s3cret-copy"
    path = tmp_path_factory.mktemp("ascode-site") / "site.yml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def changes(stdout: str) -> list[str]:
    return [line for line in stdout.splitlines() if line[:2] in ("+ ", "~ ")]


def one_error(r) -> str:
    """The failure is exit 4 with one `Error:` line and no traceback."""
    assert r.returncode == 4, (r.stdout, r.stderr)
    lines = [line for line in r.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: "), r.stderr
    assert "Traceback" not in r.stderr + r.stdout
    return lines[0]


def test_export_names_references_and_leaves_secrets_out(exported, cli_source, stack):
    assert exported.startswith(f"# OpsGrat configuration exported from {stack.url} at ")
    doc = yaml.safe_load(exported)
    # only this module's records, though the shared stack holds other tests' objects
    assert sorted(t["name"] for t in doc["template"]) == [name("deploy"), name("flow")]
    assert [u["username"] for u in doc["user"]] == [name("alice")]
    assert "job-settings" not in doc and "module" not in doc
    deploy = next(t for t in doc["template"] if t["name"] == name("deploy"))
    assert (deploy["inventory"], deploy["project"], deploy["credential"]) == (name("web"), name("proj"), name("cred"))
    assert doc["credential"][0]["password"] == "$encrypted$"
    assert "password" not in doc["user"][0]
    assert doc["group-host"] == [{"group": {"inventory": name("web"), "name": "db"},
                                  "host": {"inventory": name("web"), "hostname": "h1"}}]
    assert doc["team-member"] == [{"team": name("ops"), "username": name("alice")}]
    assert doc["grant-template-user"] == [{"data": name("deploy"), "username": name("alice"), "permission": "execute"}]
    assert {(line["node"]["name"], line["next_node"]["name"]) for line in doc["workflow-line"]} == \
        {("Start", "build"), ("build", "gate")}
    assert all("id" not in record for rows in doc.values() for record in rows)
    assert list(doc).index("inventory") < list(doc).index("host") < list(doc).index("group-host")
    # the export describes the source exactly: applying it there changes nothing
    r = cli_source("apply", "-f", "-", input=exported)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines()[-1].startswith("no changes"), r.stdout
    # --family narrows the families, and the references stay names
    r = cli_source("export", "--family", "template", "--match", name("deploy"))
    assert list(yaml.safe_load(r.stdout)) == ["template"]


def test_dry_run_lists_the_changes_and_writes_nothing(site, cli_fresh, fresh):
    r = cli_fresh("apply", "-f", str(site), "--dry-run")
    assert r.returncode == 0, r.stderr
    lines = changes(r.stdout)
    assert f"+ template {name('deploy')}" in lines
    assert f"+ group-host group={name('web')}/db host={name('web')}/h1" in lines
    assert "(dry run: nothing written)" in r.stdout.splitlines()[-1]
    assert fresh.http("GET", "/api/template/template/", params={"name": name("deploy")}).json()["count"] == 0
    assert fresh.http("GET", "/api/system/user/", params={"username": name("alice")}).json()["count"] == 0


def test_apply_into_a_fresh_stack_recreates_the_objects(site, cli_fresh, fresh):
    r = cli_fresh("apply", "-f", str(site))
    assert r.returncode == 0, (r.stdout, r.stderr)
    assert f"+ template {name('deploy')}" in changes(r.stdout)
    inventory = only(fresh, "/api/project/inventory/", name=name("web"))
    assert inventory["variables"].strip() == "env: prod\nregion: eu"
    cred = only(fresh, "/api/project/credential/", name=name("cred"))
    assert cred["password"] == "$encrypted$"
    template = only(fresh, "/api/template/template/", name=name("deploy"))
    assert template["inventory"] == inventory["id"] and template["credential"] == cred["id"]
    assert template["project"] == only(fresh, "/api/project/project/", name=name("proj"))["id"]
    hosts = fresh.http("GET", "/api/project/host/", params={"inventory": inventory["id"]}).json()["results"]
    assert sorted(h["hostname"] for h in hosts) == ["h1", "h2"]
    link = only(fresh, "/api/project/hosts/", inventory=inventory["id"])
    assert (link["group_name"], link["host_name"]) == ("db", "h1")
    team = only(fresh, "/api/system/team/", name=name("ops"))
    assert only(fresh, "/api/system/team/users/", team=team["id"])["user_name"] == name("alice")
    grant = only(fresh, "/api/template/template/permission/users/", data=template["id"])
    assert (grant["user_name"], grant["permission"]) == (name("alice"), "execute")
    assert only(fresh, "/api/system/tag/", tag=name("tag"))["weight"] == 3
    # the user can log in with the password the file gave
    login = fresh.session.post(fresh.url + "/api/auth/token/", json={"username": name("alice"), "password": PASSWORD})
    assert login.status_code in (200, 201), login.text
    # the workflow's start node (made with the workflow) was matched, not made twice
    flow = only(fresh, "/api/template/template/", name=name("flow"))
    nodes = fresh.http("GET", "/api/template/workflow/node/", params={"template": flow["id"]}).json()["results"]
    assert sorted(n["name"] for n in nodes) == ["Start", "build", "gate"]
    by_id = {n["id"]: n["name"] for n in nodes}
    lines = fresh.http("GET", "/api/template/workflow/line/", params={"template": flow["id"]}).json()["results"]
    assert sorted((by_id[x["node"]], by_id[x["next_node"]]) for x in lines) == [("Start", "build"), ("build", "gate")]
    assert next(n for n in nodes if n["name"] == "build")["bind_template"] == template["id"]


def test_a_second_apply_changes_nothing(site, cli_fresh, fresh):
    before = only(fresh, "/api/template/template/", name=name("deploy"))
    r = cli_fresh("apply", "-f", str(site))
    assert r.returncode == 0, r.stderr
    assert changes(r.stdout) == [] and r.stdout.splitlines()[-1].startswith("no changes"), r.stdout
    assert only(fresh, "/api/template/template/", name=name("deploy")) == before
    # clear-text secrets are sent to existing records only when asked to
    r = cli_fresh("apply", "-f", str(site), "--dry-run", "--update-secrets")
    assert f"~ credential {name('cred')}: password" in changes(r.stdout)
    assert f"~ user {name('alice')}: password" in changes(r.stdout)


def test_a_changed_field_is_updated_alone(site, cli_fresh, fresh, tmp_path):
    doc = yaml.safe_load(site.read_text())
    next(t for t in doc["template"] if t["name"] == name("deploy"))["description"] = "second"
    changed = tmp_path / "changed.yml"
    changed.write_text(yaml.safe_dump(doc, sort_keys=False))
    before = only(fresh, "/api/template/template/", name=name("deploy"))
    r = cli_fresh("apply", "-f", str(changed))
    assert r.returncode == 0, r.stderr
    assert changes(r.stdout) == [f"~ template {name('deploy')}: description"]
    assert r.stdout.splitlines()[-1].startswith("0 created, 1 updated, ")
    after = only(fresh, "/api/template/template/", name=name("deploy"))
    assert after == {**before, "description": "second"}


@pytest.mark.parametrize("text, says", [
    ("template:\n- name: x\n  inventory: [unclosed\n", "line 4, column 1: not valid YAML"),
    ("no-such-family:\n- name: x\n", "unknown family 'no-such-family'"),
    ("template:\n- name: {p}-deploy\n  colour: red\n", "unknown field 'colour'"),
    ("tag:\n- tag: {p}-new\ntemplate:\n- name: {p}-new\n  inventory: {p}-missing\n",
     "template {p}-new: field 'inventory': no inventory '{p}-missing'"),
    ("group-host:\n- group: {{inventory: {p}-web, name: db}}\n  host: {{inventory: {p}-web, hostname: h9}}\n",
     "field 'host': no host 'inventory={p}-web hostname=h9'"),
])
def test_file_errors_are_one_line_and_write_nothing(text, says, cli_fresh, fresh, tmp_path):
    path = tmp_path / "bad.yml"
    path.write_text(text.format(p=PREFIX))
    message = one_error(cli_fresh("apply", "-f", str(path)))
    assert says.format(p=PREFIX) in message and str(path) in message, message
    assert fresh.http("GET", "/api/system/tag/", params={"tag": name("new")}).json()["count"] == 0


def test_a_refused_record_stops_the_apply_naming_it(cli_fresh, fresh):
    message = one_error(cli_fresh("apply", "-f", "-", input=f"user:\n- username: {name('nopass')}\n"))
    assert message.startswith(f"Error: user {name('nopass')}: password") and "(HTTP 400)" in message, message
    assert fresh.http("GET", "/api/system/user/", params={"username": name("nopass")}).json()["count"] == 0

"""The `opsgrat` executable against the shared local stack: connecting (login, profiles, the
checkout's local stack), the generated resource commands, output formats, and errors."""
from __future__ import annotations

import json
import stat
import uuid

import pytest
import yaml

from tests.cli import Opsgrat

pytestmark = pytest.mark.e2e


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def user(stack) -> dict:
    name, password = unique("cli"), "Secret-pass-1"
    r = stack.http("POST", "/api/system/user/", json={"username": name, "password": password})
    assert r.status_code == 201, r.text
    return {**r.json(), "password": password}


@pytest.fixture
def offline(stack, tmp_path) -> Opsgrat:
    """`opsgrat` with no OPSGRAT_URL/OPSGRAT_TOKEN: what a user has before logging in."""
    return Opsgrat(tmp_path, stack.url, stack.token, connect=False)


def ok(result) -> str:
    assert result.returncode == 0, (result.returncode, result.stdout, result.stderr)
    return result.stdout


def one_error_line(result) -> str:
    assert result.returncode == 4, (result.returncode, result.stdout, result.stderr)
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(lines) == 1, result.stderr
    return lines[0]


# ---------------------------------------------------------------- connecting


def test_login_saves_the_token_in_a_profile_only_the_user_can_read(offline, stack, user):
    ok(offline("login", "--url", stack.url, "-u", user["username"], "-p", user["password"]))
    profiles = offline.home / "config" / "opsgrat" / "profiles.json"
    assert stat.S_IMODE(profiles.stat().st_mode) == 0o600
    assert json.loads(profiles.read_text())["profiles"]["default"]["url"] == stack.url
    assert ok(offline("whoami")).startswith(f"{user['username']} (id {user['id']}")


def test_a_named_profile_is_used_when_selected_by_option_or_environment(offline, stack, user):
    ok(offline("login", "--url", stack.url, "-u", user["username"], "-p", user["password"]))
    ok(offline("--profile", "ops", "login", "--url", stack.url, "-u", user["username"], "-p", user["password"]))
    assert "profile ops" in ok(offline("--profile", "ops", "whoami"))
    assert "profile ops" in ok(offline("whoami", env={"OPSGRAT_PROFILE": "ops"}))
    assert "profile default" in ok(offline("whoami"))


def test_a_wrong_password_is_one_error_line(offline, stack, user):
    line = one_error_line(offline("login", "--url", stack.url, "-u", user["username"], "-p", "wrong"))
    assert "401" in line or "password" in line.lower()


def test_the_local_stack_of_the_checkout_is_found_without_configuration(offline, stack):
    checkout = offline.home / "checkout"
    (checkout / "sub").mkdir(parents=True)
    (checkout / ".opsgrat").symlink_to(stack.home)
    out = ok(offline("whoami", cwd=checkout / "sub"))
    assert out.startswith("admin ") and "local stack" in out


def test_without_any_connection_the_cli_says_how_to_connect(offline):
    assert "opsgrat login" in one_error_line(offline("tag", "list"))


def test_an_unreachable_installation_is_one_error_line(tmp_path):
    from tests.localstack import free_port

    cli = Opsgrat(tmp_path, f"http://127.0.0.1:{free_port()}", "0" * 40)
    assert "cannot reach" in one_error_line(cli("tag", "list"))


def test_a_revoked_token_is_one_error_line_with_the_status(opsgrat):
    bad = opsgrat("tag", "list", env={"OPSGRAT_TOKEN": "f" * 40})
    assert "401" in one_error_line(bad)


# ---------------------------------------------------------------- resource commands


def test_a_tag_is_created_read_updated_and_deleted_by_name(opsgrat, stack):
    tag = unique("t")
    created = json.loads(ok(opsgrat("tag", "create", "--tag", tag, "--weight", "5")))
    assert (created["tag"], created["weight"]) == (tag, 5)
    assert json.loads(ok(opsgrat("tag", "get", tag)))["id"] == created["id"]
    ok(opsgrat("tag", "update", tag, "--comment", "from the cli"))
    assert stack.http("GET", f"/api/system/tag/{created['id']}/").json()["comment"] == "from the cli"
    ok(opsgrat("tag", "delete", tag))
    assert stack.http("GET", f"/api/system/tag/{created['id']}/").status_code == 404


def test_references_are_given_by_name_and_fields_from_a_yaml_file(opsgrat, stack):
    inventory = unique("inv")
    ok(opsgrat("inventory", "create", "--name", inventory, "--description", "cli"))
    spec = opsgrat.home / "host.yml"
    spec.write_text("hostname: web1\nvariables: |\n  ansible_connection: local\n  port: 8080\n")
    host = json.loads(ok(opsgrat("host", "create", "--inventory", inventory, "--data", f"@{spec}")))
    stored = stack.http("GET", f"/api/project/host/{host['id']}/").json()
    assert stored["hostname"] == "web1" and "port: 8080" in stored["variables"]
    listed = json.loads(ok(opsgrat("host", "list", "--inventory", inventory)))
    assert [h["id"] for h in listed] == [host["id"]]


def test_a_date_in_yaml_data_is_sent_as_the_text_it_is(opsgrat):
    tag = unique("date")
    created = json.loads(ok(opsgrat("tag", "create", "--data", f"{{tag: {tag}, comment: 2024-01-01}}")))
    assert created["comment"] == "2024-01-01"


def test_an_inventory_is_updated_by_id_and_deleted_with_its_hosts(opsgrat, stack):
    inv = json.loads(ok(opsgrat("inventory", "create", "--name", unique("inv"))))
    ok(opsgrat("host", "create", "--inventory", str(inv["id"]), "--hostname", "h1"))
    ok(opsgrat("inventory", "update", str(inv["id"]), "--description", "changed"))
    assert stack.http("GET", f"/api/project/inventory/{inv['id']}/").json()["description"] == "changed"
    ok(opsgrat("inventory", "delete", str(inv["id"])))
    assert stack.http("GET", f"/api/project/host/?inventory={inv['id']}").json()["count"] == 0


def test_a_list_pages_one_page_unless_all_is_given(opsgrat):
    prefix = unique("page")
    for n in range(3):
        ok(opsgrat("tag", "create", "--tag", f"{prefix}-{n}"))
    one = json.loads(ok(opsgrat("tag", "list", "--search", prefix, "--limit", "2")))
    every = json.loads(ok(opsgrat("tag", "list", "--search", prefix, "--limit", "2", "--all", "--ordering", "-tag")))
    assert len(one) == 2
    assert [t["tag"] for t in every] == [f"{prefix}-2", f"{prefix}-1", f"{prefix}-0"]


# ---------------------------------------------------------------- output


@pytest.fixture
def tag(opsgrat) -> str:
    name = unique("fmt")
    ok(opsgrat("tag", "create", "--tag", name, "--weight", "7", "--comment", "shown"))
    return name


def test_piped_output_is_json_and_yaml_and_table_on_request(opsgrat, tag):
    assert json.loads(ok(opsgrat("tag", "get", tag)))["weight"] == 7
    assert yaml.safe_load(ok(opsgrat("tag", "get", tag, "-o", "yaml")))["comment"] == "shown"
    table = ok(opsgrat("tag", "list", "--tag", tag, "-o", "table")).splitlines()
    assert table[0].split() == ["ID", "TAG", "WEIGHT"] and table[1].split()[1:] == [tag, "7"]


def test_columns_select_the_fields_shown(opsgrat, tag):
    assert json.loads(ok(opsgrat("tag", "list", "--tag", tag, "-c", "tag,comment"))) == [{"tag": tag, "comment": "shown"}]
    header = ok(opsgrat("tag", "list", "--tag", tag, "-o", "table", "-c", "comment")).splitlines()[0]
    assert header.strip() == "COMMENT"


# ---------------------------------------------------------------- errors


def test_an_api_refusal_prints_its_detail_naming_the_field(opsgrat):
    line = one_error_line(opsgrat("tag", "create", "--weight", "1"))
    assert "tag" in line and "400" in line


def test_a_value_of_the_wrong_type_is_refused_before_any_request(opsgrat):
    assert "weight: expected an integer" in one_error_line(opsgrat("tag", "create", "--tag", "x", "--weight", "many"))


def test_an_unknown_command_or_option_is_a_usage_error_with_status_4(opsgrat):
    assert opsgrat("no-such-family", "list").returncode == 4
    bad = opsgrat("tag", "list", "--bogus")
    assert bad.returncode == 4 and "No such option" in bad.stderr and "Traceback" not in bad.stderr


def test_an_unknown_name_is_one_error_line(opsgrat):
    assert "no template named" in one_error_line(opsgrat("template", "get", unique("missing")))


def test_help_lists_the_families_of_the_installation(opsgrat):
    ok(opsgrat("tag", "list"))  # caches the document
    text = ok(opsgrat("--help"))
    assert "host-source" in text and "whoami" in text

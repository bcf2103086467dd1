"""Whatever a client sends, every route answers with a 4xx and a `detail`, never a 500."""
from __future__ import annotations

import json

import pytest

from chalicelib.api.http import ROUTES

JUNK_BODIES = [None, {"x": [1, {"y": None}]}, {"name": ["a"], "id": {"n": 1}, "pk": [["1"]], "variables": ": : :"},
               "not json at all", {"pk": "1,abc", "pk[]": ["x"], "limit": -1}]
IDS = ["999999", "abc", "0", "-1", "1.5"]


def _paths() -> list[str]:
    out = []
    for route in ROUTES:
        if "{id}" in route.path:
            out += [route.path.replace("{id}", i) + "/" for i in IDS]
        else:
            out.append(route.path + "/")
    return out


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_no_route_answers_500_to_junk(api, method):
    for path in _paths():
        for body in JUNK_BODIES:
            raw = body if isinstance(body, str) else (json.dumps(body) if body is not None else None)
            r = api.client.http.request(method, path + "?limit=abc&offset=-3&ordering=nope", body=raw,
                                        headers={"Authorization": f"Token {api.token}",
                                                 "Content-Type": "application/json"})
            assert r.status_code < 500, (method, path, body, r.body[:300])
            if r.status_code >= 400:
                assert "detail" in json.loads(r.body), (method, path, r.body[:300])


# ---------------------------------------------------------------- generic body limits

TAGS = "/api/system/tag/"


def _raw(api, method: str, path: str, body: str | bytes, content_type: str = "application/json"):
    headers = {"Content-Type": content_type}
    if api.token:
        headers["Authorization"] = f"Token {api.token}"
    r = api.client.http.request(method, path, body=body, headers=headers)
    r.data = json.loads(r.body) if r.body else None
    return r


def test_json_nested_a_thousand_deep_is_a_400_even_before_authentication(anon):
    r = _raw(anon, "POST", "/api/auth/token/", "[" * 1000 + "]" * 1000)
    assert r.status_code == 400 and "nested" in r.data["detail"]


def test_json_nested_deeper_than_the_limit_is_a_400_naming_the_field(api):
    r = _raw(api, "POST", TAGS, '{"tag": "x", "comment": ' + "[" * 70 + "]" * 70 + "}")
    assert r.status_code == 400 and r.data["detail"].startswith("comment: nested more than 64")


def test_an_integer_of_thousands_of_digits_is_a_400_naming_the_field(api):
    r = _raw(api, "POST", TAGS, '{"tag": "x", "weight": ' + "9" * 5000 + "}")
    assert r.status_code == 400 and r.data["detail"].startswith("weight: integer out of range")


@pytest.mark.parametrize("number", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_nan_and_infinity_are_refused_naming_the_field(api, number):
    r = _raw(api, "POST", TAGS, f'{{"tag": "x", "weight": {number}}}')
    assert r.status_code == 400 and r.data["detail"].startswith("weight:")


@pytest.mark.parametrize("weight", [2**63, -(2**63), "99999999999999999999"])
def test_integer_fields_hold_64_bits(api, weight):
    r = api.post(TAGS, {"tag": "x", "weight": weight})
    assert r.status_code == 400 and r.data["detail"].startswith("weight:")
    assert api.post(TAGS, {"tag": "x", "weight": 2**63 - 1}).status_code == 201


def test_integer_fields_take_ascii_digits_from_forms(api):
    assert api.post(TAGS, {"tag": "x", "weight": "²"}, form=True).status_code == 400
    r = api.post(TAGS, {"tag": "y", "weight": " 7 "}, form=True)
    assert r.status_code == 201 and r.data["weight"] == 7


@pytest.mark.parametrize("weight", [True, 1.5, "1.5", [1]])
def test_integer_fields_refuse_booleans_fractions_and_lists(api, weight):
    r = api.post(TAGS, {"tag": "x", "weight": weight})
    assert r.status_code == 400 and r.data["detail"] == "weight: A valid integer is required."


def test_an_integral_float_is_an_integer_as_json_schema_says(api):
    r = api.post(TAGS, {"tag": "x", "weight": 3.0})
    assert r.status_code == 201 and r.data["weight"] == 3


def test_a_lone_surrogate_is_a_400_naming_the_field(api):
    r = _raw(api, "POST", TAGS, '{"tag": "a\\ud800b"}')
    assert r.status_code == 400 and r.data["detail"].startswith("tag: contains a lone surrogate")


def test_a_lone_surrogate_in_a_key_is_a_400(api):
    r = _raw(api, "POST", TAGS, '{"tag": "x", "\\udfff": 1}')
    assert r.status_code == 400 and "surrogate" in r.data["detail"]


def test_a_body_that_is_not_utf8_is_a_400(api):
    r = _raw(api, "POST", TAGS, b'{"tag": "\xff\xfe"}')
    assert r.status_code == 400 and r.data["detail"].startswith("body: not valid UTF-8")


def test_a_body_over_the_size_limit_is_a_413_with_a_detail(api):
    from chalicelib.services.limits import MAX_BODY_BYTES

    r = _raw(api, "POST", TAGS, '{"tag": "x", "comment": "' + "a" * MAX_BODY_BYTES + '"}')
    assert r.status_code == 413 and r.data["detail"].startswith("body:")


def test_strings_longer_than_their_field_allows_are_refused(api):
    r = api.post(TAGS, {"tag": "x" * 129})
    assert r.status_code == 400 and r.data["detail"] == "tag: Ensure this field has no more than 128 characters."


def test_a_number_where_a_string_belongs_is_refused(api):
    r = api.post(TAGS, {"tag": 5})
    assert r.status_code == 400 and r.data["detail"] == "tag: Expected a string."


def test_form_bodies_send_strings_for_string_fields(api):
    r = api.post(TAGS, {"tag": "5"}, form=True)
    assert r.status_code == 201 and r.data["tag"] == "5"


# ---------------------------------------------------------------- query strings and paths


@pytest.mark.parametrize("query", ["offset=1.5", "offset=--1", "limit=%C2%B2", "offset=99999999999999999999",
                                   "limit=abc"])
def test_paging_parameters_must_be_integers(api, query):
    r = api.get(f"{TAGS}?{query}")
    name = query.split("=")[0]
    assert r.status_code == 400 and r.data["detail"].startswith(f"{name}:")


@pytest.mark.parametrize("record_id", ["99999999999999999999999", "1" * 5000, "%C2%B2", "1e3"])
def test_an_id_that_is_not_a_64_bit_integer_is_not_found(api, record_id):
    assert api.get(f"{TAGS}{record_id}/").status_code == 404


def test_bulk_delete_ids_must_be_64_bit_integers(api):
    r = api.delete(TAGS, {"pk": "1,99999999999999999999"})
    assert r.status_code == 400 and r.data["detail"].startswith("pk:")
    r = api.delete(TAGS, {"pk[]": [2**64]})
    assert r.status_code == 400 and r.data["detail"].startswith("pk[][0]:")


def test_a_filter_on_an_id_field_must_be_an_integer(api):
    r = api.get("/api/project/host/?inventory=abc")
    assert r.status_code == 400 and r.data["detail"].startswith("inventory:")


def test_the_username_filter_finds_users_by_login(api):
    r = api.get("/api/system/user/?username=admin")
    assert r.status_code == 200 and [u["username"] for u in r.data["results"]] == ["admin"]
    assert api.get("/api/system/user/?username=nobody").data["count"] == 0


def test_a_user_reference_filter_takes_a_login_or_an_id(api, make_user):
    user, _ = make_user("alice")
    team = api.post("/api/system/team/", {"name": "ops"}).data
    assert api.post("/api/system/team/users/", {"username": "alice", "team": team["id"]}).status_code == 201
    by_login = api.get("/api/system/team/users/?username=alice").data
    by_id = api.get(f"/api/system/team/users/?username={user['id']}").data
    assert by_login["count"] == by_id["count"] == 1 and by_login["results"] == by_id["results"]
    assert api.get("/api/system/team/users/?username=nobody").data["count"] == 0


# ---------------------------------------------------------------- YAML fields

HOST_PATH = "/api/project/host/"


@pytest.fixture
def inventory(api) -> int:
    return api.post("/api/project/inventory/", {"name": "inv"}).data["id"]


def _alias_bomb(levels: int) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x, x]"]
    for level in range(1, levels):
        lines.append(f"a{level}: &a{level} [" + ", ".join([f"*a{level - 1}"] * 10) + "]")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_naming_the_field(api, inventory):
    bomb = _alias_bomb(5)
    assert len(bomb) < 300
    r = api.post(HOST_PATH, {"hostname": "web", "inventory": inventory, "variables": bomb})
    assert r.status_code == 400 and r.data["detail"].startswith("variables: YAML refused: its aliases expand it")


def test_too_many_yaml_aliases_are_refused(api, inventory):
    text = "a: &a 1\nb: [" + ", ".join(["*a"] * 1001) + "]\n"
    r = api.post(HOST_PATH, {"hostname": "web", "inventory": inventory, "variables": text})
    assert r.status_code == 400 and "more than 1,000 aliases" in r.data["detail"]


def test_a_yaml_alias_that_contains_itself_is_refused(api, inventory):
    r = api.post(HOST_PATH, {"hostname": "web", "inventory": inventory, "variables": "a: &a [1, *a]"})
    assert r.status_code == 400 and r.data["detail"].startswith("variables: YAML refused")


def test_yaml_anchors_and_merge_keys_keep_working(api, inventory):
    text = "defaults: &defaults\n  port: 22\n  user: deploy\nweb:\n  <<: *defaults\n  port: 2222\nsame: *defaults\n"
    r = api.post(HOST_PATH, {"hostname": "web", "inventory": inventory, "variables": text})
    assert r.status_code == 201, r.body
    hostvars = api.get(f"/api/project/inventory/{inventory}/script/").data["_meta"]["hostvars"]["web"]
    assert hostvars["web"] == {"port": 2222, "user": "deploy"} and hostvars["same"] == {"port": 22, "user": "deploy"}


@pytest.mark.parametrize("text, problem", [
    ("a: " + "[" * 100 + "]" * 100, "nested more than 64"),
    ("a: " + "9" * 5000, "invalid YAML value"),
    ("a: .nan", ".nan and .inf"),
    ("2024-01-01: x", "is not a string or a number"),
    ('a: "\\ud800"', "lone surrogate"),
])
def test_yaml_values_the_api_cannot_store_or_render_are_refused(api, inventory, text, problem):
    r = api.post(HOST_PATH, {"hostname": "web", "inventory": inventory, "variables": text})
    assert r.status_code == 400 and r.data["detail"].startswith("variables") and problem in r.data["detail"]


def test_yaml_limits_apply_to_a_launch_override_too(api):
    from chalicelib.services import launch, store
    from chalicelib.services.errors import ValidationError
    from chalicelib.services.resources import get

    with pytest.raises(ValidationError, match="^variables: YAML refused"):
        launch.merge_variables("", get("job").by_name["variables"].parse(_alias_bomb(5)))
    assert store.count("job") == 0


# ---------------------------------------------------------------- launches and job actions

RUN = "/api/template/template/run/"


@pytest.mark.parametrize("template_id", [True, 1.5, "1.5", [1], 0, 2**63])
def test_a_template_id_must_be_an_integer_id(api, template, template_id):
    from chalicelib.services import store

    r = api.post(RUN, {"id": template_id})
    assert r.status_code == 400 and r.data["detail"].startswith("id: ")
    assert store.count("job") == 0


@pytest.mark.parametrize("template_id", [1.0, "1"])
def test_a_template_id_may_be_an_integral_float_or_a_string_of_digits(api, template_id):
    r = api.post(RUN, {"id": template_id})
    assert r.status_code == 400 and r.data["detail"] == "id: no template with id 1"


def test_a_template_name_must_be_a_string(api, template):
    r = api.post(RUN, {"name": 5})
    assert r.status_code == 400 and r.data["detail"] == "name: Expected a string."


@pytest.mark.parametrize("override, detail", [
    ({"inventory_str": 5}, "inventory_str: Expected a string."),
    ({"limit": ["web"]}, "limit: Expected a string."),
    ({"verbosity": True}, "verbosity: A valid integer is required."),
])
def test_run_overrides_are_parsed_strictly(api, template, override, detail):
    from chalicelib.services import store

    r = api.post(RUN, {"id": template["id"], **override})
    assert r.status_code == 400 and r.data["detail"] == detail
    assert store.count("job") == 0


@pytest.fixture
def finished_job() -> dict:
    from chalicelib.services import store
    from chalicelib.services.resources import get

    return store.create(get("job"), {"state": "successful", "kind": "job", "playbook": "site.yml"})


@pytest.mark.parametrize("hosts", [None, 1, ["all"], ""])
def test_relaunch_hosts_must_be_all_or_failed(api, finished_job, hosts):
    r = api.post(f"/api/job/job/{finished_job['id']}/relaunch/", {"hosts": hosts})
    assert r.status_code == 400 and r.data["detail"].startswith("hosts:")


@pytest.mark.parametrize("value", ["--1", "1.5", "abc", "99999999999999999999"])
def test_the_events_counter_filter_must_be_an_integer(api, finished_job, value):
    r = api.get(f"/api/job/job/{finished_job['id']}/events/?counter__gt={value}")
    assert r.status_code == 400 and r.data["detail"].startswith("counter__gt:")


def test_the_stdout_download_flag_must_be_0_or_1(api, finished_job):
    r = api.get(f"/api/job/job/{finished_job['id']}/stdout/?download=maybe")
    assert r.status_code == 400 and r.data["detail"].startswith("download:")


# ---------------------------------------------------------------- URLs


def test_a_repository_url_python_cannot_split_is_a_400(api):
    r = api.post("/api/project/project/", {"name": "p", "repository_url": "https://[git.example.com/site.git"})
    assert r.status_code == 400 and r.data["detail"].startswith("repository_url: not a valid URL")


def test_a_host_source_url_python_cannot_split_is_a_400(api):
    inventory = api.post("/api/project/inventory/", {"name": "inv"}).data["id"]
    r = api.post("/api/project/host/source/", {"name": "s", "inventory": inventory, "source_type": "restapi",
                                              "url": "https://[cmdb/hosts"})
    assert r.status_code == 400 and r.data["detail"].startswith("url: not a valid URL")

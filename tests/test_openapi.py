"""Issue 2 §8: `GET /api/openapi.json` is a valid OpenAPI 3.1 document generated from the same
declarations that drive the handlers, and it covers every served route."""
from __future__ import annotations

import pytest
from openapi_spec_validator import validate

HTTP_METHODS = {"get", "post", "put", "patch", "delete"}


@pytest.fixture
def document(anon) -> dict:
    r = anon.get("/api/openapi.json")
    assert r.status_code == 200
    return r.data


def normalised(path: str) -> str:
    return path.rstrip("/")


def test_the_document_is_public_and_valid_openapi_3_1(document):
    assert document["openapi"].startswith("3.1")
    validate(document)  # raises on any violation


def test_the_document_lists_every_registered_chalice_route(document, chalice_app):
    served = {normalised(path) for path in chalice_app.routes}
    documented = {normalised(path) for path in document["paths"]}
    assert served == documented


def test_documented_paths_end_with_a_slash_like_client_urls(document):
    for path in document["paths"]:
        assert path.endswith(("/", ".json")), path


def test_each_path_documents_exactly_the_methods_it_serves(document, api):
    from chalicelib.api.http import ROUTES

    for route in ROUTES:
        documented = set(document["paths"][route.path + ("" if route.path.endswith(".json") else "/")]) & HTTP_METHODS
        assert documented == {m.lower() for m in route.methods}, route.path


def test_undocumented_methods_are_refused_with_405(document, api):
    """The converse of the previous test, checked over HTTP on two resources."""
    for path in ("/api/system/team/", "/api/system/tag/"):
        assert "put" not in document["paths"][path]
        assert api.put(path, {}).status_code == 405
        item = path + "{id}/"
        assert "post" not in document["paths"][item]
        assert api.post(path + "1/", {}).status_code == 405


def test_a_resource_collection_documents_paging_ordering_search_and_filters(document):
    params = {p["name"] for p in document["paths"]["/api/system/team/"]["get"]["parameters"]}
    assert {"offset", "limit", "ordering", "search", "name"} <= params
    limit = next(p for p in document["paths"]["/api/system/team/"]["get"]["parameters"] if p["name"] == "limit")
    assert limit["schema"]["maximum"] == 200


def test_record_schemas_come_from_the_declared_fields(document):
    schemas = document["components"]["schemas"]
    env = schemas["EnvironmentVariable"]["properties"]
    assert {"id", "name", "value", "remark"} <= set(env)
    assert set(schemas["EnvironmentVariableInput"]["required"]) == {"name"}
    assert "required" not in schemas["EnvironmentVariablePatch"]


def test_the_user_password_is_write_only_in_the_schema(document):
    schemas = document["components"]["schemas"]
    assert "password" not in schemas["User"]["properties"]
    assert schemas["UserInput"]["properties"]["password"].get("writeOnly") is True


def test_computed_values_are_documented_read_only(document):
    users = document["components"]["schemas"]["Team"]["properties"]["users"]
    assert users.get("readOnly") is True


def test_public_operations_need_no_token_and_the_rest_do(document):
    assert document["security"] == [{"token": []}]
    assert document["paths"]["/api/ping/"]["get"]["security"] == []
    assert document["paths"]["/api/auth/token/"]["post"]["security"] == []
    assert "security" not in document["paths"]["/api/auth/me/"]["get"]
    assert "security" not in document["paths"]["/api/system/team/"]["get"]


def test_operation_ids_are_unique(document):
    ids = [op["operationId"] for item in document["paths"].values() for name, op in item.items()
           if name in HTTP_METHODS]
    assert len(ids) == len(set(ids))


def test_login_documents_its_429_with_a_retry_after_header(document):
    refused = document["paths"]["/api/auth/token/"]["post"]["responses"]["429"]
    assert refused["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    assert refused["headers"]["Retry-After"]["schema"]["type"] == "integer"


def test_only_routes_that_can_answer_429_document_it(document):
    limited = [path for path, ops in document["paths"].items()
               for method, op in ops.items() if method != "parameters" and "429" in op["responses"]]
    assert limited == ["/api/auth/token/"]


# ---------------------------------------------------------------- the document tells the truth


def _schemas(document) -> dict:
    return document["components"]["schemas"]


def _types(schema: dict) -> set:
    kinds = schema.get("type")
    return {kinds} if isinstance(kinds, str) else set(kinds or ())


@pytest.mark.parametrize("family, field", [("Job", "node"), ("Job", "job"), ("Job", "relaunch_of"),
                                           ("Job", "schedule"), ("Job", "started"), ("Project", "last_sync_time"),
                                           ("Credential", "ctime"), ("JobSettings", "project_id")])
def test_fields_that_may_be_null_are_documented_nullable(document, family, field):
    assert "null" in _types(_schemas(document)[family]["properties"][field])


def test_fields_that_are_never_null_are_not_nullable(document):
    props = _schemas(document)["Job"]["properties"]
    assert _types(props["forks"]) == {"integer"} and _types(props["limit"]) == {"string"}


@pytest.mark.parametrize("family, field", [("Credential", "password"), ("Credential", "private_key"),
                                           ("HostSource", "header")])
def test_secret_fields_are_documented_as_the_marker_responses_show(document, family, field):
    schema = _schemas(document)[family]["properties"][field]
    assert _types(schema) == {"string"} and "writeOnly" not in schema
    assert "$encrypted$" in schema["description"]


def test_record_schemas_require_every_field_a_response_holds(document):
    schema = _schemas(document)["Credential"]
    assert set(schema["required"]) == set(schema["properties"])


def test_every_operation_declares_the_errors_it_can_answer(document):
    checked = 0
    for path, item in document["paths"].items():
        for method, op in item.items():
            if method not in HTTP_METHODS:
                continue
            codes = set(op["responses"])
            assert "405" in codes, (method, path)
            if op.get("security") != []:
                assert {"400", "401", "403"} <= codes, (method, path)
            if "{id}" in path:
                assert "404" in codes, (method, path)
            if method != "get":
                assert "409" in codes, (method, path)
            if "requestBody" in op:
                assert "413" in codes, (method, path)
            checked += 1
    assert checked > 100


def test_success_statuses_are_the_ones_served(document):
    paths = document["paths"]
    assert "201" in paths["/api/system/team/"]["post"]["responses"]
    assert "204" in paths["/api/system/team/{id}/"]["delete"]["responses"]
    assert "202" in paths["/api/job/job/{id}/cancel/"]["post"]["responses"]
    assert "201" in paths["/api/job/job/{id}/relaunch/"]["post"]["responses"]
    assert "201" in paths["/api/template/template/run/"]["post"]["responses"]


def test_stdout_is_documented_as_text_or_json(document):
    content = document["paths"]["/api/job/job/{id}/stdout/"]["get"]["responses"]["200"]["content"]
    assert content["text/plain"]["schema"] == {"type": "string"}
    assert content["application/json"]["schema"]["required"] == ["id", "state", "content"]


@pytest.mark.parametrize("path, item_ref", [("/api/job/job/{id}/events/", None),
                                            ("/api/job/job/{id}/host_summaries/", "JobHostSummary"),
                                            ("/api/template/template/run/", "Template")])
def test_custom_lists_document_the_list_envelope(document, path, item_ref):
    schema = document["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert schema["required"] == ["count", "next", "previous", "results"]
    if item_ref:
        assert schema["properties"]["results"]["items"] == {"$ref": f"#/components/schemas/{item_ref}"}


def test_query_parameters_have_the_types_of_their_fields(document):
    def param(path, name):
        return next(p for p in document["paths"][path]["get"]["parameters"] if p["name"] == name)

    assert param("/api/project/host/", "inventory")["schema"]["type"] == "integer"
    assert param("/api/system/user/", "username")["schema"]["type"] == "string"
    assert param("/api/job/job/{id}/events/", "counter__gt")["schema"]["type"] == "integer"
    assert param("/api/job/job/{id}/stdout/", "format")["schema"]["enum"] == ["txt", "ansi", "json"]


# ---------------------------------------------------------------- responses against the document


@pytest.fixture
def seeded(api) -> None:
    """One record of most families, made the way clients make them (plus a job, which needs a runner)."""
    from chalicelib.services import store
    from chalicelib.services.resources import get

    def made(path, body):
        r = api.post(path, body)
        assert r.status_code == 201, (path, r.body)
        return r.data["id"]

    cred = made("/api/project/credential/", {"name": "login", "type": "ssh", "user_name": "root", "password": "pw"})
    project = made("/api/project/project/", {"name": "site", "repository_url": "file:///srv/site.git"})
    inventory = made("/api/project/inventory/", {"name": "prod", "credential": cred})
    made("/api/project/host/", {"hostname": "web1", "inventory": inventory, "variables": "a: 1"})
    made("/api/project/group/", {"name": "web", "inventory": inventory})
    made("/api/project/host/source/", {"name": "api", "inventory": inventory, "source_type": "restapi",
                                       "url": "https://cmdb.example.com/hosts", "header": "X-Token: t"})
    store.update(get("project"), store.get("project", project), {**store.get("project", project), "playbooks": ["site.yml"]})
    template = made("/api/template/template/", {"name": "deploy", "project": project, "playbook": "site.yml",
                                                "inventory": inventory})
    team = made("/api/system/team/", {"name": "ops"})
    made("/api/system/team/users/", {"username": "admin", "team": team})
    made("/api/system/tag/", {"tag": "web"})
    made("/api/system/system/environment/variable/", {"name": "HTTP_PROXY", "value": "http://proxy:3128"})
    made("/api/system/system/jobsettings/", {"workspace": "/tmp", "job_timeout": 0, "idle_timeout": 0, "keep_days": 0})
    job = store.create(get("job"), {"state": "successful", "kind": "job", "template": template, "playbook": "site.yml"})
    store.create(get("job_log"), {"job": job["id"]})
    store.create(get("job_host_summary"), {"job": job["id"], "host": "web1", "ok": 1})



def _check_against_document(document, api, path: str) -> int:
    """GET `path` and validate the answer against the documented response of its status."""
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    template = path.replace("/1/", "/{id}/")
    r = api.get(path)
    responses = document["paths"][template]["get"]["responses"]
    assert str(r.status_code) in responses, (path, r.status_code, r.body[:200])
    content = responses[str(r.status_code)].get("content", {})
    media = next((v for k, v in r.headers.items() if k.lower() == "content-type"), "").split(";")[0]
    assert media in content, (path, media)
    registry = Registry().with_resource("urn:api", Resource.from_contents(document, default_specification=DRAFT202012))
    schema = {"$ref": "urn:api#/paths/" + template.replace("~", "~0").replace("/", "~1")
              + f"/get/responses/{r.status_code}/content/" + media.replace("/", "~1") + "/schema"}
    body = r.data if media == "application/json" else r.body.decode()
    errors = [e.message for e in Draft202012Validator(schema, registry=registry).iter_errors(body)]
    assert not errors, (path, errors[:3])
    return r.status_code


def test_every_get_answers_what_the_document_says(document, api, seeded):
    statuses = []
    for path, item in document["paths"].items():
        if "get" in item and path != "/api/openapi.json":
            statuses.append(_check_against_document(document, api, path.replace("{id}", "1")))
    assert statuses.count(200) > 40


def test_workflow_graph_answers_match_the_document(document, api):
    """Nodes, lines and the graph view, with a workflow as template 1 (its start node is node 1)."""
    r = api.post("/api/template/template/", {"name": "flow", "template_type": "workflow"})
    assert r.status_code == 201 and r.data["id"] == 1
    approval = api.post("/api/template/workflow/node/", {"name": "ok?", "template": 1, "type": "approval", "timeout": 60})
    assert approval.status_code == 201, approval.body
    assert api.post("/api/template/workflow/line/", {"node": 1, "next_node": approval.data["id"], "result": "any"}).status_code == 201
    for path in ("/api/template/template/1/", "/api/template/template/1/workflow/", "/api/template/workflow/node/",
                 "/api/template/workflow/node/1/", "/api/template/workflow/line/", "/api/template/workflow/line/1/"):
        assert _check_against_document(document, api, path) == 200, path


def test_a_multi_select_is_a_list_in_responses_and_a_code_list_or_comma_string_in_requests(document):
    schemas = _schemas(document)
    assert schemas["WorkflowLine"]["properties"]["result"]["type"] == "array"
    accepted = schemas["WorkflowLineInput"]["properties"]["result"]["oneOf"]
    assert [choice["type"] for choice in accepted] == ["string", "array"]
    assert set(accepted[1]["items"]["enum"]) == {"successful", "failed", "any"}

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
        assert path.endswith("/") or path.endswith(".json"), path


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

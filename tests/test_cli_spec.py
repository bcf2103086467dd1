"""What the `opsgrat` CLI reads from the OpenAPI document: the ETag that lets it cache the
document, the `x-opsgrat` facts of every family, and the commands it derives from them."""
from __future__ import annotations

import pytest

from opsgrat_cli import spec
from opsgrat_cli.spec import families_of


@pytest.fixture
def document(anon) -> dict:
    return anon.get("/api/openapi.json").data


@pytest.fixture
def families(document) -> dict[str, spec.Family]:
    return {f.family: f for f in families_of(document)}


def test_the_document_has_an_etag_and_if_none_match_answers_304_without_a_body(anon):
    first = anon.get("/api/openapi.json")
    etag = first.headers["ETag"]
    again = anon.get("/api/openapi.json", headers={"If-None-Match": etag})
    assert (again.status_code, again.body) == (304, b"")
    assert again.headers["ETag"] == etag


def test_a_stale_etag_gets_the_whole_document(anon):
    r = anon.get("/api/openapi.json", headers={"If-None-Match": '"stale"'})
    assert r.status_code == 200 and r.data["openapi"].startswith("3.1")


def test_every_record_schema_names_its_family_key_references_and_secrets(document):
    facts = document["components"]["schemas"]["Host"]["x-opsgrat"]
    assert facts["family"] == "host" and facts["key"] == ["inventory", "hostname"]
    assert facts["refs"]["inventory"] == "inventory"
    assert "password" in document["components"]["schemas"]["Credential"]["x-opsgrat"]["secrets"]


def test_a_family_without_a_unique_field_is_named_by_name_within_its_parent(document):
    assert document["components"]["schemas"]["WorkflowNode"]["x-opsgrat"]["key"] == ["template", "name"]
    assert document["components"]["schemas"]["Inventory"]["x-opsgrat"]["key"] == ["name"]
    assert document["components"]["schemas"]["Job"]["x-opsgrat"]["key"] == []


def test_every_family_served_over_http_becomes_a_command(document, families):
    from chalicelib.services.resources import all_resources

    served = {r.family for r in all_resources() if r.path + "/" in document["paths"]}
    assert len(served) > 30 and served == set(families)
    assert families["host_source"].command == "host-source"


def test_a_family_listed_under_two_paths_keeps_its_own(families):
    assert families["template"].path == "/api/template/template/"
    assert families["template"].item_path == "/api/template/template/{id}/"


def test_create_options_come_from_the_input_schema_with_references_marked(families):
    template = families["template"]
    inputs = {f.name: f for f in template.inputs}
    assert inputs["name"].required and inputs["name"].kind == "string"
    assert inputs["inventory"].ref == "inventory" and inputs["inventory"].kind == "integer"
    assert "id" not in inputs and "template_name" not in inputs


def test_what_a_family_allows_follows_its_routes(families):
    assert families["job"].can_delete and not families["job"].can_update
    assert families["job_log"].read_only and not families["job_log"].can_create
    assert families["tag"].filters == {"tag": "string"} and families["tag"].searchable


class _Answer:
    def __init__(self, status: int, body: dict | None, etag: str):
        self.status_code, self._body, self.headers = status, body, {"ETag": etag}

    def json(self):
        return self._body


class _Installation:
    """A client whose document has the ETag `etag`; it records the If-None-Match it was sent."""

    def __init__(self, document: dict, etag: str):
        self.url, self.document, self.etag, self.sent = "http://installation.test", document, etag, []

    def send(self, method, path, headers=None, **_):
        self.sent.append((headers or {}).get("If-None-Match"))
        if self.sent[-1] == self.etag:
            return _Answer(304, None, self.etag)
        return _Answer(200, self.document, self.etag)


def test_the_families_are_cached_by_etag_and_revalidated(document, tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    installation = _Installation(document, '"v1"')
    first = spec.load(installation)
    second = spec.load(installation)
    assert installation.sent == [None, '"v1"']
    assert [f.family for f in second.families] == [f.family for f in first.families]
    installation.etag = '"v2"'  # a new release: the document is fetched again
    spec.load(installation)
    assert installation.sent[-1] == '"v1"' and spec.cached(installation.url).etag == '"v2"'

"""Spec §1: the conventions every declared resource shares (envelope, paging, ordering, search,
filters, bodies, status codes, bulk delete, 404/405, trailing slashes, ids).

Each behaviour is checked on two resources (teams and environment variables, or tags) so that
what is tested is the shared machinery, not one family.
"""
from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit

import pytest


@dataclass(frozen=True)
class Family:
    """How to make records of one resource in these tests."""

    path: str  # collection path with the trailing slash
    family: str
    key: str  # the required name-like field
    make: Callable[[int], dict]

    def item(self, record_id) -> str:
        return f"{self.path}{record_id}/"


TEAMS = Family("/api/system/team/", "team", "name", lambda i: {"name": f"team{i}", "description": f"desc {i}"})
ENV = Family("/api/system/system/environment/variable/", "environment_variable", "name",
             lambda i: {"name": f"VAR_{i}", "value": str(i), "remark": f"remark {i}"})
TAGS = Family("/api/system/tag/", "tag", "tag", lambda i: {"tag": f"tag{i}", "comment": f"comment {i}"})

TWO = pytest.mark.parametrize("fam", [TEAMS, ENV], ids=["team", "envvar"])
TWO_WITH_TAGS = pytest.mark.parametrize("fam", [TEAMS, TAGS], ids=["team", "tag"])


def create_many(api, fam: Family, n: int, start: int = 1) -> list[dict]:
    out = []
    for i in range(start, start + n):
        r = api.post(fam.path, fam.make(i))
        assert r.status_code == 201, r.body
        out.append(r.data)
    return out


def seed_rows(fam: Family, n: int) -> None:
    """Many rows quickly: one batch write of the records plus their row and id counters, as
    `store.create` would leave them (creating through the API is tested elsewhere)."""
    from chalicelib.models import Counter, Record
    from chalicelib.services import resources, store

    resource = resources.get(fam.family)
    with Record.batch_write() as batch:
        for i in range(1, n + 1):
            rec = {f.name: f.default for f in resource.fields}
            rec.update(fam.make(i), id=i)
            batch.save(store._item(resource, rec))
    Counter(f"count|{fam.family}", value=n).save()
    Counter(f"seq|{fam.family}", value=n).save()


def path_of(link: str) -> str:
    """The path and query of an absolute link, to follow it with the in-process client."""
    parts = urlsplit(link)
    return f"{parts.path}?{parts.query}"


def ids(response) -> list[int]:
    return [row["id"] for row in response.data["results"]]


# ---------------------------------------------------------------- list envelope and paging


@TWO
def test_list_is_an_envelope_of_count_next_previous_results(api, fam):
    create_many(api, fam, 2)
    r = api.get(fam.path)
    assert r.status_code == 200
    assert set(r.data) == {"count", "next", "previous", "results"}
    assert r.data["count"] == 2
    assert r.data["next"] is None and r.data["previous"] is None
    assert len(r.data["results"]) == 2


@TWO
def test_default_page_size_is_20(api, fam):
    seed_rows(fam, 21)
    r = api.get(fam.path)
    assert r.data["count"] == 21
    assert len(r.data["results"]) == 20
    assert parse_qs(urlsplit(r.data["next"]).query) == {"limit": ["20"], "offset": ["20"]}


@TWO
def test_limit_is_capped_at_200(api, fam):
    seed_rows(fam, 201)
    r = api.get(fam.path + "?limit=500")
    assert r.status_code == 200
    assert r.data["count"] == 201
    assert len(r.data["results"]) == 200


@TWO
def test_offset_and_limit_select_a_slice(api, fam):
    created = create_many(api, fam, 5)
    r = api.get(fam.path + "?ordering=id&offset=1&limit=2")
    assert ids(r) == [created[1]["id"], created[2]["id"]]


@TWO
def test_offset_past_the_end_gives_an_empty_page_with_the_full_count(api, fam):
    create_many(api, fam, 3)
    r = api.get(fam.path + "?offset=10")
    assert r.data["count"] == 3
    assert r.data["results"] == []
    assert r.data["next"] is None


@TWO
def test_next_and_previous_are_absolute_links_ending_in_slash_before_the_query(api, fam):
    create_many(api, fam, 5)
    r = api.get(fam.path.rstrip("/") + "?limit=2&offset=2")
    for link in (r.data["next"], r.data["previous"]):
        parts = urlsplit(link)
        assert parts.scheme == "http" and parts.netloc
        assert parts.path == fam.path
    assert parse_qs(urlsplit(r.data["next"]).query) == {"limit": ["2"], "offset": ["4"]}
    assert parse_qs(urlsplit(r.data["previous"]).query) == {"limit": ["2"], "offset": ["0"]}


@TWO
def test_links_use_the_host_and_scheme_the_client_called(api, fam):
    create_many(api, fam, 3)
    r = api.get(fam.path + "?limit=1", headers={"Host": "ops.example.com", "X-Forwarded-Proto": "https"})
    assert r.data["next"].startswith(f"https://ops.example.com{fam.path}?")


@TWO
def test_paging_across_three_pages_returns_every_record_once(api, fam):
    created = create_many(api, fam, 7)
    r = api.get(fam.path + "?limit=3&ordering=id")
    pages = [ids(r)]
    assert r.data["previous"] is None
    while r.data["next"]:
        r = api.get(path_of(r.data["next"]))
        assert r.status_code == 200
        assert r.data["previous"] is not None
        pages.append(ids(r))
    assert [len(p) for p in pages] == [3, 3, 1]
    assert [i for page in pages for i in page] == [rec["id"] for rec in created]


@TWO
def test_paging_links_keep_the_other_query_parameters(api, fam):
    create_many(api, fam, 4)
    r = api.get(fam.path + "?limit=1&ordering=id&search=" + fam.make(0)[fam.key][:3])
    query = parse_qs(urlsplit(r.data["next"]).query)
    assert query["ordering"] == ["id"]
    assert query["search"] == [fam.make(0)[fam.key][:3]]


# ---------------------------------------------------------------- ordering, search, filters


@TWO
def test_ordering_by_id_and_by_minus_id(api, fam):
    created = [rec["id"] for rec in create_many(api, fam, 3)]
    assert ids(api.get(fam.path + "?ordering=id")) == created
    assert ids(api.get(fam.path + "?ordering=-id")) == created[::-1]


@TWO
def test_default_order_is_id_descending(api, fam):
    created = [rec["id"] for rec in create_many(api, fam, 3)]
    assert ids(api.get(fam.path)) == created[::-1]


@TWO
def test_ordering_by_a_listed_field(api, fam):
    for i in (2, 3, 1):
        api.post(fam.path, fam.make(i))
    names = [row[fam.key] for row in api.get(fam.path + f"?ordering={fam.key}").data["results"]]
    assert names == sorted(names)
    names = [row[fam.key] for row in api.get(fam.path + f"?ordering=-{fam.key}").data["results"]]
    assert names == sorted(names, reverse=True)


def test_ordering_by_several_comma_separated_fields(api):
    for name, weight in (("a", 1), ("b", 5), ("c", 1), ("d", 5)):
        assert api.post(TAGS.path, {"tag": name, "weight": weight}).status_code == 201
    r = api.get(TAGS.path + "?ordering=weight,-tag")
    assert [row["tag"] for row in r.data["results"]] == ["c", "a", "d", "b"]


@TWO
def test_unknown_ordering_field_is_400_naming_ordering(api, fam):
    r = api.get(fam.path + "?ordering=nope")
    assert r.status_code == 400
    assert r.data["detail"].startswith("ordering:")


@TWO_WITH_TAGS
def test_search_is_a_case_insensitive_substring_match_on_the_declared_fields(api, fam):
    create_many(api, fam, 3)
    r = api.get(fam.path + "?search=" + fam.make(2)[fam.key].upper())
    assert [row[fam.key] for row in r.data["results"]] == [fam.make(2)[fam.key]]
    assert r.data["count"] == 1


@TWO_WITH_TAGS
def test_search_also_covers_the_second_declared_field(api, fam):
    create_many(api, fam, 3)
    other = "description" if fam is TEAMS else "comment"
    r = api.get(fam.path + "?search=" + fam.make(3)[other].split()[0] + "%203")
    assert [row[fam.key] for row in r.data["results"]] == [fam.make(3)[fam.key]]


@TWO
def test_exact_filter_matches_the_whole_value_only(api, fam):
    create_many(api, fam, 12)
    wanted = fam.make(1)[fam.key]  # also a prefix of the 10th, 11th and 12th
    r = api.get(fam.path + f"?{fam.key}={wanted}")
    assert r.data["count"] == 1
    assert [row[fam.key] for row in r.data["results"]] == [wanted]


@TWO
def test_unsupported_query_parameters_are_ignored(api, fam):
    create_many(api, fam, 2)
    r = api.get(fam.path + "?colour=blue")
    assert r.status_code == 200
    assert r.data["count"] == 2


# ---------------------------------------------------------------- create / update / delete


@TWO
def test_post_returns_201_and_the_created_record(api, fam):
    body = fam.make(1)
    r = api.post(fam.path, body)
    assert r.status_code == 201
    assert isinstance(r.data["id"], int)
    assert {k: r.data[k] for k in body} == body
    assert api.get(fam.item(r.data["id"])).data == r.data


@TWO
def test_create_accepts_a_form_urlencoded_body(api, fam):
    body = fam.make(1)
    r = api.post(fam.path, body, form=True)
    assert r.status_code == 201, r.body
    assert {k: r.data[k] for k in body} == body


def test_form_bodies_carry_integers_as_text(api):
    r = api.post(TAGS.path, {"tag": "x", "weight": "7"}, form=True)
    assert r.status_code == 201
    assert r.data["weight"] == 7


@TWO
def test_update_accepts_a_form_urlencoded_body(api, fam):
    rec = create_many(api, fam, 1)[0]
    r = api.patch(fam.item(rec["id"]), {fam.key: fam.make(9)[fam.key]}, form=True)
    assert r.status_code == 200, r.body
    assert r.data[fam.key] == fam.make(9)[fam.key]


@TWO
def test_put_without_a_required_field_is_400_naming_it(api, fam):
    rec = create_many(api, fam, 1)[0]
    body = {k: v for k, v in fam.make(5).items() if k != fam.key}
    r = api.put(fam.item(rec["id"]), body)
    assert r.status_code == 400
    assert r.data["detail"].startswith(f"{fam.key}:")
    assert api.get(fam.item(rec["id"])).data == rec


@TWO
def test_put_with_every_required_field_replaces_the_record(api, fam):
    rec = create_many(api, fam, 1)[0]
    body = fam.make(5)
    r = api.put(fam.item(rec["id"]), body)
    assert r.status_code == 200, r.body
    assert {k: r.data[k] for k in body} == body
    assert r.data["id"] == rec["id"]


@TWO
def test_patch_changes_only_the_given_fields(api, fam):
    rec = create_many(api, fam, 1)[0]
    other = next(k for k in fam.make(1) if k != fam.key)
    r = api.patch(fam.item(rec["id"]), {other: "changed"})
    assert r.status_code == 200
    assert r.data == {**rec, other: "changed"}


@TWO
def test_delete_returns_204_and_the_record_is_gone(api, fam):
    rec = create_many(api, fam, 1)[0]
    r = api.delete(fam.item(rec["id"]))
    assert r.status_code == 204
    assert r.body in (b"", "")
    assert api.get(fam.item(rec["id"])).status_code == 404
    assert api.get(fam.path).data["count"] == 0


# ---------------------------------------------------------------- bulk delete


def _remaining(api, fam) -> list[int]:
    return sorted(ids(api.get(fam.path + "?limit=200")))


@TWO
@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_bulk_delete_with_a_comma_separated_pk(api, fam, form):
    created = [rec["id"] for rec in create_many(api, fam, 4)]
    r = api.delete(fam.path, {"pk": f"{created[0]},{created[2]}"}, form=form)
    assert r.status_code in (200, 204), r.body
    assert _remaining(api, fam) == [created[1], created[3]]


@TWO
@pytest.mark.parametrize("form", [False, True], ids=["json", "form"])
def test_bulk_delete_with_a_pk_array(api, fam, form):
    created = [rec["id"] for rec in create_many(api, fam, 4)]
    r = api.delete(fam.path, {"pk[]": [created[1], created[3]]}, form=form)
    assert r.status_code in (200, 204), r.body
    assert _remaining(api, fam) == [created[0], created[2]]


@TWO
def test_bulk_delete_with_a_missing_id_is_400_and_deletes_nothing(api, fam):
    created = [rec["id"] for rec in create_many(api, fam, 3)]
    r = api.delete(fam.path, {"pk": f"{created[0]},999"})
    assert r.status_code == 400
    assert r.data["detail"].startswith("pk:")
    assert "999" in r.data["detail"]
    assert _remaining(api, fam) == created


@TWO
def test_bulk_delete_without_ids_is_400(api, fam):
    create_many(api, fam, 1)
    r = api.delete(fam.path, {})
    assert r.status_code == 400
    assert r.data["detail"].startswith("pk:")


@TWO
def test_bulk_delete_with_a_non_integer_id_is_400(api, fam):
    created = [rec["id"] for rec in create_many(api, fam, 2)]
    r = api.delete(fam.path, {"pk": f"{created[0]},abc"})
    assert r.status_code == 400
    assert _remaining(api, fam) == created


# ---------------------------------------------------------------- 404, 405, trailing slash


@TWO
def test_unknown_id_is_404(api, fam):
    for method in ("GET", "PUT", "PATCH", "DELETE"):
        r = api.request(method, fam.item(4242), fam.make(1) if method in ("PUT", "PATCH") else None)
        assert r.status_code == 404, method
        assert "detail" in r.data


@TWO
def test_non_integer_id_is_404(api, fam):
    for bad in ("abc", "1.5", "-1"):
        assert api.get(fam.item(bad)).status_code == 404


@TWO
def test_put_on_a_collection_is_405_with_an_allow_header(api, fam):
    r = api.put(fam.path, fam.make(1))
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "POST", "DELETE"}


@TWO
def test_post_on_an_item_is_405_with_an_allow_header(api, fam):
    rec = create_many(api, fam, 1)[0]
    r = api.post(fam.item(rec["id"]), fam.make(2))
    assert r.status_code == 405
    assert {m.strip() for m in r.headers["Allow"].split(",")} == {"GET", "PUT", "PATCH", "DELETE"}


@TWO
def test_paths_work_with_and_without_the_trailing_slash(api, fam):
    rec = api.post(fam.path.rstrip("/"), fam.make(1))
    assert rec.status_code == 201
    item = fam.item(rec.data["id"])
    assert api.get(fam.path.rstrip("/")).data["count"] == 1
    assert api.get(item.rstrip("/")).data == api.get(item).data
    assert api.patch(item.rstrip("/"), {fam.key: fam.make(2)[fam.key]}).status_code == 200
    assert api.delete(item.rstrip("/")).status_code == 204


# ---------------------------------------------------------------- ids


@TWO
def test_ids_are_increasing_integers_and_never_reused(api, fam):
    first, second = create_many(api, fam, 2)
    assert second["id"] > first["id"]
    api.delete(fam.item(second["id"]))
    third = create_many(api, fam, 1, start=3)[0]
    assert third["id"] > second["id"]


@TWO
def test_a_client_cannot_choose_the_id(api, fam):
    r = api.post(fam.path, {**fam.make(1), "id": 777})
    assert r.status_code == 201
    assert r.data["id"] != 777


# ---------------------------------------------------------------- errors


@TWO
def test_a_missing_required_field_is_400_naming_the_field(api, fam):
    body = {k: v for k, v in fam.make(1).items() if k != fam.key}
    r = api.post(fam.path, body)
    assert r.status_code == 400
    assert r.data == {"detail": f"{fam.key}: This field is required."}


def test_a_wrongly_typed_value_is_400_naming_the_field(api):
    r = api.post(TAGS.path, {"tag": "x", "weight": "heavy"})
    assert r.status_code == 400
    assert r.data["detail"].startswith("weight:")


@TWO
def test_a_duplicate_unique_name_is_400_naming_the_field(api, fam):
    create_many(api, fam, 1)
    r = api.post(fam.path, fam.make(1))
    assert r.status_code == 400
    assert r.data["detail"].startswith(f"{fam.key}:")


@TWO
def test_renaming_onto_an_existing_unique_name_is_400_naming_the_field(api, fam):
    first, second = create_many(api, fam, 2)
    r = api.patch(fam.item(second["id"]), {fam.key: first[fam.key]})
    assert r.status_code == 400
    assert r.data["detail"].startswith(f"{fam.key}:")
    assert api.get(fam.item(second["id"])).data == second


@TWO
def test_a_malformed_json_body_is_400_not_500(api, fam):
    r = api.client.http.request("POST", fam.path, body='{"name": ',
                                headers={"Authorization": f"Token {api.token}", "Content-Type": "application/json"})
    assert r.status_code == 400
    assert "detail" in json.loads(r.body)


@TWO
def test_a_json_body_that_is_not_an_object_is_400(api, fam):
    r = api.client.http.request("POST", fam.path, body="[1, 2]",
                                headers={"Authorization": f"Token {api.token}", "Content-Type": "application/json"})
    assert r.status_code == 400


@TWO
def test_a_bad_paging_parameter_is_400_naming_it(api, fam):
    for query in ("limit=abc", "offset=abc", "offset=-1", "limit=-5", "limit=1.5"):
        r = api.get(f"{fam.path}?{query}")
        assert r.status_code == 400, query
        assert r.data["detail"].startswith(query.split("=")[0] + ":"), query


def test_invalid_yaml_is_400_naming_the_field_and_the_line(api):
    r = api.post("/api/project/inventory/", {"name": "prod", "variables": "a: 1\nb: [1"})
    assert r.status_code == 400
    assert r.data["detail"].startswith("variables:")
    assert "line" in r.data["detail"]

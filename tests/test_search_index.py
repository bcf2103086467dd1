"""`?search=` through the n-gram index (`chalicelib.services.search`): the same answers as the
substring match it replaces, with reads that follow the matches rather than the family's size."""
from __future__ import annotations

import pytest

from bench.calls import CallCounter

INV, HOST = "/api/project/inventory/", "/api/project/host/"


def inventory(api, name: str, description: str = "") -> int:
    r = api.post(INV, {"name": name, "description": description})
    assert r.status_code == 201, r.body
    return r.data["id"]


def found(api, needle: str, path: str = INV, **params) -> list[str]:
    query = "&".join([f"search={needle}", "limit=200", *(f"{k}={v}" for k, v in params.items())])
    r = api.get(f"{path}?{query}")
    assert r.status_code == 200, r.body
    assert r.data["count"] == len(r.data["results"])
    return sorted(row.get("name") or row.get("hostname") for row in r.data["results"])


def gram_ids(family: str, gram: str) -> list[int]:
    from chalicelib.models import Record
    from chalicelib.services import search

    return [int(item.id) for item in Record.query(search.partition(family, gram))]


@pytest.fixture
def inventories(api):
    inventory(api, "Webservers", "frontend nginx")
    inventory(api, "databases", "postgres primary")
    inventory(api, "Web-Cache", "varnish")


def test_search_finds_a_substring_in_the_middle_of_a_word(api, inventories):
    assert found(api, "bser") == ["Webservers"]
    assert found(api, "tabas") == ["databases"]


def test_search_is_case_insensitive(api, inventories):
    assert found(api, "WEB") == ["Web-Cache", "Webservers"]
    assert found(api, "PoStGrEs") == ["databases"]


def test_one_and_two_character_needles_match(api, inventories):
    assert found(api, "-") == ["Web-Cache"]
    assert found(api, "ng") == ["Webservers"]  # "nginx" in the description
    assert found(api, "q") == []


def test_search_covers_the_second_field(api, inventories):
    assert found(api, "varn") == ["Web-Cache"]
    assert found(api, "ar") == ["Web-Cache", "databases"]  # "varnish" and "primary"
    assert found(api, "ba") == ["databases"]  # by name


def test_a_record_with_every_gram_of_the_needle_but_not_the_needle_does_not_match(api):
    inventory(api, "abcd-xbcy")  # holds "abc" and "bcy", the trigrams of "abcy", but not "abcy"
    assert found(api, "abcy") == []
    assert found(api, "d-xb") == ["abcd-xbcy"]


def test_an_updated_name_is_found_by_its_new_value_not_its_old(api):
    inv = inventory(api, "alpha")
    assert api.patch(f"{INV}{inv}/", {"name": "omega"}).status_code == 200
    assert found(api, "omeg") == ["omega"]
    assert found(api, "alph") == []
    assert gram_ids("inventory", "alp") == []  # the removed grams are gone, not only filtered out


def test_a_deleted_record_is_not_found_and_leaves_no_grams(api):
    inv = inventory(api, "ephemeral", "short lived")
    assert api.delete(f"{INV}{inv}/").status_code == 204
    assert found(api, "ephem") == []
    assert gram_ids("inventory", "phe") == [] and gram_ids("inventory", "liv") == []


def test_a_stale_index_entry_is_filtered_out(api):
    from chalicelib.services import search

    inv = inventory(api, "plain")
    search._put("inventory", inv, search.needle_grams("zebra"))  # as a write that failed halfway leaves it
    search._put("inventory", 999, search.needle_grams("zebra"))  # and an id that does not exist
    assert found(api, "zebra") == []


def test_paging_and_count_follow_the_matches(api):
    for i in range(7):
        inventory(api, f"match-{i}")
        inventory(api, f"other-{i}")
    r = api.get(f"{INV}?search=MATCH&limit=3&offset=3&ordering=name")
    assert r.data["count"] == 7
    assert [row["name"] for row in r.data["results"]] == ["match-3", "match-4", "match-5"]
    assert "offset=6" in r.data["next"]


def test_search_with_an_indexed_filter(api):
    first, second = inventory(api, "first"), inventory(api, "second")
    for inv, name in ((first, "web1"), (first, "db1"), (second, "web2")):
        assert api.post(HOST, {"hostname": name, "inventory": inv}).status_code == 201
    assert found(api, "web", HOST, inventory=first) == ["web1"]
    assert found(api, "web", HOST) == ["web1", "web2"]


def test_a_long_description_is_found_through_the_long_partition(api):
    from chalicelib.services import search

    text = "lorem ipsum " * 40 + "needle-in-haystack " + "dolor sit " * 20
    assert len(text) > search.LONG_VALUE
    inv = inventory(api, "essay", text)
    inventory(api, "short", "tiny")
    assert gram_ids("inventory", search.LONG) == [inv]
    assert gram_ids("inventory", "hay") == []  # a long value is not split into grams
    assert found(api, "in-hay") == ["essay"]
    assert found(api, "ess") == ["essay"]  # its short name is indexed as usual
    assert api.patch(f"{INV}{inv}/", {"description": "brief now"}).status_code == 200
    assert gram_ids("inventory", search.LONG) == []
    assert found(api, "brief") == ["essay"]


def test_reindex_indexes_records_written_without_grams(api):
    from chalicelib.models import Counter
    from chalicelib.services import resources, search, store

    resource = resources.get("inventory")
    # as an older version stored them: the record only, and no marker for the family
    Counter(search.marker(resource)).delete()
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(search, "before_write", lambda *args: None)
        store.create(resource, {"name": "legacy-box", "description": ""})
    assert gram_ids("inventory", "leg") == []
    assert found(api, "acy-b") == ["legacy-box"]  # not indexed yet: the partition is read, as before
    assert search.reindex_missing() == {"inventory": 1}
    assert gram_ids("inventory", "leg") != []
    assert found(api, "acy-b") == ["legacy-box"]
    assert search.reindex_missing() == {}  # once


def test_a_rename_back_by_a_concurrent_edit_keeps_its_grams(api):
    """Edit 1 renamed "foo" to "bar"; before it deleted foo's grams, edit 2 renamed it back: the
    deletes of edit 1 must not leave "foo" unsearchable."""
    from chalicelib.services import resources, search

    resource = resources.get("inventory")
    inv = inventory(api, "foofoo")  # the record as edit 2 left it, with its grams
    pending = search.Pending(resource, inv, False, added=search.grams_of("barbar") - search.grams_of("foofoo"),
                             removed=search.grams_of("foofoo") - search.grams_of("barbar"))
    search.after_write(pending)  # edit 1 finishing late
    assert found(api, "oof") == ["foofoo"]
    assert inv in gram_ids("inventory", "oof")


def test_writes_of_a_family_without_search_fields_touch_no_index(api):
    from chalicelib.services import resources, store

    counter = CallCounter()
    counter.install()
    try:
        job = store.create(resources.get("job"), {"name": "x"})
        store.update(resources.get("job"), job, {**job, "name": "y"})
    finally:
        counter.uninstall()
    assert "BatchWriteItem" not in counter.dynamodb()


def test_search_reads_follow_the_matches_not_the_family(api):
    """The same search with 10, 60 and 110 records that share grams with the needle but do not
    match: the same calls, and no more items read at 110 than at 60."""
    from chalicelib.services import resources, store

    resource = resources.get("inventory")

    def measure() -> tuple[int, int]:
        counter = CallCounter()
        counter.install()
        try:
            assert found(api, "needle") == ["needle-1", "needle-2"]
        finally:
            counter.uninstall()
        return sum(counter.dynamodb().values()), counter.items

    def haystack(start: int, stop: int) -> None:
        for i in range(start, stop):
            store.create(resource, {"name": f"haystack-{i}", "description": "needs a ladle"})

    haystack(0, 5)
    for i in (1, 2):
        store.create(resource, {"name": f"needle-{i}"})
    haystack(5, 10)
    small = measure()
    haystack(10, 60)
    larger = measure()
    haystack(60, 110)
    largest = measure()
    # the same calls; the items read are at most a page per query (pages fill up, then stop growing)
    assert small[0] == larger[0] == largest[0]
    assert larger == largest


# ---------------------------------------------------------------- the local stack's moto


def test_moto_partition_queries_answer_as_dynamodb(aws_mock):
    """The partition read of chalicelib.local.moto_patches: key conditions, both directions,
    Limit and paging give what a walk of the partition gives."""
    from chalicelib.models import Record

    for i in (5, 1, 9, 3, 7, 2, 8):
        Record(f"p|{i % 2}", i, body="{}").save()
        Record("p|all", i, body="{}").save()
    Record("p|all", 4, body="{}").save()
    Record.get("p|all", 9).delete()

    def ids(*args, **kwargs) -> list[int]:
        return [int(item.id) for item in Record.query("p|all", *args, **kwargs)]

    assert ids() == [1, 2, 3, 4, 5, 7, 8]
    assert ids(scan_index_forward=False) == [8, 7, 5, 4, 3, 2, 1]
    assert ids(Record.id >= 4, limit=2) == [4, 5]
    assert ids(Record.id > 4, page_size=2) == [5, 7, 8]
    assert ids(Record.id < 4, scan_index_forward=False, page_size=1) == [3, 2, 1]
    assert ids(Record.id.between(2, 7)) == [2, 3, 4, 5, 7]
    assert ids(Record.id == 7) == [7]
    assert [int(i.id) for i in Record.query("p|1")] == [1, 3, 5, 7, 9]

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

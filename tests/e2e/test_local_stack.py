"""The local stack over real HTTP: what a user of `make dev` sees."""
from __future__ import annotations

import os

import pytest

from tests.localstack import RunningStack

pytestmark = pytest.mark.e2e


def test_ping_answers_without_a_token(stack):
    r = stack.session.get(stack.url + "/api/ping/", headers={"Authorization": ""})
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


def test_requests_without_a_token_get_401(stack):
    import requests

    r = requests.get(stack.url + "/api/system/team/", timeout=30)
    assert r.status_code == 401
    assert "detail" in r.json()


def test_first_start_seeds_the_spec_modules(stack):
    r = stack.http("GET", "/api/system/system/module/?limit=200")
    assert r.status_code == 200
    names = [m["name"] for m in r.json()["results"]]
    assert names[:3] == ["command", "yum", "pip"] and names[-1] == "shell" and len(names) == 13


def test_form_body_creates_a_record(stack):
    r = stack.http("POST", "/api/system/tag/", data={"tag": "e2e-form", "weight": "3", "comment": "form"})
    assert r.status_code == 201, r.text
    assert r.json()["weight"] == 3


def test_path_without_trailing_slash_is_served(stack):
    assert stack.http("GET", "/api/system/tag").status_code == 200


def test_method_not_allowed_names_the_allowed_methods(stack):
    r = stack.http("PUT", "/api/system/tag/")
    assert r.status_code == 405
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "POST", "DELETE"}


@pytest.mark.parametrize("method", ["TRACE", "FOO", "HEAD"])
def test_a_method_no_route_serves_gets_the_api_405(stack, method):
    r = stack.http(method, "/api/system/tag/1/")
    assert r.status_code == 405
    assert set(r.headers["Allow"].replace(" ", "").split(",")) == {"GET", "PUT", "PATCH", "DELETE"}
    if method != "HEAD":  # a HEAD answer has no body
        assert r.json() == {"detail": f'Method "{method}" not allowed.'}


def test_a_burst_of_200_simultaneous_connections_is_served_not_reset(stack):
    import http.client
    import threading
    from concurrent.futures import ThreadPoolExecutor

    clients = 200
    start = threading.Barrier(clients)

    def ping(_: int) -> object:
        start.wait()
        connection = http.client.HTTPConnection("127.0.0.1", stack.port, timeout=60)
        try:
            connection.request("GET", "/api/ping/")
            return connection.getresponse().status
        except OSError as exc:
            return type(exc).__name__
        finally:
            connection.close()

    with ThreadPoolExecutor(clients) as pool:
        answers = list(pool.map(ping, range(clients)))
    assert answers == [200] * clients, sorted(set(map(str, answers)))


def test_next_link_is_absolute_and_followable(stack):
    for n in range(3):
        stack.http("POST", "/api/system/system/environment/variable/", json={"name": f"PAGE_{n}", "value": "v"})
    first = stack.http("GET", "/api/system/system/environment/variable/?limit=2&search=PAGE_").json()
    assert first["next"].startswith(stack.url + "/api/system/system/environment/variable/?")
    second = stack.session.get(first["next"], timeout=30).json()
    assert second["previous"] is not None
    assert len(second["results"]) >= 1


def test_bulk_delete_with_a_form_body(stack):
    ids = [stack.http("POST", "/api/system/tag/", json={"tag": f"bulk-{n}"}).json()["id"] for n in range(2)]
    r = stack.http("DELETE", "/api/system/tag/", data={"pk": ",".join(map(str, ids))})
    assert r.status_code == 200, r.text
    assert sorted(r.json()["deleted"]) == sorted(ids)
    assert stack.http("GET", f"/api/system/tag/{ids[0]}/").status_code == 404


def test_records_survive_a_restart(tmp_path):
    first = RunningStack(tmp_path / "home").start()
    try:
        team = first.http("POST", "/api/system/team/", json={"name": "survivors"}).json()
        token = first.token
    finally:
        assert first.stop() == 0
    second = RunningStack(tmp_path / "home").start()
    try:
        assert second.token == token
        r = second.http("GET", f"/api/system/team/{team['id']}/")
        assert r.status_code == 200
        assert r.json()["name"] == "survivors"
        created = second.http("POST", "/api/system/team/", json={"name": "after restart"}).json()
        assert created["id"] > team["id"]
    finally:
        assert second.stop() == 0


def test_a_job_running_when_the_stack_stops_is_failed_with_the_reason_at_the_next_start(tmp_path):
    first = RunningStack(tmp_path / "home").start()
    try:
        r = first.http("POST", "/api/job/job/", json={
            "module": "command", "arguments": "sleep 300",
            "inventory_str": "localhost ansible_connection=local"})
        assert r.status_code == 201, r.text
        job = first.wait_job(r.json()["id"], states=("running",), timeout=60)
        assert job["state"] == "running"
        runner_pid = int((first.home / "runners" / f"job-{job['id']}.pid").read_text())
    finally:
        assert first.stop() == 0
    with pytest.raises(ProcessLookupError):  # the stop took the runner with it
        os.kill(runner_pid, 0)
    second = RunningStack(tmp_path / "home").start()
    try:
        after = second.http("GET", f"/api/job/job/{job['id']}/").json()
        assert after["state"] == "failed"
        assert "local stack stopped" in after["reason"]
    finally:
        assert second.stop() == 0

"""Notifications end to end: real jobs in the local stack put their state events on the event
bus, the bus's rule hands them to the notify queue, and its handler sends them to real servers
on loopback (an HTTP recorder, an SMTP server)."""
from __future__ import annotations

import socket
import time

import pytest

from tests.localstack import free_port
from tests.webhooks import Recorder

pytestmark = pytest.mark.e2e

PLAYBOOKS = {
    "ok.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: {msg: fine}\n",
    "fail.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - fail: {msg: broken}\n",
}


@pytest.fixture(scope="module")
def templates(stack, tmp_path_factory):
    return stack.playbook_templates(tmp_path_factory.mktemp("notify"), PLAYBOOKS, "notify")


@pytest.fixture
def recorder():
    with Recorder() as rec:
        yield rec


def _notification(stack, **fields) -> dict:
    r = stack.http("POST", "/api/notification/notification/", json=fields)
    assert r.status_code == 201, r.text
    return r.json()


def _bind(stack, template, notification, result):
    r = stack.http("POST", "/api/template/template/notification/", json={"template": template["id"],
                                                                        "notification": notification["id"], "result": result})
    assert r.status_code == 201, r.text
    return r.json()


def _run(stack, template) -> dict:
    return stack.wait_job(stack.http("POST", "/api/template/template/run/", json={"id": template["id"]}).json()["id"])


def _deliveries(stack, job_id: int, count: int, timeout: float = 30) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        rows = stack.http("GET", f"/api/job/job/{job_id}/notifications/").json()["results"]
        if len(rows) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.2)


def test_a_failing_job_notifies_its_start_and_its_failure_but_not_a_success(stack, templates, recorder):
    template = templates["fail.yml"]
    hook = lambda which: _notification(stack, name=f"fail {which}", channel="Webhook", url=f"{recorder.url}/{which}",  # noqa: E731
                                       body_template='{"which": "' + which + '", "job": {{ job.id }}, "state": {{ job.state | tojson }}}')
    _bind(stack, template, hook("started"), "started")
    _bind(stack, template, hook("failed"), "failed")
    _bind(stack, template, hook("successful"), "successful")
    job = _run(stack, template)
    assert job["state"] == "failed"
    received = recorder.wait(2)
    time.sleep(1)  # a wrong third one would have arrived by now
    assert sorted(r.path for r in recorder.received) == ["/failed", "/started"]
    failed = next(r for r in received if r.path == "/failed").json()
    assert failed == {"which": "failed", "job": job["id"], "state": "failed"}
    rows = _deliveries(stack, job["id"], 2)
    assert sorted((r["event"], r["result"]) for r in rows) == [("finished", "sent"), ("started", "sent")]


def test_an_endpoint_that_is_down_neither_delays_nor_fails_the_job(stack, templates):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{s.getsockname()[1]}/hook"  # nothing listens once the socket closes
    template = templates["ok.yml"]
    quiet = _run(stack, template)
    binding = _bind(stack, template, _notification(stack, name="down", channel="Webhook", url=dead), ["started", "successful"])
    job = _run(stack, template)
    try:
        assert job["state"] == "successful"
        assert job["elapsed"] < quiet["elapsed"] + 2, "the job did not wait for its notifications"
        rows = _deliveries(stack, job["id"], 8, timeout=60)
        assert sorted((r["event"], r["attempt"], r["result"]) for r in rows) == sorted(
            (event, n, "failed" if n == 4 else "retrying") for event in ("started", "finished") for n in range(1, 5))
    finally:
        stack.http("DELETE", f"/api/template/template/notification/{binding['id']}/")


def test_an_email_notification_reaches_a_real_smtp_server(stack, templates):
    from aiosmtpd.controller import Controller

    class Inbox:
        messages: list = []

        async def handle_DATA(self, server, session, envelope):
            self.messages.append(envelope)
            return "250 OK"

    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        setting = stack.http("POST", "/api/notification/email/", json={
            "name": "loopback smtp", "email_host": "127.0.0.1", "email_port": port, "email_from": "opsgrat@example.test"}).json()
        mail = _notification(stack, name="mail ops", channel="Email", channel_id=setting["id"],
                             target_list="ops@example.test\r\noncall@example.test",
                             subject_template="{{ job.name }} {{ job.state }}")
        _bind(stack, templates["ok.yml"], mail, "successful")
        job = _run(stack, templates["ok.yml"])
        rows = _deliveries(stack, job["id"], 1)
        assert rows and rows[0]["result"] == "sent", rows
        envelope = inbox.messages[-1]
        assert sorted(envelope.rcpt_tos) == ["oncall@example.test", "ops@example.test"]
        assert b"Subject: notify ok.yml successful" in envelope.content
    finally:
        controller.stop()

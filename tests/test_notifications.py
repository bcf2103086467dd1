"""Notifications through the API (in-process, moto) and their delivery for job events, against
a real HTTP server on loopback (`tests/webhooks.py`)."""
from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from chalicelib import aws
from chalicelib.services import store
from chalicelib.services.resources import get
from chalicelib.stack import STACK
from tests.webhooks import Recorder

ENCRYPTED = "$encrypted$"


@pytest.fixture
def recorder():
    with Recorder() as rec:
        yield rec


@pytest.fixture(autouse=True)
def quick_retries(monkeypatch):
    from chalicelib.services.notifications import deliver

    monkeypatch.setattr(deliver, "BACKOFF", (0.01, 0.01, 0.01))


def _webhook(api, recorder, name="hook", **fields) -> dict:
    body = {"name": name, "channel": "Webhook", "url": f"{recorder.url}/hook/TOKEN-123", **fields}
    r = api.post("/api/notification/notification/", body)
    assert r.status_code == 201, r.body
    return r.data


def _bind(api, template, notification, result) -> dict:
    r = api.post("/api/template/template/notification/", {"template": template["id"], "notification": notification["id"],
                                                           "result": result})
    assert r.status_code == 201, r.body
    return r.data


def _job(template, state="failed", **fields) -> dict:
    job = store.create(get("job"), {"template": template["id"], "kind": "job", "state": state, "cuser": 1,
                                    "started": "2026-12-01T10:00:00.000000Z", "finished": "2026-12-01T10:00:09.500000Z",
                                    "elapsed": 9.5, **fields})
    store.create(get("job_host_summary"), {"job": job["id"], "host": "web1", "ok": 3, "failures": 1})
    store.create(get("job_host_summary"), {"job": job["id"], "host": "web2", "ok": 4})
    return job


def _event(job: dict, event: str = "finished") -> list:
    from chalicelib.services.notifications import deliver

    return deliver.handle({"detail": {"job": job["id"], "event": event, "state": job["state"]}})


def _deliveries(api, job) -> list[dict]:
    r = api.get(f"/api/job/job/{job['id']}/notifications/")
    assert r.status_code == 200, r.body
    return r.data["results"]


# ---------------------------------------------------------------- settings and notifications


def test_channel_setting_secrets_are_write_only_and_stored_encrypted(api):
    r = api.post("/api/notification/email/", {"name": "mail", "email_host": "127.0.0.1", "email_port": 2525,
                                              "email_user": "ops", "email_password": "pa55word"})
    assert r.status_code == 201, r.body
    assert r.data["email_password"] == ENCRYPTED
    assert "pa55word" not in json.dumps(api.get(f"/api/notification/email/{r.data['id']}/").data)
    assert store.get("email_setting", r.data["id"])["email_password"] != "pa55word"
    api.patch(f"/api/notification/email/{r.data['id']}/", {"email_password": ENCRYPTED, "email_port": 25})
    from chalicelib.services import secrets

    assert secrets.revealed(get("email_setting"), store.get("email_setting", r.data["id"]))["email_password"] == "pa55word"


@pytest.mark.parametrize("path, secret", [("/api/notification/dingtalk/", "corpsecret"),
                                          ("/api/notification/qiye/weixin/settings/", "corpsecret")])
def test_dingtalk_and_wecom_secrets_are_write_only(api, path, secret):
    r = api.post(path, {"name": "app", "agent_id": "1000002", "corpid": "ww93", secret: "s3cr3t"})
    assert r.status_code == 201, r.body
    assert r.data[secret] == ENCRYPTED and "s3cr3t" not in json.dumps(api.get(f"{path}{r.data['id']}/").data)


def test_only_superusers_change_channel_settings(api, make_user):
    _, as_user = make_user()
    assert as_user.post("/api/notification/qiye/weixin/settings/",
                        {"name": "x", "agent_id": "1", "corpid": "c", "corpsecret": "s"}).status_code == 403


def test_a_seed_channel_notification_names_its_setting_and_targets(api):
    setting = api.post("/api/notification/qiye/weixin/settings/", {"name": "wecom", "agent_id": "1000002",
                                                                    "corpid": "ww93", "corpsecret": "s"}).data
    base = {"name": "n", "channel": "QiYeWeiXin"}
    assert api.post("/api/notification/notification/", base).data["detail"].startswith("channel_id:")
    assert api.post("/api/notification/notification/", {**base, "channel_id": 999}).data["detail"].startswith("channel_id:")
    assert api.post("/api/notification/notification/", {**base, "channel_id": setting["id"]}).data["detail"].startswith("target_list:")
    r = api.post("/api/notification/notification/", {**base, "channel_id": setting["id"], "target_list": "ChenShaong\r\nCenCeng"})
    assert r.status_code == 201, r.body
    assert r.data["channel_name"] == "WeCom" and r.data["channel_type_name"] == "wecom"


@pytest.mark.parametrize("fields, field", [
    ({"channel": "Webhook"}, "url"),
    ({"channel": "Slack", "url": "ftp://x"}, "url"),
    ({"channel": "SNS"}, "topic_arn"),
    ({"channel": "SNS", "topic_arn": "not-an-arn"}, "topic_arn"),
    ({"channel": "Pager"}, "channel"),
    ({"channel": "Webhook", "url": "http://127.0.0.1/", "headers": "- a list"}, "headers"),
    ({"channel": "Webhook", "url": "http://127.0.0.1/", "method": "DELETE"}, "method"),
    ({"channel": "Webhook", "url": "http://127.0.0.1/", "body_template": "{\"a\": {{ job.id }"}, "body_template"),
    ({"channel": "Webhook", "url": "http://127.0.0.1/", "body_template": "not json {{ job.id }}"}, "body_template"),
    ({"channel": "Slack", "url": "http://127.0.0.1/", "subject_template": "{% if %}"}, "subject_template"),
])
def test_a_bad_notification_is_a_400_naming_the_field(api, fields, field):
    r = api.post("/api/notification/notification/", {"name": "bad", **fields})
    assert r.status_code == 400, r.body
    assert r.data["detail"].startswith(f"{field}:"), r.data


def test_a_template_syntax_error_names_its_line(api):
    r = api.post("/api/notification/notification/", {"name": "bad", "channel": "Slack", "url": "http://127.0.0.1/",
                                                     "body_template": "line one\n{{ job.name }\n"})
    assert r.status_code == 400 and "line 2" in r.data["detail"]


def test_a_sandbox_escape_is_refused_at_save_time(api):
    r = api.post("/api/notification/notification/", {"name": "evil", "channel": "Slack", "url": "http://127.0.0.1/",
                                                     "body_template": "{{ ''.__class__.__mro__[1].__subclasses__() }}"})
    assert r.status_code == 400 and r.data["detail"].startswith("body_template:")


def test_webhook_url_headers_and_secret_are_write_only(api, recorder):
    hook = _webhook(api, recorder, headers="Authorization: Bearer abc", secret="sign-me")
    shown = json.dumps(api.get(f"/api/notification/notification/{hook['id']}/").data)
    assert "TOKEN-123" not in shown and "Bearer abc" not in shown and "sign-me" not in shown
    assert hook["url"] == ENCRYPTED and hook["headers"] == ENCRYPTED and hook["secret"] == ENCRYPTED


# ---------------------------------------------------------------- bindings


def test_a_binding_takes_one_result_or_several_and_answers_a_list(api, template, recorder):
    hook = _webhook(api, recorder)
    assert _bind(api, template, hook, "failed")["result"] == ["failed"]
    other = _webhook(api, recorder, name="two")
    binding = _bind(api, template, other, ["successful", "started"])
    assert binding["result"] == ["started", "successful"]
    assert binding["notification_name"] == "two" and binding["notification_channel"] == "Webhook"
    listed = api.get(f"/api/template/template/notification/?template={template['id']}").data
    assert listed["count"] == 2


def test_binding_needs_write_on_the_template_and_read_on_the_notification(api, template, recorder, make_user):
    user, as_user = make_user()
    hook = _webhook(api, recorder)
    body = {"template": template["id"], "notification": hook["id"], "result": "failed"}
    api.post("/api/template/template/permission/users/", {"username": user["id"], "data": template["id"], "permission": "write"})
    assert as_user.post("/api/template/template/notification/", body).status_code == 403, "no read on the notification"
    api.post("/api/notification/notification/permission/users/", {"username": user["id"], "data": hook["id"], "permission": "read"})
    assert as_user.post("/api/template/template/notification/", body).status_code == 201


def test_a_user_with_only_read_on_the_template_cannot_bind(api, template, recorder, make_user):
    user, as_user = make_user()
    hook = as_user.post("/api/notification/notification/", {"name": "mine", "channel": "Webhook", "url": recorder.url}).data
    api.post("/api/template/template/permission/users/", {"username": user["id"], "data": template["id"], "permission": "read"})
    r = as_user.post("/api/template/template/notification/", {"template": template["id"], "notification": hook["id"],
                                                               "result": "failed"})
    assert r.status_code == 403


def test_deleting_a_notification_deletes_its_bindings(api, template, recorder):
    hook = _webhook(api, recorder)
    binding = _bind(api, template, hook, "failed")
    assert api.delete(f"/api/notification/notification/{hook['id']}/").status_code == 204
    assert api.get(f"/api/template/template/notification/{binding['id']}/").status_code == 404


# ---------------------------------------------------------------- delivery


def test_a_failed_job_sends_the_failed_binding_and_not_the_successful_one(api, template, recorder):
    failed = _webhook(api, recorder, name="on failure", body_template='{"which": "failed", "job": {{ job.id }}}')
    succeeded = _webhook(api, recorder, name="on success", body_template='{"which": "successful"}')
    _bind(api, template, failed, "failed")
    _bind(api, template, succeeded, "successful")
    job = _job(template, "failed")
    _event(job)
    assert [r.json() for r in recorder.received] == [{"which": "failed", "job": job["id"]}]


def test_started_sends_the_started_binding(api, template, recorder):
    _bind(api, template, _webhook(api, recorder), "started")
    job = _job(template, "running")
    _event(job, "started")
    assert len(recorder.received) == 1 and recorder.received[0].json()["event"] == "started"


def test_a_canceled_job_counts_as_failed(api, template, recorder):
    _bind(api, template, _webhook(api, recorder), "failed")
    _event(_job(template, "canceled"))
    assert len(recorder.received) == 1


def test_the_default_webhook_body_is_json_with_the_failed_hosts(api, template, recorder):
    _bind(api, template, _webhook(api, recorder), "failed")
    job = _job(template, "failed")
    _event(job)
    body = recorder.received[0].json()
    assert body["job"]["id"] == job["id"] and body["job"]["state"] == "failed"
    assert body["failed_hosts"] == ["web1"] and body["job"]["template_name"] == template["name"]
    assert recorder.received[0].headers["Content-Type"] == "application/json"


def test_a_custom_body_with_quotes_and_unicode_arrives_intact(api, template, recorder):
    body = '{"text": {{ ("Déploiement «" ~ job.name ~ "» \\"a\\" échoué — 失败") | tojson }}}'
    _bind(api, template, _webhook(api, recorder, body_template=body), "failed")
    store.update(get("template"), store.get("template", template["id"]), {**store.get("template", template["id"]), "name": 'le "site"'})
    _event(_job(template, "failed"))
    assert recorder.received[0].json() == {"text": 'Déploiement «le "site"» "a" échoué — 失败'}


def test_a_signed_webhook_carries_an_hmac_of_its_body(api, template, recorder):
    _bind(api, template, _webhook(api, recorder, secret="sign-me", headers={"X-Team": "ops"}), "failed")
    _event(_job(template, "failed"))
    received = recorder.received[0]
    expected = "sha256=" + hmac.new(b"sign-me", received.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(received.headers["X-OpsGrat-Signature"], expected)
    assert received.headers["X-Team"] == "ops"


def test_an_endpoint_that_answers_500_twice_then_200_gets_three_attempts_and_one_delivery(api, template, recorder):
    _bind(api, template, _webhook(api, recorder), "failed")
    recorder.answer(500)
    recorder.answer(500)
    job = _job(template, "failed")
    _event(job)
    assert len(recorder.received) == 3
    assert [(d["attempt"], d["result"], d["status"]) for d in _deliveries(api, job)] == [
        (1, "retrying", 500), (2, "retrying", 500), (3, "sent", 200)]


def test_a_429_is_retried_after_its_retry_after(api, template, recorder, monkeypatch):
    from chalicelib.services.notifications import deliver

    waits = []
    monkeypatch.setattr(deliver.time, "sleep", waits.append)
    _bind(api, template, _webhook(api, recorder), "failed")
    recorder.answer(429, {"Retry-After": "3"})
    _event(_job(template, "failed"))
    assert len(recorder.received) == 2 and waits == [3.0]


def test_a_delivery_that_keeps_failing_is_recorded_as_failed(api, template, recorder):
    _bind(api, template, _webhook(api, recorder), "failed")
    for _ in range(10):
        recorder.answer(503)
    job = _job(template, "failed")
    _event(job)
    rows = _deliveries(api, job)
    assert len(rows) == 4 and rows[-1]["result"] == "failed" and rows[-1]["status"] == 503


def test_a_client_error_is_not_retried(api, template, recorder):
    _bind(api, template, _webhook(api, recorder), "failed")
    recorder.answer(404)
    job = _job(template, "failed")
    _event(job)
    assert len(recorder.received) == 1 and _deliveries(api, job)[0]["result"] == "failed"


def test_a_redelivered_event_sends_nothing_twice(api, template, recorder):
    _bind(api, template, _webhook(api, recorder), "failed")
    job = _job(template, "failed")
    _event(job)
    _event(job)
    assert len(recorder.received) == 1


def test_the_recorded_deliveries_hold_no_secret(api, template, recorder):
    _bind(api, template, _webhook(api, recorder, secret="sign-me"), "failed")
    recorder.answer(400, body=b"bad request")
    job = _job(template, "failed")
    _event(job)
    shown = json.dumps(_deliveries(api, job))
    assert "TOKEN-123" not in shown and "sign-me" not in shown
    assert _deliveries(api, job)[0]["target"] == "Webhook URL"


def test_the_job_notifications_follow_the_jobs_visibility(api, template, recorder, make_user):
    _, as_user = make_user()
    _bind(api, template, _webhook(api, recorder), "failed")
    job = _job(template, "failed")
    _event(job)
    assert as_user.get(f"/api/job/job/{job['id']}/notifications/").status_code == 403


def test_a_job_event_put_on_the_bus_reaches_the_notify_queue(api, template, recorder):
    from chalicelib.services.notifications import deliver, events

    _bind(api, template, _webhook(api, recorder), "failed")
    job = _job(template, "failed")
    events.publish(job, events.JobEvent.FINISHED)
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=STACK.queue(STACK.NOTIFY_QUEUE).name)["QueueUrl"]
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1
    deliver.handle(json.loads(messages[0]["Body"]))
    assert len(recorder.received) == 1


def test_finishing_a_job_puts_its_event_on_the_bus(api, template):
    from chalicelib.services import jobs

    job = _job(template, "running")
    jobs.finish(job["id"], jobs.JobState.FAILED, "boom")
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=STACK.queue(STACK.NOTIFY_QUEUE).name)["QueueUrl"]
    bodies = [json.loads(m["Body"]) for m in sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10,
                                                                 WaitTimeSeconds=1).get("Messages", [])]
    assert [b["detail"]["event"] for b in bodies] == ["finished"]
    assert bodies[0]["detail"]["state"] == "failed" and bodies[0]["detail-type"] == STACK.JOB_EVENT


def test_the_test_endpoint_sends_now_and_answers_with_the_result(api, recorder):
    hook = _webhook(api, recorder)
    r = api.post(f"/api/notification/notification/{hook['id']}/test/")
    assert r.status_code == 200, r.body
    assert r.data["ok"] is True and r.data["attempts"][0]["status"] == 200
    assert len(recorder.received) == 1
    recorder.answer(500)
    r = api.post(f"/api/notification/notification/{hook['id']}/test/")
    assert r.data["ok"] is False and len(r.data["attempts"]) == 1, "a test is tried once: the caller waits"


def test_the_test_endpoint_needs_execute_on_the_notification(api, recorder, make_user):
    user, as_user = make_user()
    hook = _webhook(api, recorder)
    api.post("/api/notification/notification/permission/users/", {"username": user["id"], "data": hook["id"], "permission": "read"})
    assert as_user.post(f"/api/notification/notification/{hook['id']}/test/").status_code == 403


def test_a_notification_to_sns_is_published(api, template):
    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="ops-events")["TopicArn"]
    queue = sqs.create_queue(QueueName="ops-events-inbox")["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": "true"})
    r = api.post("/api/notification/notification/", {"name": "sns", "channel": "SNS", "topic_arn": topic})
    assert r.status_code == 201, r.body
    _bind(api, template, r.data, "failed")
    _event(_job(template, "failed"))
    messages = sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", [])
    assert len(messages) == 1 and "failed" in messages[0]["Body"]


def test_no_secret_reaches_the_logs_of_a_delivery(api, template, recorder, caplog):
    email = api.post("/api/notification/email/", {"name": "mail", "email_host": "127.0.0.1", "email_port": 9,
                                                  "email_user": "ops", "email_password": "mail-pa55"}).data
    mail = api.post("/api/notification/notification/", {"name": "mail", "channel": "Email", "channel_id": email["id"],
                                                        "target_list": "ops@example.test"}).data
    _bind(api, template, mail, "failed")
    _bind(api, template, _webhook(api, recorder, secret="sign-me", headers="Authorization: Bearer abc"), "failed")
    recorder.answer(500, body=b"upstream said TOKEN-123")
    _event(_job(template, "failed"))
    logged = "\n".join(str(record.__dict__) for record in caplog.records)  # messages and their extra keys
    assert logged.count("notification failed") == 2, "both failed deliveries were logged"
    for secret in ("TOKEN-123", "sign-me", "Bearer abc", "mail-pa55"):
        assert secret not in logged


def test_every_channel_a_notification_may_name_has_a_sender():
    from chalicelib.services.catalog.notification import CHANNELS
    from chalicelib.services.notifications import channels

    assert set(CHANNELS) == set(channels.CHANNELS)


def test_a_channel_setting_a_notification_names_is_kept_until_the_notification_goes(api):
    wecom = api.post("/api/notification/qiye/weixin/settings/", {"name": "wecom", "agent_id": "1", "corpid": "c",
                                                                  "corpsecret": "s"}).data
    ding = api.post("/api/notification/dingtalk/", {"name": "ding", "agent_id": "1", "corpid": "c", "corpsecret": "s"}).data
    assert wecom["id"] == ding["id"], "the same id in two families: only the named family is kept"
    named = api.post("/api/notification/notification/", {"name": "n", "channel": "QiYeWeiXin", "channel_id": wecom["id"],
                                                         "target_list": "someone"}).data
    r = api.delete(f"/api/notification/qiye/weixin/settings/{wecom['id']}/")
    assert r.status_code == 400 and f"notification {named['id']}" in r.data["detail"]
    assert api.delete(f"/api/notification/dingtalk/{ding['id']}/").status_code == 204
    assert api.delete(f"/api/notification/notification/{named['id']}/").status_code == 204
    assert api.delete(f"/api/notification/qiye/weixin/settings/{wecom['id']}/").status_code == 204

"""The channel senders against real servers on 127.0.0.1: an aiosmtpd SMTP server (plain,
STARTTLS, implicit TLS, with certificates made here), an HTTP server that records requests and
answers from a queue (webhooks, Slack, Teams, and fakes of DingTalk's and WeCom's APIs), and
SNS through moto. Every server is started and stopped by its fixture."""
from __future__ import annotations

import datetime
import email
import email.policy
import email.utils
import hashlib
import hmac
import ipaddress
import json
import socket
import ssl
import threading
import time
from collections import deque
from dataclasses import dataclass
from urllib.parse import quote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from chalicelib.services.notifications import channels
from chalicelib.services.notifications.channels import Attempt, Message, send
from tests.webhooks import Answer, Received, Recorder

UTF8_SUBJECT = "Déploiement «prod» a échoué — 失败"
UTF8_BODY = 'Job "deploy" n\'a pas abouti: l\'hôte «web-1» est injoignable — 主机不可达.\n'
TIMEOUT = 2.0


@pytest.fixture(autouse=True)
def no_leftover_threads():
    """Every server a test starts is stopped by its fixture: no thread outlives the test."""
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2
    while (left := set(threading.enumerate()) - before) and time.monotonic() < deadline:
        time.sleep(0.01)
    assert not left, f"threads left running: {left}"


@pytest.fixture(autouse=True)
def fresh_tokens():
    channels.forget_tokens()
    yield
    channels.forget_tokens()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------------------ certificates

@dataclass(frozen=True)
class Certs:
    ca: str
    cert: str
    key: str

    def server_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.load_cert_chain(self.cert, self.key)
        return context


def _name(common: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common)])


@pytest.fixture(scope="module")
def certs(tmp_path_factory) -> Certs:
    """A CA and a server certificate for 127.0.0.1 and localhost signed by it."""
    directory = tmp_path_factory.mktemp("certs")
    now = datetime.datetime.now(datetime.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_cert = (
        x509.CertificateBuilder().subject_name(_name("OpsGrat test CA")).issuer_name(_name("OpsGrat test CA"))
        .public_key(ca_key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, content_commitment=False,
                                     key_encipherment=False, data_encipherment=False, key_agreement=False,
                                     encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder().subject_name(_name("localhost")).issuer_name(ca_cert.subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName("localhost"),
                                                    x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certs(str(directory / "ca.pem"), str(directory / "server.pem"), str(directory / "server.key"))
    with open(paths.ca, "wb") as f:
        f.write(ca_cert.public_bytes(serialization.Encoding.PEM))
    with open(paths.cert, "wb") as f:
        f.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(paths.key, "wb") as f:
        f.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return paths


@pytest.fixture
def trust_test_ca(certs, monkeypatch):
    monkeypatch.setenv("SSL_CERT_FILE", certs.ca)


# ------------------------------------------------------------------------------------- SMTP

class Mailbox:
    """An aiosmtpd handler that keeps every envelope it accepts."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):  # noqa: N802 - aiosmtpd's hook name
        self.envelopes.append(envelope)
        return "250 OK"

    def message(self, index: int = 0) -> email.message.EmailMessage:
        return email.message_from_bytes(self.envelopes[index].content, policy=email.policy.default)


def body_of(mail: email.message.EmailMessage) -> str:
    """The text as written: SMTP carries lines ending in CRLF."""
    return mail.get_content().replace("\r\n", "\n")


USER, PASSWORD = "mailer", "pa55-w0rd!"


def authenticator(server, session, envelope, mechanism, auth_data):
    ok = isinstance(auth_data, LoginPassword) and auth_data.login == USER.encode() and auth_data.password == PASSWORD.encode()
    return AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535 itself


@pytest.fixture
def smtp_server():
    """start(**Controller kwargs) -> (port, mailbox); every server started is stopped at the end."""
    started = []

    def start(**kwargs) -> tuple[int, Mailbox]:
        mailbox = Mailbox()
        port = free_port()
        controller = Controller(mailbox, hostname="127.0.0.1", port=port, server_hostname="localhost", **kwargs)
        controller.start()
        started.append(controller)
        return port, mailbox

    yield start
    for controller in started:
        controller.stop()


def email_settings(port: int, **overrides) -> dict:
    return {"email_host": "127.0.0.1", "email_port": port, "email_user": "", "email_password": "", "email_tls": 0,
            "email_ssl": 0, "email_from": "opsgrat@example.com", **overrides}


MAIL = Message("Job 7 failed", "deploy failed on web-1", ("ops@example.com", "dev@example.com"))


def test_email_plain_reaches_every_recipient(smtp_server):
    port, mailbox = smtp_server()
    attempt = send("Email", email_settings(port), {}, MAIL, timeout=TIMEOUT)
    assert attempt == Attempt(True, status=250)
    envelope = mailbox.envelopes[0]
    assert envelope.mail_from == "opsgrat@example.com"
    assert envelope.rcpt_tos == ["ops@example.com", "dev@example.com"]
    mail = mailbox.message()
    assert mail["Subject"] == "Job 7 failed"
    assert mail["To"] == "ops@example.com, dev@example.com"
    assert body_of(mail) == "deploy failed on web-1\n"


def test_email_from_defaults_to_user(smtp_server):
    port, mailbox = smtp_server(authenticator=authenticator, auth_require_tls=False)
    attempt = send("Email", email_settings(port, email_from="", email_user=USER, email_password=PASSWORD), {}, MAIL, TIMEOUT)
    assert attempt.ok, attempt
    assert mailbox.envelopes[0].mail_from == USER


def test_email_utf8_subject_and_body_arrive_intact(smtp_server):
    port, mailbox = smtp_server()
    attempt = send("Email", email_settings(port), {}, Message(UTF8_SUBJECT, UTF8_BODY, ("ops@example.com",)), TIMEOUT)
    assert attempt.ok, attempt
    mail = mailbox.message()
    assert mail["Subject"] == UTF8_SUBJECT
    assert body_of(mail) == UTF8_BODY


def test_email_starttls_verifies_the_server_and_logs_in(smtp_server, certs, trust_test_ca):
    port, mailbox = smtp_server(tls_context=certs.server_context(), require_starttls=True, authenticator=authenticator)
    attempt = send("Email", email_settings(port, email_tls=1, email_user=USER, email_password=PASSWORD), {}, MAIL, TIMEOUT)
    assert attempt.ok, attempt
    assert len(mailbox.envelopes) == 1


def test_email_starttls_untrusted_certificate_fails_for_good(smtp_server, certs):
    port, mailbox = smtp_server(tls_context=certs.server_context(), require_starttls=True)
    attempt = send("Email", email_settings(port, email_tls=1), {}, MAIL, TIMEOUT)
    assert not attempt.ok and not attempt.transient
    assert "certificate" in attempt.detail
    assert mailbox.envelopes == []


def test_email_implicit_ssl(smtp_server, certs, trust_test_ca):
    port, mailbox = smtp_server(ssl_context=certs.server_context())
    attempt = send("Email", email_settings(port, email_ssl=1), {}, Message(UTF8_SUBJECT, UTF8_BODY, ("ops@example.com",)), TIMEOUT)
    assert attempt.ok, attempt
    assert mailbox.message()["Subject"] == UTF8_SUBJECT


def test_email_wrong_password_is_not_transient(smtp_server, certs, trust_test_ca):
    port, mailbox = smtp_server(tls_context=certs.server_context(), require_starttls=True, authenticator=authenticator)
    attempt = send("Email", email_settings(port, email_tls=1, email_user=USER, email_password="wrong-password"), {}, MAIL, TIMEOUT)
    assert not attempt.ok and not attempt.transient
    assert attempt.status == 535
    assert "authentication failed" in attempt.detail and "wrong-password" not in attempt.detail
    assert mailbox.envelopes == []


def test_email_without_credentials_does_not_log_in(smtp_server):
    # the server offers AUTH but does not require it: a client without a password just sends
    port, mailbox = smtp_server(authenticator=authenticator, auth_require_tls=False)
    assert send("Email", email_settings(port, email_user=USER), {}, MAIL, TIMEOUT).ok
    assert len(mailbox.envelopes) == 1


def test_email_server_down_is_transient():
    attempt = send("Email", email_settings(free_port()), {}, MAIL, TIMEOUT)
    assert not attempt.ok and attempt.transient
    assert "connection failed" in attempt.detail


def test_email_4xx_reply_is_transient_and_5xx_is_not(smtp_server):
    class Busy(Mailbox):
        def __init__(self, reply):
            super().__init__()
            self.reply = reply

        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook name
            return self.reply

    results = []
    for reply in ("451 4.3.0 try again later", "550 5.1.1 no such user"):
        port = free_port()
        controller = Controller(Busy(reply), hostname="127.0.0.1", port=port, server_hostname="localhost")
        controller.start()
        try:
            results.append(send("Email", email_settings(port), {}, Message("s", "b", ("ops@example.com",)), TIMEOUT))
        finally:
            controller.stop()
    assert (results[0].ok, results[0].status, results[0].transient) == (False, 451, True)
    assert (results[1].ok, results[1].status, results[1].transient) == (False, 550, False)
    assert "no such user" in results[1].detail


def test_email_partly_refused_fails_listing_the_refused(smtp_server):
    class Picky(Mailbox):
        async def handle_RCPT(self, server, session, envelope, address, rcpt_options):  # noqa: N802 - aiosmtpd's hook name
            if address.startswith("gone@"):
                return "550 5.1.1 no such user"
            envelope.rcpt_tos.append(address)
            return "250 OK"

    port = free_port()
    mailbox = Picky()
    controller = Controller(mailbox, hostname="127.0.0.1", port=port, server_hostname="localhost")
    controller.start()
    try:
        attempt = send("Email", email_settings(port, email_from="OpsGrat <opsgrat@example.com>"), {},
                       Message("s", "b", ("ops@example.com", "gone@example.com")), TIMEOUT)
    finally:
        controller.stop()
    assert (attempt.ok, attempt.status, attempt.transient) == (False, 550, False)
    assert attempt.detail.startswith("1 of 2 recipients took it; refused: gone@example.com (SMTP 550")
    assert mailbox.envelopes[0].rcpt_tos == ["ops@example.com"]
    assert mailbox.envelopes[0].mail_from == "opsgrat@example.com"


def test_email_without_recipients_fails():
    attempt = send("Email", email_settings(25), {}, Message("s", "b"), TIMEOUT)
    assert attempt == Attempt(False, detail="Email: no recipients")


# ------------------------------------------------------------------------------------- HTTP

@pytest.fixture
def http():
    with Recorder() as recorder:
        yield recorder


HOOK_PATH = "/hook/SECRET-TOKEN"


def hook(http: Recorder, **fields) -> dict:
    return {"url": http.url + HOOK_PATH, "method": "POST", "headers": {}, "secret": "", **fields}


EVENT = Message("Job 7 failed", json.dumps({"job": 7, "status": "failed", "note": UTF8_SUBJECT}, ensure_ascii=False))


def test_webhook_post_sends_body_and_custom_headers(http):
    attempt = send("Webhook", None, hook(http, headers={"X-Team": "ops", "Authorization": "Bearer abc"}), EVENT, TIMEOUT)
    assert attempt == Attempt(True, status=200)
    [request] = http.received
    assert (request.method, request.path) == ("POST", HOOK_PATH)
    assert request.body == EVENT.body.encode("utf-8")
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["X-Team"] == "ops" and request.headers["Authorization"] == "Bearer abc"


def test_webhook_put_keeps_a_custom_content_type(http):
    attempt = send("Webhook", None, hook(http, method="PUT", headers={"content-type": "application/vnd.ops+json"}), EVENT, TIMEOUT)
    assert attempt.ok
    [request] = http.received
    assert request.method == "PUT"
    assert request.headers["Content-Type"] == "application/vnd.ops+json"


def test_webhook_signature_is_hmac_sha256_of_the_body(http):
    secret = "hmac-shared-secret"
    assert send("Webhook", None, hook(http, secret=secret), EVENT, TIMEOUT).ok
    [request] = http.received
    expected = "sha256=" + hmac.new(secret.encode(), request.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(request.headers["X-OpsGrat-Signature"], expected)


def test_webhook_without_secret_has_no_signature(http):
    assert send("Webhook", None, hook(http), EVENT, TIMEOUT).ok
    assert "X-OpsGrat-Signature" not in http.received[0].headers


def test_webhook_500_is_transient_with_status(http):
    http.answer(500, body="boom")
    attempt = send("Webhook", None, hook(http), EVENT, TIMEOUT)
    assert attempt == Attempt(False, status=500, detail="HTTP 500: boom", transient=True)


def test_webhook_500_500_200_succeeds_on_the_third_try(http):
    http.answer(500)
    http.answer(502)
    attempts = [send("Webhook", None, hook(http), EVENT, TIMEOUT) for _ in range(3)]
    assert [(a.ok, a.status, a.transient) for a in attempts] == [(False, 500, True), (False, 502, True), (True, 200, False)]


def test_webhook_429_gives_retry_after_seconds(http):
    http.answer(429, {"Retry-After": "2"}, "slow down")
    attempt = send("Webhook", None, hook(http), EVENT, TIMEOUT)
    assert (attempt.ok, attempt.status, attempt.transient, attempt.retry_after) == (False, 429, True, 2.0)


def test_webhook_503_retry_after_as_http_date(http):
    when = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=120)
    http.answer(503, {"Retry-After": email.utils.format_datetime(when, usegmt=True)})
    attempt = send("Webhook", None, hook(http), EVENT, TIMEOUT)
    assert attempt.transient and 115 <= attempt.retry_after <= 120


def test_webhook_404_is_not_transient(http):
    http.answer(404, body="no such hook")
    attempt = send("Webhook", None, hook(http), EVENT, TIMEOUT)
    assert (attempt.ok, attempt.status, attempt.transient) == (False, 404, False)


def test_webhook_redirect_is_not_followed(http):
    http.answer(302, {"Location": "http://127.0.0.1:1/elsewhere"})
    attempt = send("Webhook", None, hook(http), EVENT, TIMEOUT)
    assert (attempt.ok, attempt.status, attempt.transient) == (False, 302, False)
    assert len(http.received) == 1


def test_webhook_detail_quotes_at_most_200_characters(http):
    http.answer(400, body="x" * 1000)
    attempt = send("Webhook", None, hook(http), EVENT, TIMEOUT)
    assert attempt.detail == "HTTP 400: " + "x" * 200


def test_webhook_detail_never_has_the_url_token(http):
    http.answer(400, body=f"unknown hook {http.url + HOOK_PATH} (path {HOOK_PATH}, encoded {quote(http.url + HOOK_PATH, safe='')})")
    attempt = send("Webhook", None, hook(http), EVENT, TIMEOUT)
    assert not attempt.ok and "SECRET-TOKEN" not in attempt.detail


def test_webhook_closed_port_is_transient_without_the_url():
    notification = {"url": f"http://127.0.0.1:{free_port()}{HOOK_PATH}", "method": "POST"}
    attempt = send("Webhook", None, notification, EVENT, TIMEOUT)
    assert (attempt.ok, attempt.status, attempt.transient) == (False, None, True)
    assert "SECRET-TOKEN" not in attempt.detail and "127.0.0.1" not in attempt.detail


def test_webhook_timeout_is_transient():
    with socket.socket() as silent:  # accepts connections (the backlog) and never answers
        silent.bind(("127.0.0.1", 0))
        silent.listen(1)
        notification = {"url": f"http://127.0.0.1:{silent.getsockname()[1]}{HOOK_PATH}", "method": "POST"}
        attempt = send("Webhook", None, notification, EVENT, timeout=0.2)
    assert not attempt.ok and attempt.transient
    assert attempt.detail.startswith("timed out") and "SECRET-TOKEN" not in attempt.detail


def test_webhook_unsupported_method_fails():
    attempt = send("Webhook", None, {"url": "http://127.0.0.1:1/", "method": "DELETE"}, EVENT, TIMEOUT)
    assert attempt == Attempt(False, detail="unsupported webhook method 'DELETE'")


def test_slack_payload(http):
    assert send("Slack", None, {"url": http.url + HOOK_PATH}, Message(UTF8_SUBJECT, "line 1\nline 2"), TIMEOUT).ok
    [request] = http.received
    assert request.method == "POST" and request.headers["Content-Type"] == "application/json"
    assert request.json() == {"text": f"*{UTF8_SUBJECT}*\nline 1\nline 2"}


def test_slack_escapes_its_control_characters(http):
    assert send("Slack", None, {"url": http.url + HOOK_PATH}, Message("a & b", "<!channel> x > y"), TIMEOUT).ok
    assert http.received[0].json() == {"text": "*a &amp; b*\n&lt;!channel&gt; x &gt; y"}


def test_teams_payload_is_one_adaptive_card(http):
    http.answer(202)  # Power Automate workflows answer 202 Accepted
    attempt = send("Teams", None, {"url": http.url + HOOK_PATH}, Message(UTF8_SUBJECT, UTF8_BODY), TIMEOUT)
    assert attempt == Attempt(True, status=202)
    assert http.received[0].json() == {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": UTF8_SUBJECT, "weight": "Bolder", "size": "Medium", "wrap": True},
                    {"type": "TextBlock", "text": UTF8_BODY, "wrap": True},
                ],
            },
        }],
    }


def test_unknown_channel_fails():
    attempt = send("Pager", None, {}, EVENT)
    assert attempt == Attempt(False, detail="unknown channel 'Pager'")


# -------------------------------------------------------------------------- DingTalk and WeCom

CORP_SECRET = "corp-SECRET-value"


class CorpFake:
    """DingTalk's or WeCom's token and send endpoints on the fake HTTP server. Tokens are
    "token-1", "token-2"... in the order they are handed out; `send_errcodes` answers the next sends."""

    def __init__(self, http: Recorder, token_path: str, send_path: str, token_error: int):
        self.http, self.token_path, self.send_path, self.token_error = http, token_path, send_path, token_error
        self.issued = 0
        self.send_errcodes: deque[int] = deque()
        http.routes[token_path] = self.gettoken
        http.routes[send_path] = self.send

    def gettoken(self, request: Received) -> Answer:
        if CORP_SECRET not in request.query.values():
            return self._json({"errcode": self.token_error, "errmsg": "invalid credential"})
        self.issued += 1
        return self._json({"errcode": 0, "errmsg": "ok", "access_token": f"token-{self.issued}", "expires_in": 7200})

    def send(self, request: Received) -> Answer:
        errcode = self.send_errcodes.popleft() if self.send_errcodes else 0
        return self._json({"errcode": errcode, "errmsg": "ok" if errcode == 0 else "access_token expired", "task_id": 1})

    @staticmethod
    def _json(data: dict) -> Answer:
        return 200, {"Content-Type": "application/json"}, json.dumps(data).encode()

    @property
    def sends(self) -> list[Received]:
        return [r for r in self.http.received if r.route == self.send_path]

    @property
    def token_calls(self) -> list[Received]:
        return [r for r in self.http.received if r.route == self.token_path]


@pytest.fixture
def wecom(http, monkeypatch) -> CorpFake:
    monkeypatch.setenv("OPSGRAT_WECOM_URL", http.url)
    return CorpFake(http, "/cgi-bin/gettoken", "/cgi-bin/message/send", token_error=40001)


@pytest.fixture
def dingtalk(http, monkeypatch) -> CorpFake:
    monkeypatch.setenv("OPSGRAT_DINGTALK_URL", http.url)
    return CorpFake(http, "/gettoken", "/topapi/message/corpconversation/asyncsend_v2", token_error=40089)


CORP = {"agent_id": "1000002", "corpid": "corp-id-1", "corpsecret": CORP_SECRET}
TO_TWO = Message("Job 7 failed", "deploy failed", ("zhangsan", "lisi"))


def test_wecom_payload_joins_users_with_bar_and_sends_agentid_as_int(wecom):
    assert send("QiYeWeiXin", CORP, {}, TO_TWO, TIMEOUT) == Attempt(True, status=200)
    [token_call] = wecom.token_calls
    assert token_call.query == {"corpid": "corp-id-1", "corpsecret": CORP_SECRET}
    [request] = wecom.sends
    assert request.query == {"access_token": "token-1"}
    assert request.json() == {"touser": "zhangsan|lisi", "msgtype": "text", "agentid": 1000002,
                              "text": {"content": "Job 7 failed\ndeploy failed"}}


def test_dingtalk_payload_joins_users_with_comma_and_sends_agent_id_as_int(dingtalk):
    assert send("DingTalk", CORP, {}, TO_TWO, TIMEOUT) == Attempt(True, status=200)
    [token_call] = dingtalk.token_calls
    assert token_call.query == {"appkey": "corp-id-1", "appsecret": CORP_SECRET}
    [request] = dingtalk.sends
    assert request.query == {"access_token": "token-1"}
    assert request.json() == {"agent_id": 1000002, "userid_list": "zhangsan,lisi",
                              "msg": {"msgtype": "text", "text": {"content": "Job 7 failed\ndeploy failed"}}}


@pytest.mark.parametrize("channel", ["QiYeWeiXin", "DingTalk"])
def test_corp_token_is_fetched_once_and_reused(channel, wecom, dingtalk):
    fake = wecom if channel == "QiYeWeiXin" else dingtalk
    assert send(channel, CORP, {}, TO_TWO, TIMEOUT).ok
    assert send(channel, CORP, {}, TO_TWO, TIMEOUT).ok
    assert len(fake.token_calls) == 1
    assert [r.query["access_token"] for r in fake.sends] == ["token-1", "token-1"]


def test_corp_token_cache_is_per_secret(wecom):
    assert send("QiYeWeiXin", CORP, {}, TO_TWO, TIMEOUT).ok
    assert not send("QiYeWeiXin", {**CORP, "corpsecret": "rotated-secret"}, {}, TO_TWO, TIMEOUT).ok
    assert len(wecom.token_calls) == 2


@pytest.mark.parametrize(("channel", "expired"), [("QiYeWeiXin", 42001), ("QiYeWeiXin", 40014), ("DingTalk", 88), ("DingTalk", 33001)])
def test_corp_expired_token_is_refetched_and_sent_once_more(channel, expired, wecom, dingtalk):
    fake = wecom if channel == "QiYeWeiXin" else dingtalk
    assert send(channel, CORP, {}, TO_TWO, TIMEOUT).ok
    fake.send_errcodes.append(expired)
    assert send(channel, CORP, {}, TO_TWO, TIMEOUT) == Attempt(True, status=200)
    assert len(fake.token_calls) == 2
    assert [r.query["access_token"] for r in fake.sends] == ["token-1", "token-1", "token-2"]


def test_corp_token_expired_twice_fails_without_a_third_send(wecom):
    wecom.send_errcodes.extend([42001, 42001])
    attempt = send("QiYeWeiXin", CORP, {}, TO_TWO, TIMEOUT)
    assert not attempt.ok and not attempt.transient
    assert "errcode 42001" in attempt.detail and "token-" not in attempt.detail
    assert len(wecom.sends) == 2


@pytest.mark.parametrize(("channel", "errcode"), [("QiYeWeiXin", 40001), ("DingTalk", 40089)])
def test_corp_wrong_secret_fails_with_errcode_and_no_secret(channel, errcode, wecom, dingtalk):
    fake = wecom if channel == "QiYeWeiXin" else dingtalk
    attempt = send(channel, {**CORP, "corpsecret": "wrong-SECRET-value"}, {}, TO_TWO, TIMEOUT)
    assert not attempt.ok and not attempt.transient
    assert f"errcode {errcode}" in attempt.detail and "invalid credential" in attempt.detail
    assert "SECRET" not in attempt.detail and "token-" not in attempt.detail
    assert fake.sends == []


def test_corp_other_errcode_fails_and_busy_is_transient(wecom):
    wecom.send_errcodes.extend([81013, -1])
    refused = send("QiYeWeiXin", CORP, {}, TO_TWO, TIMEOUT)
    busy = send("QiYeWeiXin", CORP, {}, TO_TWO, TIMEOUT)
    assert (refused.ok, refused.transient) == (False, False) and "errcode 81013" in refused.detail
    assert (busy.ok, busy.transient) == (False, True) and "errcode -1" in busy.detail
    assert len(wecom.token_calls) == 1


def test_corp_http_500_is_transient(http, monkeypatch):
    monkeypatch.setenv("OPSGRAT_DINGTALK_URL", http.url)
    http.answer(500, body="down")
    attempt = send("DingTalk", CORP, {}, TO_TWO, TIMEOUT)
    assert (attempt.ok, attempt.status, attempt.transient) == (False, 500, True)
    assert CORP_SECRET not in attempt.detail


def test_corp_without_recipients_or_integer_agent_fails():
    assert send("DingTalk", CORP, {}, Message("s", "b"), TIMEOUT) == Attempt(False, detail="DingTalk: no recipients")
    assert send("QiYeWeiXin", {**CORP, "agent_id": "x"}, {}, TO_TWO, TIMEOUT) == Attempt(
        False, detail="QiYeWeiXin agent_id is not an integer")


# --------------------------------------------------------------------------------------- SNS

@pytest.fixture
def sns_topic(aws_mock):
    """(topic ARN, receive(raw) -> the SQS bodies of a queue subscribed to it)."""
    from chalicelib import aws

    sns, sqs = aws.client("sns"), aws.client("sqs")
    topic = sns.create_topic(Name="opsgrat-test-notifications")["TopicArn"]
    queues = {}
    for raw in (True, False):
        url = sqs.create_queue(QueueName=f"opsgrat-test-{'raw' if raw else 'envelope'}")["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=arn, Attributes={"RawMessageDelivery": str(raw).lower()})
        queues[raw] = url

    def receive(raw: bool) -> list[str]:
        messages = sqs.receive_message(QueueUrl=queues[raw], MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        return [m["Body"] for m in messages]

    return topic, receive


def test_sns_message_arrives_raw_with_its_body(sns_topic):
    topic, receive = sns_topic
    attempt = send("SNS", None, {"topic_arn": topic}, Message(UTF8_SUBJECT, UTF8_BODY), TIMEOUT)
    assert attempt == Attempt(True, status=200)
    assert receive(raw=True) == [UTF8_BODY]


def test_sns_envelope_has_subject_and_body(sns_topic):
    topic, receive = sns_topic
    assert send("SNS", None, {"topic_arn": topic}, Message(UTF8_SUBJECT, UTF8_BODY), TIMEOUT).ok
    [envelope] = [json.loads(body) for body in receive(raw=False)]
    assert (envelope["Subject"], envelope["Message"]) == (UTF8_SUBJECT, UTF8_BODY)


def test_sns_subject_is_one_line_under_100_characters(sns_topic):
    topic, receive = sns_topic
    assert send("SNS", None, {"topic_arn": topic}, Message("Job 7\nfailed\t" + "x" * 200, "body"), TIMEOUT).ok
    [envelope] = [json.loads(body) for body in receive(raw=False)]
    assert envelope["Subject"].startswith("Job 7 failed xxx") and len(envelope["Subject"]) == 99


def test_sns_missing_topic_fails(aws_mock):
    attempt = send("SNS", None, {"topic_arn": "arn:aws:sns:us-east-1:123456789012:no-such-topic"}, Message("s", "b"), TIMEOUT)
    assert not attempt.ok and not attempt.transient
    assert attempt.status == 404 and attempt.detail.startswith("SNS NotFound")


def test_sns_throttling_is_transient(aws_mock):
    from botocore.stub import Stubber

    from chalicelib import aws

    with Stubber(aws.client("sns")) as stub:
        stub.add_client_error("publish", service_error_code="Throttled", service_message="Rate exceeded", http_status_code=429)
        attempt = send("SNS", None, {"topic_arn": "arn:aws:sns:us-east-1:123456789012:busy"}, Message("s", "b"), TIMEOUT)
    assert attempt == Attempt(False, status=429, detail="SNS Throttled: Rate exceeded", transient=True)

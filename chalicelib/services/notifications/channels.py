"""Sending one rendered message over one notification channel.

The caller hands over decrypted settings and a rendered `Message` and gets an `Attempt` back;
this module knows no HTTP API of OpsGrat, no table and no template. `send` does not raise for a
delivery problem: a failure is an `Attempt(ok=False)` that says whether retrying can help
(`transient`) and, when the receiver said so, after how long (`retry_after`).

No secret (SMTP password, corp secret, access token, webhook URL, HMAC secret) is logged or put
into `Attempt.detail`: details name exception types rather than quoting exception texts (which
carry URLs), and anything quoted from a server is scrubbed of the secrets in play.
"""
from __future__ import annotations

import datetime
import email.utils
import enum
import hashlib
import hmac
import os
import smtplib
import ssl
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any, Protocol
from urllib.parse import quote, quote_plus, urlsplit

import botocore.exceptions
import requests
from aws_lambda_powertools import Logger
from requests.structures import CaseInsensitiveDict

from chalicelib import aws

logger = Logger(service="opsgrat-notifications")


class Channel(enum.StrEnum):
    EMAIL = "Email"
    DINGTALK = "DingTalk"
    QIYEWEIXIN = "QiYeWeiXin"
    WEBHOOK = "Webhook"
    SLACK = "Slack"
    TEAMS = "Teams"
    SNS = "SNS"


CHANNELS = tuple(channel.value for channel in Channel)

#: the header a Webhook receiver verifies: "sha256=" + hex HMAC-SHA256(secret, exact body bytes)
SIGNATURE_HEADER = "X-OpsGrat-Signature"
USER_AGENT = "OpsGrat-Notifications/1"
#: how much of a failed answer's body a detail quotes
DETAIL_BODY_CHARS = 200
#: SNS takes subjects of fewer than 100 characters
SNS_SUBJECT_CHARS = 99


@dataclass(frozen=True)
class Message:
    subject: str
    body: str  # plain text; for Webhook the exact request body (a JSON text the caller validated)
    targets: tuple[str, ...] = ()  # Email: addresses; DingTalk: user ids; QiYeWeiXin: user ids; others: unused


@dataclass(frozen=True)
class Attempt:
    ok: bool
    status: int | None = None  # HTTP status, SMTP reply code, or None
    detail: str = ""  # "" when ok; otherwise why, without any secret
    transient: bool = False  # worth retrying: timeouts, connection errors, HTTP 5xx and 429, SMTP 4xx
    retry_after: float | None = None  # seconds, from a Retry-After header (429/503), when given


class Sender(Protocol):
    """One channel's sender: the shape every entry of `SENDERS` has."""

    def __call__(self, settings: Mapping[str, Any], notification: Mapping[str, Any], message: Message,
                 timeout: float) -> Attempt: ...


class _Undelivered(Exception):
    """Raised inside a sender to stop at the first problem; `send` turns it back into its Attempt."""

    def __init__(self, attempt: Attempt):
        super().__init__(attempt.detail)
        self.attempt = attempt


def _fail(detail: str, *, status: int | None = None, transient: bool = False,
          retry_after: float | None = None) -> _Undelivered:
    return _Undelivered(Attempt(False, status=status, detail=detail, transient=transient, retry_after=retry_after))


def _scrub(text: str, secrets: Iterable[str]) -> str:
    """Replace every secret in a server's text, as given and URL-encoded: receivers do echo URLs
    and parameters back. Very short values are left alone: replacing them would only mangle the text."""
    forms = {form for s in secrets if s and len(s) >= 4 for form in (s, quote(s, safe=""), quote_plus(s))}
    for secret in sorted(forms, key=len, reverse=True):
        text = text.replace(secret, "***")
    return text


def _url_secrets(url: str) -> list[str]:
    """The URL and the parts of it that carry tokens (path, query, user info)."""
    parts = urlsplit(url)
    return [url, parts.path, parts.query, parts.password or "", parts.netloc if "@" in parts.netloc else ""]


# ---------------------------------------------------------------------------------------- HTTP

def _retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header, given as delay-seconds or as an HTTP date (RFC 9110)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def _http(method: str, url: str, *, timeout: float, secrets: Iterable[str] = (), **kwargs) -> requests.Response:
    """One HTTP request without redirects (a redirect is answered, not followed: a webhook that
    moved should be reconfigured, and following it would resend the body elsewhere). Raises
    `_Undelivered` for a transport problem or a non-2xx answer; the detail never has the URL."""
    try:
        response = requests.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
    except requests.Timeout as exc:
        raise _fail(f"timed out after {timeout:g} s ({type(exc).__name__})", transient=True) from None
    except requests.ConnectionError as exc:
        raise _fail(f"connection failed ({type(exc).__name__})", transient=True) from None
    except (requests.RequestException, UnicodeError) as exc:
        # an unusable URL or header: retrying the same request cannot help
        raise _fail(f"request not sent ({type(exc).__name__})") from None
    status = response.status_code
    if 200 <= status < 300:
        return response
    quoted = _scrub(response.text[:DETAIL_BODY_CHARS], [*_url_secrets(url), *secrets])
    detail = f"HTTP {status}: {quoted}" if quoted else f"HTTP {status}"
    transient = status == 429 or status >= 500
    retry_after = _retry_after(response.headers.get("Retry-After")) if status in (429, 503) else None
    raise _fail(detail, status=status, transient=transient, retry_after=retry_after)


def _post_json(url: str, payload: Any, timeout: float) -> Attempt:
    response = _http("POST", url, timeout=timeout, json=payload, headers={"User-Agent": USER_AGENT})
    return Attempt(True, status=response.status_code)


def _required(record: Mapping[str, Any], name: str, what: str) -> str:
    value = str(record.get(name) or "").strip()
    if not value:
        raise _fail(f"{what} has no {name}")
    return value


def send_webhook(settings: Mapping[str, Any], notification: Mapping[str, Any], message: Message, timeout: float) -> Attempt:
    """`message.body` (UTF-8) to `notification["url"]` with its `method` (POST or PUT) and `headers`.

    `Content-Type: application/json` is sent unless the headers name one. When the notification
    has a `secret`, the request carries ``X-OpsGrat-Signature: sha256=<hex>``, the hex
    HMAC-SHA256 of the exact body bytes keyed with the secret (UTF-8): a receiver recomputes it
    over the raw body it read and compares with a constant-time comparison (`hmac.compare_digest`).
    The signature header is set last, so a user header of that name cannot replace it.
    """
    url = _required(notification, "url", "the webhook")
    method = str(notification.get("method") or "POST").upper()
    if method not in ("POST", "PUT"):
        raise _fail(f"unsupported webhook method {method!r}")
    body = message.body.encode("utf-8")
    headers = CaseInsensitiveDict(notification.get("headers") or {})
    headers.setdefault("Content-Type", "application/json")
    headers.setdefault("User-Agent", USER_AGENT)
    secret = str(notification.get("secret") or "")
    if secret:
        headers[SIGNATURE_HEADER] = "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()
    response = _http(method, url, timeout=timeout, data=body, headers=headers, secrets=[secret])
    return Attempt(True, status=response.status_code)


def _slack_escape(text: str) -> str:
    """Slack reads `&`, `<` and `>` as control characters (links, mentions): plain text escapes them."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def send_slack(settings: Mapping[str, Any], notification: Mapping[str, Any], message: Message, timeout: float) -> Attempt:
    """A Slack incoming webhook: the subject in bold, then the body."""
    url = _required(notification, "url", "the Slack notification")
    return _post_json(url, {"text": f"*{_slack_escape(message.subject)}*\n{_slack_escape(message.body)}"}, timeout)


def teams_card(message: Message) -> dict:
    """A Teams message with one Adaptive Card, the shape both incoming webhooks and Power Automate
    workflows ("Post to a channel when a webhook request is received") accept."""
    return {
        "type": "message",
        "attachments": [{
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [
                    {"type": "TextBlock", "text": message.subject, "weight": "Bolder", "size": "Medium", "wrap": True},
                    {"type": "TextBlock", "text": message.body, "wrap": True},
                ],
            },
        }],
    }


def send_teams(settings: Mapping[str, Any], notification: Mapping[str, Any], message: Message, timeout: float) -> Attempt:
    url = _required(notification, "url", "the Teams notification")
    return _post_json(url, teams_card(message), timeout)


# ------------------------------------------------------------------- DingTalk and WeCom (corp apps)

@dataclass(frozen=True)
class CorpApi:
    """What differs between DingTalk's and WeCom's "internal app sends a text to users" APIs."""

    name: str
    base_env: str
    default_base: str
    token_path: str
    token_params: Callable[[str, str], dict]
    send_path: str
    payload: Callable[[int, tuple[str, ...], str], dict]
    #: errcodes of a send that mean "this access token is invalid or expired"
    stale_token: frozenset[int]

    def base(self) -> str:
        return (os.environ.get(self.base_env) or self.default_base).rstrip("/")


DINGTALK = CorpApi(
    name="DingTalk", base_env="OPSGRAT_DINGTALK_URL", default_base="https://oapi.dingtalk.com",
    token_path="/gettoken", token_params=lambda key, secret: {"appkey": key, "appsecret": secret},
    send_path="/topapi/message/corpconversation/asyncsend_v2",
    payload=lambda agent, users, text: {"agent_id": agent, "userid_list": ",".join(users),
                                        "msg": {"msgtype": "text", "text": {"content": text}}},
    stale_token=frozenset({88, 40014, 42001, 33001}),
)
WECOM = CorpApi(
    name="QiYeWeiXin", base_env="OPSGRAT_WECOM_URL", default_base="https://qyapi.weixin.qq.com",
    token_path="/cgi-bin/gettoken", token_params=lambda corp, secret: {"corpid": corp, "corpsecret": secret},
    send_path="/cgi-bin/message/send",
    payload=lambda agent, users, text: {"touser": "|".join(users), "msgtype": "text", "agentid": agent,
                                        "text": {"content": text}},
    stale_token=frozenset({40014, 42001, 40001}),
)

#: errcode both APIs answer when they are busy: worth retrying
BUSY_ERRCODE = -1
#: a token is used until this many seconds before it expires (at most half its lifetime)
TOKEN_MARGIN_SECONDS = 300.0

_TokenKey = tuple[str, str, str]
_tokens: dict[_TokenKey, tuple[str, float]] = {}
_fetch_locks: dict[_TokenKey, threading.Lock] = {}
_tokens_lock = threading.Lock()


def forget_tokens() -> None:
    """Drop every cached access token (tests; a secret that was rotated)."""
    with _tokens_lock:
        _tokens.clear()
        _fetch_locks.clear()


def _token_key(base: str, corpid: str, secret: str) -> _TokenKey:
    """The cache key: a hash of the secret, so that a rotated secret gets its own token and the
    secret itself is not kept in the cache."""
    return base, corpid, hashlib.sha256(secret.encode("utf-8")).hexdigest()


def _cached_token(key: _TokenKey) -> str | None:
    with _tokens_lock:
        entry = _tokens.get(key)
        if entry and entry[1] > time.monotonic():
            return entry[0]
        return None


def _drop_token(key: _TokenKey, token: str) -> None:
    """Forget `token` unless another thread has replaced it with a fresh one already."""
    with _tokens_lock:
        if _tokens.get(key, ("",))[0] == token:
            del _tokens[key]


def _corp_json(response: requests.Response, api: CorpApi, what: str, secrets: list[str]) -> dict:
    """The JSON answer, or `_Undelivered` for an answer that is not JSON or has a nonzero errcode."""
    try:
        data = response.json()
    except ValueError:
        raise _fail(f"{api.name} {what}: the answer is not JSON", status=response.status_code) from None
    if not isinstance(data, dict):
        raise _fail(f"{api.name} {what}: unexpected answer", status=response.status_code)
    errcode = data.get("errcode", 0)
    if errcode not in (0, None):
        errmsg = _scrub(str(data.get("errmsg") or "")[:DETAIL_BODY_CHARS], secrets)
        raise _fail(f"{api.name} {what}: errcode {errcode}: {errmsg}", status=response.status_code,
                    transient=errcode == BUSY_ERRCODE)
    return data


def _fetch_token(api: CorpApi, base: str, corpid: str, secret: str, timeout: float) -> tuple[str, float]:
    response = _http("GET", base + api.token_path, timeout=timeout, params=api.token_params(corpid, secret),
                     secrets=[secret], headers={"User-Agent": USER_AGENT})
    data = _corp_json(response, api, "gettoken", [secret])
    token = data.get("access_token")
    if not token or not isinstance(token, str):
        raise _fail(f"{api.name} gettoken: the answer has no access_token", status=response.status_code)
    try:
        lifetime = float(data.get("expires_in") or 7200)
    except (TypeError, ValueError):
        lifetime = 7200.0
    return token, time.monotonic() + lifetime - min(TOKEN_MARGIN_SECONDS, lifetime / 2)


def _token(api: CorpApi, key: _TokenKey, corpid: str, secret: str, timeout: float) -> str:
    """A valid access token from the cache, or fetched (once per key at a time: concurrent
    senders of one app wait for the first fetch instead of each asking for a token)."""
    token = _cached_token(key)
    if token:
        return token
    with _tokens_lock:
        fetch_lock = _fetch_locks.setdefault(key, threading.Lock())
    with fetch_lock:
        token = _cached_token(key)
        if token:
            return token
        token, expires_at = _fetch_token(api, key[0], corpid, secret, timeout)
        with _tokens_lock:
            _tokens[key] = (token, expires_at)
        logger.info("fetched an access token", extra={"channel": api.name, "corpid": corpid})
        return token


def _corp_settings(settings: Mapping[str, Any] | None, api: CorpApi, message: Message) -> tuple[str, str, int]:
    if not settings:
        raise _fail(f"{api.name} is not configured")
    corpid = _required(settings, "corpid", api.name)
    secret = str(settings.get("corpsecret") or "")
    if not secret:
        raise _fail(f"{api.name} has no corpsecret")
    try:
        agent_id = int(settings.get("agent_id"))
    except (TypeError, ValueError):
        raise _fail(f"{api.name} agent_id is not an integer") from None
    if not [t for t in message.targets if t]:
        raise _fail(f"{api.name}: no recipients")
    return corpid, secret, agent_id


def _send_corp(api: CorpApi, settings: Mapping[str, Any] | None, message: Message, timeout: float) -> Attempt:
    """Send a text work notification; a send answered "token invalid or expired" drops the
    cached token, fetches a new one and is sent once more."""
    corpid, secret, agent_id = _corp_settings(settings, api, message)
    base = api.base()
    key = _token_key(base, corpid, secret)
    payload = api.payload(agent_id, tuple(t for t in message.targets if t), f"{message.subject}\n{message.body}")
    token = _token(api, key, corpid, secret, timeout)
    response = _corp_send_once(api, base, token, payload, [secret, token], timeout)
    if _errcode(response) in api.stale_token:
        _drop_token(key, token)
        token = _token(api, key, corpid, secret, timeout)
        response = _corp_send_once(api, base, token, payload, [secret, token], timeout)
    data = _corp_json(response, api, "send", [secret, token])
    if data.get("invaliduser"):
        logger.warning("some recipients are unknown", extra={"channel": api.name, "invaliduser": data["invaliduser"]})
    return Attempt(True, status=response.status_code)


def _corp_send_once(api: CorpApi, base: str, token: str, payload: dict, secrets: list[str], timeout: float) -> requests.Response:
    return _http("POST", base + api.send_path, timeout=timeout, params={"access_token": token}, json=payload,
                 secrets=secrets, headers={"User-Agent": USER_AGENT})


def _errcode(response: requests.Response) -> Any:
    try:
        return response.json().get("errcode")
    except (ValueError, AttributeError):
        return None


def send_dingtalk(settings: Mapping[str, Any], notification: Mapping[str, Any], message: Message, timeout: float) -> Attempt:
    """DingTalk internal-app work notification (asyncsend_v2) to the user ids in `message.targets`."""
    return _send_corp(DINGTALK, settings, message, timeout)


def send_wecom(settings: Mapping[str, Any], notification: Mapping[str, Any], message: Message, timeout: float) -> Attempt:
    """WeCom (QiYeWeiXin) app text message to the user ids in `message.targets`."""
    return _send_corp(WECOM, settings, message, timeout)


# --------------------------------------------------------------------------------------- Email

def _email_message(message: Message, sender: str, targets: list[str]) -> EmailMessage:
    mail = EmailMessage()
    mail["Subject"] = message.subject
    mail["From"] = sender
    mail["To"] = ", ".join(targets)
    mail["Date"] = email.utils.formatdate(localtime=True)
    mail["Message-ID"] = email.utils.make_msgid(domain=email.utils.parseaddr(sender)[1].rpartition("@")[2] or None)
    mail.set_content(message.body)  # UTF-8 with a transfer encoding the server need not understand
    return mail


def _smtp_reply(code: int, text: bytes | str, secrets: list[str]) -> str:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    return f"SMTP {code}: {_scrub(text[:DETAIL_BODY_CHARS], secrets)}"


def _smtp_connect(host: str, port: int, use_ssl: bool, use_tls: bool, timeout: float) -> smtplib.SMTP:
    """A connected client, encrypted as configured; certificates are verified against the
    default trust store (`ssl.create_default_context`, which honours SSL_CERT_FILE)."""
    if use_ssl:
        return smtplib.SMTP_SSL(host, port or 465, timeout=timeout, context=ssl.create_default_context())
    client = smtplib.SMTP(host, port or (587 if use_tls else 25), timeout=timeout)
    if use_tls:
        try:
            client.starttls(context=ssl.create_default_context())
        except BaseException:
            client.close()
            raise
    return client


def send_email(settings: Mapping[str, Any], notification: Mapping[str, Any], message: Message, timeout: float) -> Attempt:
    """Mail to `message.targets` through the configured SMTP server.

    `email_ssl` (implicit TLS) wins over `email_tls` (STARTTLS) when both are set. The client
    logs in only when both user and password are set. Reply codes 4xx and connection problems
    are transient; 5xx, refused authentication and certificate failures are not. When the
    server refuses some recipients but takes the others, the Attempt fails (not transient:
    a retry would mail the others twice) and its detail lists the refused addresses.
    """
    if not settings:
        raise _fail("Email is not configured")
    host = _required(settings, "email_host", "Email")
    user = str(settings.get("email_user") or "")
    password = str(settings.get("email_password") or "")
    sender = str(settings.get("email_from") or "").strip() or user
    if not sender:
        raise _fail("Email has neither email_from nor email_user")
    targets = [t for t in message.targets if t]
    if not targets:
        raise _fail("Email: no recipients")
    try:
        port = int(settings.get("email_port") or 0)
    except (TypeError, ValueError):
        raise _fail("Email email_port is not an integer") from None
    secrets = [password]
    mail = _email_message(message, sender, targets)
    try:
        with _smtp_connect(host, port, _flag(settings.get("email_ssl")), _flag(settings.get("email_tls")), timeout) as client:
            if user and password:
                client.login(user, password)
            refused = client.send_message(mail, from_addr=sender, to_addrs=targets)
    except smtplib.SMTPAuthenticationError as exc:
        raise _fail("authentication failed: " + _smtp_reply(exc.smtp_code, exc.smtp_error, secrets), status=exc.smtp_code) from None
    except smtplib.SMTPRecipientsRefused as exc:
        codes = [code for code, _ in exc.recipients.values()]
        raise _fail("every recipient was refused: " + _refusals(exc.recipients, secrets), status=codes[0] if codes else None,
                    transient=bool(codes) and all(400 <= c < 500 for c in codes)) from None
    except smtplib.SMTPResponseException as exc:
        raise _fail(_smtp_reply(exc.smtp_code, exc.smtp_error, secrets), status=exc.smtp_code,
                    transient=400 <= exc.smtp_code < 500) from None
    except smtplib.SMTPNotSupportedError as exc:  # no STARTTLS, no AUTH, or no SMTPUTF8 for a non-ASCII address
        raise _fail(f"not supported by the server: {_scrub(str(exc), secrets)}") from None
    except smtplib.SMTPServerDisconnected:
        raise _fail("the server closed the connection", transient=True) from None
    except ssl.SSLCertVerificationError as exc:
        raise _fail(f"certificate not trusted: {exc.verify_message}") from None
    except smtplib.SMTPException as exc:  # (an OSError too: caught before the network's errors)
        raise _fail(f"SMTP error ({type(exc).__name__}): {_scrub(str(exc)[:DETAIL_BODY_CHARS], secrets)}") from None
    except TimeoutError:
        raise _fail(f"timed out after {timeout:g} s", transient=True) from None
    except OSError as exc:  # refused, unreachable, unknown host, TLS handshake: the network's problems
        raise _fail(f"connection failed ({type(exc).__name__}: {exc.strerror or exc})", transient=True) from None
    if refused:
        first = next(iter(refused.values()))[0]
        raise _fail(f"{len(targets) - len(refused)} of {len(targets)} recipients took it; refused: {_refusals(refused, secrets)}",
                    status=first)
    return Attempt(True, status=250)


def _flag(value: Any) -> bool:
    """A 0/1 setting (also "0"/"1", "true"/"false", which forms and imports produce)."""
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _refusals(recipients: Mapping[str, tuple[int, bytes]], secrets: list[str]) -> str:
    return "; ".join(f"{address} ({_smtp_reply(code, text, secrets)})" for address, (code, text) in recipients.items())


# ----------------------------------------------------------------------------------------- SNS

#: error codes of a throttled or overloaded AWS API: worth retrying
_AWS_TRANSIENT = frozenset({"Throttled", "Throttling", "ThrottlingException", "KMSThrottling", "RequestLimitExceeded",
                            "TooManyRequestsException", "InternalError", "InternalFailure", "ServiceUnavailable"})


def sns_subject(subject: str) -> str:
    """SNS subjects have no line breaks or control characters and fewer than 100 characters."""
    flat = " ".join("".join(c if c.isprintable() else " " for c in subject).split())
    return flat if len(flat) <= SNS_SUBJECT_CHARS else flat[: SNS_SUBJECT_CHARS - 1] + "…"


def send_sns(settings: Mapping[str, Any], notification: Mapping[str, Any], message: Message, timeout: float) -> Attempt:
    """Publish to `notification["topic_arn"]`. botocore's own timeouts and retries apply here
    (the client is shared), not `timeout`."""
    topic = _required(notification, "topic_arn", "the SNS notification")
    params = {"TopicArn": topic, "Message": message.body or message.subject}
    if not params["Message"]:
        raise _fail("SNS: the message is empty")
    subject = sns_subject(message.subject)
    if subject:
        params["Subject"] = subject
    try:
        answer = aws.client("sns").publish(**params)
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "")
        status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        raise _fail(f"SNS {code}: {str(error.get('Message') or '')[:DETAIL_BODY_CHARS]}", status=status,
                    transient=code in _AWS_TRANSIENT or status == 429 or (status or 0) >= 500) from None
    except (botocore.exceptions.ConnectionError, botocore.exceptions.HTTPClientError) as exc:
        raise _fail(f"SNS connection failed ({type(exc).__name__})", transient=True) from None
    except botocore.exceptions.BotoCoreError as exc:
        raise _fail(f"SNS request not sent ({type(exc).__name__})") from None
    return Attempt(True, status=answer.get("ResponseMetadata", {}).get("HTTPStatusCode"))


# --------------------------------------------------------------------------------- entry point

SENDERS: Mapping[str, Sender] = {
    Channel.EMAIL: send_email,
    Channel.DINGTALK: send_dingtalk,
    Channel.QIYEWEIXIN: send_wecom,
    Channel.WEBHOOK: send_webhook,
    Channel.SLACK: send_slack,
    Channel.TEAMS: send_teams,
    Channel.SNS: send_sns,
}


def send(channel: str, settings: dict | None, notification: dict, message: Message, timeout: float = 10.0) -> Attempt:
    """Send `message` over `channel` once. Delivery problems come back as a failed Attempt;
    retrying (and waiting `retry_after`) is the caller's decision."""
    sender = SENDERS.get(channel)
    if sender is None:
        return Attempt(False, detail=f"unknown channel {channel!r}")
    try:
        return sender(settings or {}, notification or {}, message, timeout)
    except _Undelivered as undelivered:
        return undelivered.attempt

"""Notification channel settings (spec §5.1 DingTalk, §5.2 email, §5.3 WeCom), notifications
(§5.4) and their bindings to templates (§4.2), with the deliveries recorded on each job.

A notification picks a channel: the three seed channels name a channel setting (`channel_id`)
and a target list; Webhook, Slack, Teams and SNS carry their own fields. Its subject and body
may be Jinja2 templates, checked at save time (`chalicelib.services.notifications.render`).
Secrets (corpsecret, email_password, webhook URLs, headers and signing secrets) are write-only
and KMS-encrypted by the generic CRUD, like credential secrets.
"""
from __future__ import annotations

import re
from typing import Any

from chalicelib.services import store
from chalicelib.services.catalog.grants import protect
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Bool01, Choices, Int, Label, Ref, Str, Text, Yaml, load_mapping
from chalicelib.services.resources import Access, Resource, register
from chalicelib.services.resources import get as get_resource

SETTINGS_DESCRIPTION = ("Readable by every user (secrets show as $encrypted$), so that notifications can name them; "
                        "changed by superusers.")


def _kept_while_named(family: str):
    """A channel setting stays while a notification names it (its deliveries would fail): the
    notifications' `channel_id` index, read for this setting's id and family."""
    def check(rec: dict, deleting) -> str | None:
        for notification in store.scan_index(get_resource("notification"), "channel_id", rec["id"]):
            if SETTING_FAMILIES.get(notification.get("channel")) == family \
                    and ("notification", notification["id"]) not in deleting:
                return (f"{family.replace('_', ' ')} {rec['id']} is used by notification {notification['id']} "
                        f"\"{notification.get('name')}\"; change or delete the notification first")
        return None

    return check


def _name() -> Str:
    return Str("name", required=True, blank=False, max_length=256, description="Setting name.")


def _setting(family: str, path: str, title: str, description: str, fields: list) -> Resource:
    """A channel setting family: named, readable by all, changed by superusers, kept while named."""
    return register(Resource(
        family=family, path=path, title=title, description=description + " " + SETTINGS_DESCRIPTION,
        access=Access.open(), fields=[_name(), *fields], search=("name",), filters=("name",), ordering=("name",),
        check_delete=_kept_while_named(family)))


def _corp_app(secret_note: str = "", key_note: str = "") -> list:
    """What a DingTalk or WeCom app is known by: its agent, corp id and secret."""
    return [Str("agent_id", required=True, blank=False, max_length=64, description="AgentId."),
            Str("corpid", required=True, blank=False, max_length=128, description="CorpId" + key_note + "."),
            Str("corpsecret", required=True, blank=False, max_length=512, secret=True,
                description="CorpSecret" + secret_note + ".")]


DINGTALK = _setting("dingtalk_setting", "/api/notification/dingtalk", "DingTalk channel settings",
                    "A DingTalk internal app that sends work notifications.",
                    _corp_app(secret_note=" (the app's AppSecret)", key_note=" (the app's AppKey)"))
EMAIL = _setting("email_setting", "/api/notification/email", "Email channel settings", "An SMTP server to send from.", [
    Str("email_host", required=True, blank=False, max_length=253, description="SMTP server host."),
    Int("email_port", default=25, minimum=1, maximum=65535, description="SMTP server port."),
    Str("email_user", max_length=256, description="Login user name (empty: no login)."),
    Str("email_password", max_length=512, secret=True, description="Login password."),
    Bool01("email_tls", description="1: STARTTLS after connecting."),
    Bool01("email_ssl", description="1: TLS from the start (SMTPS, usually port 465)."),
    Str("email_from", max_length=320, description="From address (default: email_user)."),
])
WECOM = _setting("wecom_setting", "/api/notification/qiye/weixin/settings", "WeCom channel settings",
                 "A WeCom (Enterprise WeChat) app that sends messages.", _corp_app())

CHANNELS = {"Email": "Email", "DingTalk": "DingTalk", "QiYeWeiXin": "WeCom", "Webhook": "Webhook",
            "Slack": "Slack", "Teams": "Microsoft Teams", "SNS": "Amazon SNS"}
#: the seed channels: `channel_id` names a setting of this family
SETTING_FAMILIES = {"Email": EMAIL.family, "DingTalk": DINGTALK.family, "QiYeWeiXin": WECOM.family}
#: what the other channels need of their own
OWN_FIELDS = {"Webhook": ("url",), "Slack": ("url",), "Teams": ("url",), "SNS": ("topic_arn",)}
TOPIC_ARN = re.compile(r"arn:aws[a-z-]*:sns:[a-z0-9-]+:\d{12}:[A-Za-z0-9_-]{1,256}(\.fifo)?")
RESULTS = ("started", "successful", "failed")
RESULT_LABELS = {"started": "Started", "successful": "Success", "failed": "Failure"}


def _validate(change) -> None:
    from chalicelib.services.notifications import render

    data = change.data
    channel = data.get("channel")
    if channel in SETTING_FAMILIES:
        if data.get("channel_id") is None:
            raise ValidationError("channel_id", f"a {channel} notification names its channel setting")
        if store.get(SETTING_FAMILIES[channel], int(data["channel_id"])) is None:
            raise ValidationError("channel_id", f"no {SETTING_FAMILIES[channel].replace('_', ' ')} with id {data['channel_id']}")
        if not targets(data):
            raise ValidationError("target_list", f"a {channel} notification needs its targets, one per line")
    for name in OWN_FIELDS.get(channel, ()):
        if not change.plaintext(name):
            raise ValidationError(name, f"This field is required for a {channel} notification.")
    url = change.plaintext("url")
    if url and not re.fullmatch(r"https?://[^\s/]+\S*", url):
        raise ValidationError("url", "must be an http:// or https:// URL")
    if data.get("topic_arn") and not TOPIC_ARN.fullmatch(data["topic_arn"]):
        raise ValidationError("topic_arn", "must be an SNS topic ARN (arn:aws:sns:<region>:<account>:<name>)")
    headers(change.plaintext("headers"))
    render.check(data)


def headers(text: str) -> dict[str, str]:
    """A webhook's headers: a YAML or JSON mapping of names to string values."""
    mapping = load_mapping(text or "", "headers")
    for name, value in mapping.items():
        if not isinstance(name, str) or not re.fullmatch(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+", name):
            raise ValidationError("headers", f"{str(name)[:64]!r} is not a header name")
        if not isinstance(value, (str, int, float)) or isinstance(value, bool) or "\n" in str(value):
            raise ValidationError("headers", f"the value of {name} must be a single-line string")
    return {name: str(value) for name, value in mapping.items()}


def targets(rec: dict) -> list[str]:
    """The target list, one per line (the spec's examples separate them with CRLF)."""
    return [line.strip() for line in (rec.get("target_list") or "").splitlines() if line.strip()]


def _setting_name(rec: dict) -> Any:
    family = SETTING_FAMILIES.get(rec.get("channel") or "")
    if not family or rec.get("channel_id") is None:
        return None
    setting = store.get(family, int(rec["channel_id"]))
    return setting.get("name") if setting else None


NOTIFICATIONS = register(Resource(
    family="notification", path="/api/notification/notification", title="Notifications",
    description="What to send and where: a channel (Email, DingTalk, QiYeWeiXin with a channel setting and targets; "
                "Webhook, Slack, Teams or SNS with their own fields) and optional Jinja2 subject and body templates. "
                "Templates bind them at /api/template/template/notification/; POST .../{id}/test/ sends one now.",
    access=Access.protected(),
    fields=[
        Str("name", required=True, blank=False, max_length=256, description="Notification name."),
        Str("channel", required=True, blank=False, choices=tuple(CHANNELS),
            description="Email, DingTalk, QiYeWeiXin (WeCom), Webhook, Slack, Teams or SNS."),
        Str("description", max_length=1024, description="Description."),
        Int("channel_id", default=None, minimum=1, description="The channel setting (Email, DingTalk, QiYeWeiXin)."),
        Text("target_list", max_length=16_384, description="Targets, one per line: addresses or user ids."),
        Str("url", max_length=2048, secret=True, description="Webhook, Slack or Teams URL (often carries a token)."),
        Str("method", default="POST", choices=("POST", "PUT"), blank=False, description="Webhook method."),
        Yaml("headers", secret=True, max_length=16_384, description="Webhook headers: a YAML or JSON mapping of names to values."),
        Str("secret", max_length=512, secret=True,
            description="Webhook signing secret: X-OpsGrat-Signature: sha256=<HMAC-SHA256 of the body>."),
        Str("topic_arn", max_length=512, description="SNS topic ARN."),
        Text("subject_template", max_length=16_384, description="Jinja2 template of the subject (empty: the default)."),
        Text("body_template", max_length=16_384,
             description="Jinja2 template of the body (empty: the default; a Webhook's must render to JSON)."),
        Int("cuser", read_only=True, default=None, description="Creator's user id."),
    ],
    labels=[
        Label("channel_name", "channel", choices=CHANNELS),
        Label("channel_type_name", "channel_id", compute=_setting_name),
    ],
    search=("name",), filters=("name", "channel"), ordering=("name",), indexes=("channel_id",), validate=_validate,
))

NOTIFICATION_USERS, NOTIFICATION_TEAMS = protect(NOTIFICATIONS, "/api/notification/notification/permission/users",
                                                 "/api/notification/notification/permission/team")

BINDINGS = register(Resource(
    family="template_notification", path="/api/template/template/notification", title="Template notifications",
    description="Send a notification when a run of the template starts, succeeds or fails (result: one or several). "
                "Needs write on the template and read on the notification.",
    access=Access.parent("template", "template"),
    fields=[
        Ref("template", family="template", required=True, on_delete="cascade", aliases=("template_id",),
            description="Template id."),
        Ref("notification", family="notification", required=True, on_delete="cascade", aliases=("notification_id",),
            description="Notification id; needs read on it."),
        Choices("result", required=True, choices=RESULTS,
                description="When to send: started, successful, failed (one, a list, or comma-separated)."),
    ],
    labels=[
        Label("notification_name", "notification", family="notification"),
        Label("notification_channel", "notification", family="notification", attr="channel"),
        Label("template_name", "template", family="template"),
    ],
    filters=("template", "notification"), indexes=("template", "notification"),
    unique=(("template", "notification"),),
))

DELIVERIES = register(Resource(
    family="notification_delivery", path="/api/job/notification_delivery", title="Notification deliveries",
    description="Each attempt to send a notification for a job: GET /api/job/job/{id}/notifications/.",
    access=Access.parent("job", "job"), read_only=True,
    fields=[
        Ref("job", family="job", required=True, on_delete="cascade", description="Job id."),
        Int("notification", default=None, description="Notification id (null for a test message)."),
        Str("notification_name", description="Its name when it was sent."),
        Str("channel", description="Its channel."),
        Str("event", description="started or finished."),
        Text("target", description="Where it went: the targets, or the channel's own destination (never a URL)."),
        Int("attempt", default=1, description="1 for the first try."),
        Str("result", description="sent, retrying or failed."),
        Int("status", default=None, description="HTTP status or SMTP reply code."),
        Text("error", description="Why it failed (never a secret)."),
        Int("ctime", read_only=True, default=None, description="When (epoch seconds)."),
    ],
    filters=("job",), indexes=("job",),
))

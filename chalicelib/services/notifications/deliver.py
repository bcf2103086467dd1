"""The notify queue's handler: for a job state event, send every notification bound to the job's
template for that result, and record each attempt on the job.

* **Once per event**: each (job, binding, event) is claimed before it is sent, so a redelivered
  event sends nothing twice.
* **Retried, then recorded**: a transient failure (timeout, connection refused, 5xx, 429) is tried
  again after a backoff (longer when the answer says `Retry-After`), MAX_ATTEMPTS in all; every
  attempt is a `notification_delivery` row of the job (`GET /api/job/job/{id}/notifications/`).
* **Never in the job's way**: this runs on its own queue after the job's state is stored; it
  changes nothing on the job.

A binding's `result` picks the events: `started`, `successful` (a job that succeeded), `failed`
(one that failed or was canceled).
"""
from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass

from aws_lambda_powertools import Logger

from chalicelib import config
from chalicelib.services import secrets, store
from chalicelib.services.catalog import notification as catalog
from chalicelib.services.notifications import channels, render
from chalicelib.services.notifications.events import JobEvent
from chalicelib.services.resources import get

logger = Logger(service="opsgrat-notifications")

MAX_ATTEMPTS = 4
#: seconds before the second, third, ... attempt (a Retry-After answer may ask for longer, up to MAX_WAIT)
BACKOFF = (0.5, 1.0, 2.0)
MAX_WAIT = 10.0
CLAIM_SECONDS = 7 * 24 * 3600


@dataclass(frozen=True)
class Delivery:
    """The outcome of one notification for one event: its attempts, the last one deciding."""

    notification: int | None
    attempts: tuple[channels.Attempt, ...]

    @property
    def ok(self) -> bool:
        return bool(self.attempts) and self.attempts[-1].ok


def result_of(job: dict, event: JobEvent) -> str:
    """The binding result this event is."""
    if event == JobEvent.STARTED:
        return "started"
    return "successful" if job.get("state") == "successful" else "failed"


def handle(message: dict) -> list[Delivery]:
    """One event as EventBridge puts it on the queue (its `detail` is `events.detail`)."""
    detail = message.get("detail") or {}
    job = store.get("job", int(detail["job"]), consistent=True)
    if job is None or not job.get("template"):
        return []
    event = JobEvent(detail.get("event"))
    wanted = result_of(job, event)
    bindings = [b for b in store.scan_index(catalog.BINDINGS, "template", int(job["template"]))
                if wanted in (b.get("result") or [])]
    if not bindings:
        return []
    context = build_context(job, event)
    out = []
    for binding in bindings:
        won, _ = store.claim(f"notify|job={job['id']}", int(binding["id"]) * 2 + (event == JobEvent.FINISHED),
                             {"event": event.value}, int(time.time()) + CLAIM_SECONDS)
        if won:
            out.append(deliver(job, int(binding["notification"]), event, context))
    return out


def deliver(job: dict | None, notification_id: int, event: JobEvent | str, context: dict,
            record: bool = True, max_attempts: int = MAX_ATTEMPTS) -> Delivery:
    """Render and send one notification, retrying transient failures; record each attempt on
    the job unless `record` is False (a test message with no job)."""
    rec = store.get("notification", notification_id)
    if rec is None:
        attempt = channels.Attempt(False, detail=f"notification {notification_id} no longer exists")
        return _recorded(job, None, event, "", [attempt], record)
    plain = secrets.revealed(catalog.NOTIFICATIONS, rec)
    plain["headers"] = catalog.headers(plain.get("headers") or "")
    settings = None
    family = catalog.SETTING_FAMILIES.get(rec.get("channel") or "")
    if family:
        stored = store.get(family, int(rec.get("channel_id") or 0))
        if stored is None:
            attempt = channels.Attempt(False, detail=f"its channel setting {rec.get('channel_id')} no longer exists")
            return _recorded(job, rec, event, "", [attempt], record)
        settings = secrets.revealed(get(family), stored)
    try:
        rendered = render.render(plain, context)
    except render.RenderError as exc:
        return _recorded(job, rec, event, "", [channels.Attempt(False, detail=str(exc))], record)
    targets = tuple(catalog.targets(rec))
    message = channels.Message(subject=rendered.subject, body=rendered.body, targets=targets)
    attempts = list(_attempts(rec["channel"], settings, plain, message, max_attempts))
    return _recorded(job, rec, event, _shown_target(rec, targets), attempts, record)


def _attempts(channel: str, settings: dict | None, notification: dict, message: channels.Message,
              limit: int) -> Iterable[channels.Attempt]:
    for number in range(limit):
        attempt = channels.send(channel, settings, notification, message)
        yield attempt
        if attempt.ok or not attempt.transient or number == limit - 1:
            return
        wait = BACKOFF[min(number, len(BACKOFF) - 1)]
        if attempt.retry_after is not None:
            wait = max(wait, attempt.retry_after)
        time.sleep(min(wait, MAX_WAIT))


def _shown_target(rec: dict, targets: tuple[str, ...]) -> str:
    """Where a delivery went, as the record shows it: never a URL (they carry tokens)."""
    if targets:
        return ", ".join(targets)[:2048]
    if rec.get("channel") == "SNS":
        return rec.get("topic_arn") or ""
    return f"{rec.get('channel')} URL"


def _recorded(job: dict | None, rec: dict | None, event, target: str, attempts: list[channels.Attempt],
              record: bool) -> Delivery:
    delivery = Delivery(rec["id"] if rec else None, tuple(attempts))
    if not record or job is None:
        return delivery
    now = int(time.time())
    for number, attempt in enumerate(attempts, 1):
        last = number == len(attempts)
        result = "sent" if attempt.ok else ("failed" if last else "retrying")
        store.create(get("notification_delivery"), {
            "job": job["id"], "notification": rec["id"] if rec else None, "notification_name": (rec or {}).get("name", ""),
            "channel": (rec or {}).get("channel", ""), "event": str(event), "target": target, "attempt": number,
            "result": result, "status": attempt.status, "error": attempt.detail[:2048], "ctime": now})
    log = logger.info if delivery.ok else logger.warning
    log("notification delivered" if delivery.ok else "notification failed",
        extra={"job": job["id"], "notification": delivery.notification, "attempts": len(attempts),
               "error": "" if delivery.ok else attempts[-1].detail[:300]})
    return delivery


# ---------------------------------------------------------------- the context templates see


def build_context(job: dict, event: JobEvent | str) -> dict:
    """The variables of `render.VARIABLES` for one job."""
    summaries = sorted(store.scan_index(get("job_host_summary"), "job", job["id"]), key=lambda r: r.get("host", ""))
    counts = ("ok", "changed", "failures", "unreachable", "skipped")
    hosts = [{"host": s.get("host"), **{c: int(s.get(c) or 0) for c in counts}} for s in summaries]
    totals = {c: sum(h[c] for h in hosts) for c in counts}
    template = store.get("template", int(job["template"])) if job.get("template") else None
    user = store.get("user", int(job["cuser"])) if job.get("cuser") else None
    schedule = store.get("schedule", int(job["schedule"])) if job.get("schedule") else None
    base = config.env("OPSGRAT_API_URL").rstrip("/")
    nodes = []
    if job.get("kind") == "workflow":
        from chalicelib.services.workflows import engine

        nodes = [{"name": n.get("name"), "state": n.get("state"), "job": n.get("job")}
                 for n in engine.view(job)["nodes"] if not n.get("is_start_node")]
    return {
        "event": str(event),
        "job": {"id": job["id"], "name": (template or {}).get("name") or job.get("module") or str(job.get("kind")),
                "state": str(job.get("state") or ""), "kind": str(job.get("kind") or ""), "template": job.get("template"),
                "template_name": (template or {}).get("name"), "started": job.get("started"),
                "finished": job.get("finished"), "elapsed": float(job.get("elapsed") or 0.0),
                "launched_by": (user or {}).get("username"), "schedule": job.get("schedule"),
                "schedule_name": (schedule or {}).get("name"), "limit": job.get("limit") or "",
                "url": f"{base}/api/job/job/{job['id']}/", "stdout_url": f"{base}/api/job/job/{job['id']}/stdout/"},
        "hosts": hosts,
        "failed_hosts": [h["host"] for h in hosts if h["failures"] or h["unreachable"]],
        "totals": totals,
        "nodes": nodes,
        "installation": config.prefix(),
    }


def send_test(notification_id: int) -> Delivery:
    """`POST /api/notification/notification/{id}/test/`: the notification with the sample job's
    context, sent once now (no retries: the caller waits for the answer), recorded nowhere."""
    return deliver(None, notification_id, "test", render.SAMPLE_CONTEXT, record=False, max_attempts=1)

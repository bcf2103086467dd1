"""Job state events on the installation's EventBridge bus: one when a job starts running, one
when it reaches its final state. A rule of the bus sends them to the notify queue
(`chalicelib.services.notifications.deliver`); anything else an operator wires to the bus sees
them too. Putting an event never fails or holds up the job: a refusal is logged and dropped."""
from __future__ import annotations

import enum
import json

from aws_lambda_powertools import Logger

from chalicelib import aws
from chalicelib.stack import STACK

logger = Logger(service="opsgrat-notifications")


class JobEvent(enum.StrEnum):
    STARTED = "started"
    FINISHED = "finished"


def detail(job: dict, event: JobEvent) -> dict:
    """What the event carries: enough to route on (template, kind, state) without reading the job."""
    return {"job": int(job["id"]), "event": event.value, "state": str(job.get("state") or ""),
            "kind": str(job.get("kind") or ""), "template": job.get("template"), "schedule": job.get("schedule")}


def publish(job: dict, event: JobEvent) -> None:
    entry = {"EventBusName": STACK.event_bus, "Source": STACK.EVENT_SOURCE, "DetailType": STACK.JOB_EVENT,
             "Detail": json.dumps(detail(job, event)), "Resources": []}
    try:
        failed = aws.client("events").put_events(Entries=[entry]).get("FailedEntryCount", 0)
    except Exception as exc:  # noqa: BLE001 - see the module docstring
        logger.warning("job event not put", extra={"job": job.get("id"), "event": event, "error": str(exc)})
        return
    if failed:
        logger.warning("job event refused", extra={"job": job.get("id"), "event": event})

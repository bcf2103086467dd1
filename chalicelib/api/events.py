"""Adapters from Lambda event sources (SQS) to services, with partial batch failure reporting.

A BatchProcessor keeps the batch it is processing (its records, handler and results) on itself,
so each batch gets its own: the local stack runs several pollers as threads of one process, and a
shared processor handed one queue's messages to another queue's handler."""
from __future__ import annotations

import json
from collections.abc import Callable

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response


def _processor() -> BatchProcessor:
    return BatchProcessor(event_type=EventType.SQS)


def _each(event, handle: Callable[[dict], object]) -> dict:
    """Each message of the batch handled on its own by `handle(body)`; failed ones are returned
    for redelivery."""
    return process_partial_response(event=event.to_dict(), record_handler=lambda record: handle(json.loads(record.body)),
                                    processor=_processor(), context=event.context)


def dispatch_batch(event) -> dict:
    """Each message handled on its own; failed ones are returned for redelivery.

    Every job of the batch gets a heartbeat first: the batch is handled one message at a time,
    and the last one must not be declared lost while the first ones start their runners."""
    from chalicelib.services import dispatch

    messages = []
    for record in event.to_dict().get("Records", []):
        try:
            messages.append(json.loads(record["body"]))
        except (KeyError, ValueError):
            continue  # the record handler reports it as a failure
    dispatch.acknowledge(messages)
    return _each(event, dispatch.handle)


def workflow_batch(event) -> dict:
    """Workflow node messages (the engine recognizes a node it has already decided)."""
    from chalicelib.services.workflows import engine

    return _each(event, engine.handle)


def launch_batch(event) -> dict:
    """Due schedules (a due time is claimed once, so a redelivery makes no second job)."""
    from chalicelib.services.schedules import firing

    return _each(event, firing.handle)


def notify_batch(event) -> dict:
    """Job events (a delivery already claimed for the event is not sent again)."""
    from chalicelib.services.notifications import deliver

    return _each(event, deliver.handle)

"""Adapters from Lambda event sources (SQS) to services, with partial batch failure reporting.

A BatchProcessor keeps the batch it is processing (its records, handler and results) on itself,
so each batch gets its own: the local stack runs several pollers as threads of one process, and a
shared processor handed one queue's messages to another queue's handler."""
from __future__ import annotations

import json

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response


def _processor() -> BatchProcessor:
    return BatchProcessor(event_type=EventType.SQS)


def _dispatch_record(record) -> None:
    from chalicelib.services import dispatch

    dispatch.handle(json.loads(record.body))


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
    return process_partial_response(event=event.to_dict(), record_handler=_dispatch_record,
                                    processor=_processor(), context=event.context)


def _workflow_record(record) -> None:
    from chalicelib.services.workflows import engine

    engine.handle(json.loads(record.body))


def workflow_batch(event) -> dict:
    """Each node message handled on its own; failed ones are returned for redelivery (the engine
    recognizes a node it has already decided)."""
    return process_partial_response(event=event.to_dict(), record_handler=_workflow_record,
                                    processor=_processor(), context=event.context)


def _launch_record(record) -> None:
    from chalicelib.services.schedules import firing

    firing.handle(json.loads(record.body))


def launch_batch(event) -> dict:
    """Each due schedule handled on its own; failed ones are returned for redelivery (a due time
    is claimed once, so a redelivery makes no second job)."""
    return process_partial_response(event=event.to_dict(), record_handler=_launch_record,
                                    processor=_processor(), context=event.context)


def _notify_record(record) -> None:
    from chalicelib.services.notifications import deliver

    deliver.handle(json.loads(record.body))


def notify_batch(event) -> dict:
    """Each job event handled on its own; failed ones are returned for redelivery (a delivery
    already recorded for the event is not sent again)."""
    return process_partial_response(event=event.to_dict(), record_handler=_notify_record,
                                    processor=_processor(), context=event.context)

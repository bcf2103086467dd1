"""The SQS adapters: each batch goes to its own queue's handler, whatever runs beside it."""
from __future__ import annotations

import json
import threading
from types import SimpleNamespace

from chalicelib.api import events
from chalicelib.local.pollers import LocalLambdaContext
from chalicelib.services import dispatch
from chalicelib.services.workflows import engine


def _event(queue: str, bodies: list[dict]):
    records = [{"messageId": f"{queue}-{i}", "receiptHandle": f"r{i}", "body": json.dumps(body), "attributes": {},
                "messageAttributes": {}, "md5OfBody": "", "eventSource": "aws:sqs",
                "eventSourceARN": f"arn:aws:sqs:us-east-1:123456789012:{queue}", "awsRegion": "us-east-1"}
               for i, body in enumerate(bodies)]
    return SimpleNamespace(to_dict=lambda: {"Records": records}, context=LocalLambdaContext(queue))


def test_concurrent_batches_of_two_queues_reach_only_their_own_handlers(monkeypatch):
    seen: dict[str, list] = {"dispatch": [], "workflow": []}
    both_inside = threading.Barrier(2, timeout=10)

    def handler(name):
        def handle(message):
            seen[name].append(message)
            if len(seen[name]) == 1:
                both_inside.wait()  # the other queue's batch is being processed right now
        return handle

    monkeypatch.setattr(dispatch, "handle", handler("dispatch"))
    monkeypatch.setattr(dispatch, "acknowledge", lambda messages: None)
    monkeypatch.setattr(engine, "handle", handler("workflow"))
    results = {}
    threads = [
        threading.Thread(target=lambda: results.update(d=events.dispatch_batch(_event("dispatch", [{"job_id": i} for i in range(5)])))),
        threading.Thread(target=lambda: results.update(w=events.workflow_batch(_event("workflow", [{"workflow_job": i} for i in range(5)])))),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert [m["job_id"] for m in seen["dispatch"]] == list(range(5))
    assert [m["workflow_job"] for m in seen["workflow"]] == list(range(5))
    assert results == {"d": {"batchItemFailures": []}, "w": {"batchItemFailures": []}}

"""One poller thread per SQS queue, calling the same Chalice handler Lambda would call.

Each batch is handed over in the exact shape of a Lambda SQS event; a handler that returns
`batchItemFailures` gets only those messages redelivered (ReportBatchItemFailures semantics),
and a handler that raises gets the whole batch redelivered after the visibility timeout.
"""
from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib import aws
from chalicelib.stack import Queue

logger = Logger(service="opsgrat-local")


class LocalLambdaContext:
    """The parts of the Lambda context object that handlers and Powertools read."""

    def __init__(self, function_name: str, timeout_s: int = 900):
        self.function_name = function_name
        self.aws_request_id = str(uuid.uuid4())
        self.memory_limit_in_mb = 512
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "local"
        self._timeout_ms = timeout_s * 1000

    def get_remaining_time_in_millis(self) -> int:
        return self._timeout_ms


class Poller(threading.Thread):
    def __init__(self, queue: Queue, handler: Callable[[dict, Any], Any], wait_seconds: int = 1, name: str = ""):
        super().__init__(name=name or f"poller-{queue.short}", daemon=True)
        self.queue = queue
        self.handler = handler
        self.wait_seconds = wait_seconds
        self._stop_event = threading.Event()
        sqs = aws.client("sqs")
        self.url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        self.arn = sqs.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        sqs = aws.client("sqs")
        while not self._stop_event.is_set():
            try:
                messages = sqs.receive_message(QueueUrl=self.url, MaxNumberOfMessages=self.queue.batch_size,
                                               WaitTimeSeconds=self.wait_seconds,
                                               AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])
            except Exception:  # noqa: BLE001 - the server is going away at shutdown
                if self._stop_event.is_set():
                    return
                logger.exception("receive failed", extra={"queue": self.queue.short})
                self._stop_event.wait(1)
                continue
            if messages:
                self._deliver(sqs, messages)

    def _deliver(self, sqs, messages: list[dict]) -> None:
        event = {"Records": [{
            "messageId": m["MessageId"], "receiptHandle": m["ReceiptHandle"], "body": m["Body"],
            "attributes": m.get("Attributes", {}), "messageAttributes": m.get("MessageAttributes", {}),
            "md5OfBody": m.get("MD5OfBody", ""), "eventSource": "aws:sqs", "eventSourceARN": self.arn,
            "awsRegion": sqs.meta.region_name,
        } for m in messages]}
        try:
            result = self.handler(event, LocalLambdaContext(self.queue.handler))
        except Exception:  # noqa: BLE001 - like Lambda: the batch returns to the queue
            logger.exception("handler failed", extra={"queue": self.queue.short})
            return
        failed = {f["itemIdentifier"] for f in (result or {}).get("batchItemFailures", [])} if isinstance(result, dict) else set()
        done = [m for m in messages if m["MessageId"] not in failed]
        if done:
            sqs.delete_message_batch(QueueUrl=self.url, Entries=[
                {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(done)])

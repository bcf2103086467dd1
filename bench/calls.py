"""Counting AWS calls in a benchmark: per (service, operation), the DynamoDB items they returned,
and the seconds spent inside them (botocore and, in-process, moto emulating the service). Every
boto3 and PynamoDB call goes through botocore's `BaseClient._make_api_call`, which this wraps."""
from __future__ import annotations

import collections
import time

import botocore.client


class CallCounter:
    """Counts botocore API calls per (service, operation), the items they return, and the time
    spent inside them (which, here, is moto emulating DynamoDB)."""

    def __init__(self) -> None:
        self.calls: collections.Counter = collections.Counter()
        self.items = 0
        self.seconds = 0.0
        self._original = botocore.client.BaseClient._make_api_call

    def install(self) -> None:
        counter, original = self, self._original

        def counted(client, operation_name, api_params):
            service = client.meta.service_model.service_name
            counter.calls[(service, operation_name)] += 1
            start = time.perf_counter()
            try:
                response = original(client, operation_name, api_params)
            finally:
                counter.seconds += time.perf_counter() - start
            if service == "dynamodb":
                counter.items += len(response.get("Items", ())) + (1 if "Item" in response else 0)
                counter.items += sum(len(v) for v in response.get("Responses", {}).values()) \
                    if isinstance(response.get("Responses"), dict) else 0
            return response

        botocore.client.BaseClient._make_api_call = counted

    def uninstall(self) -> None:
        botocore.client.BaseClient._make_api_call = self._original

    def reset(self) -> None:
        self.calls.clear()
        self.items = 0
        self.seconds = 0.0

    def dynamodb(self) -> collections.Counter:
        return collections.Counter({op: n for (svc, op), n in self.calls.items() if svc == "dynamodb"})

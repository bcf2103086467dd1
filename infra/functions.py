"""Which Lambda functions the Chalice app defines, and which *family* (IAM role) each belongs to.

Read from the app object itself, so a handler the pipeline adds later (`@app.on_sqs_message`) gets
its role, environment and `ReportBatchItemFailures` without anyone editing `infra/`.
"""
from __future__ import annotations

from dataclasses import dataclass

from chalice.app import SQSEventConfig
from chalice.utils import to_cfn_resource_name

from chalicelib.stack import STACK

API = "api"


@dataclass(frozen=True)
class Function:
    name: str          # the Python function name in app.py (Chalice's resource name)
    family: str        # "api", or the short name of the queue it consumes
    queue: str = ""    # short name of the consumed queue (SQS handlers only)

    @property
    def cfn_name(self) -> str:
        """The logical id `chalice package` gives this function (its API handler is special-cased)."""
        return "APIHandler" if self.name == "api_handler" else to_cfn_resource_name(self.name)

    @property
    def event_cfn_name(self) -> str:
        return to_cfn_resource_name(self.name + "-sqs-event-source")


def discover(app) -> list[Function]:
    """Every function `chalice package` will emit for `app`.

    An SQS handler's family is the queue it consumes (its role may only read that queue); anything
    else (the REST API, plain or scheduled lambdas) is in the API family.
    """
    by_queue_name = {q.name: q for q in STACK.queues}
    out: list[Function] = []
    if app.routes:
        out.append(Function("api_handler", API))
    for source in app.event_sources:
        if isinstance(source, SQSEventConfig):
            queue = by_queue_name.get(source.queue or "")
            if queue is None:
                raise ValueError(f"{source.name} consumes queue {source.queue or source.queue_arn!r}, which is not in "
                                 "chalicelib.stack.STACK.queues: declare it there so infra creates it")
            out.append(Function(source.name, queue.short, queue.short))
        else:
            out.append(Function(source.name, API))
    out.extend(Function(f.name, API) for f in getattr(app, "pure_lambda_functions", []))
    return out

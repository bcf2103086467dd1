"""The one description of an installation's data and messaging resources: tables, queues,
the artifacts bucket, the KMS key alias, the job log group and the state machines.

The local stack provisions from it (`chalicelib.local.provision`) and `infra/` turns it into
CloudFormation, so there is no second hand-kept list of tables and queues. What only AWS has
(API Gateway, the runner's ECS cluster, IAM roles) is in `infra/` alone.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from chalicelib import config

INFRA_DIR = Path(__file__).resolve().parent.parent / "infra"


@dataclass(frozen=True)
class Queue:
    short: str
    #: the Chalice handler (function name in app.py) that consumes it
    handler: str
    visibility_timeout: int = 120
    max_receive_count: int = 5
    #: local stack: poller threads on this queue (Lambda runs concurrent batches the same way)
    local_workers: int = 1
    #: messages per handler call (Lambda's batch size; a local poller receives at most this many)
    batch_size: int = 10

    @property
    def name(self) -> str:
        return config.resource_name(self.short)

    @property
    def dlq_name(self) -> str:
        return config.resource_name(self.short + "-dlq")


@dataclass(frozen=True)
class StateMachine:
    short: str
    asl_file: str

    @property
    def name(self) -> str:
        return config.resource_name(self.short)

    #: ${Name} placeholders in the ASL -> the short name of the queue whose URL replaces them
    queue_urls: tuple[tuple[str, str], ...] = ()
    #: environment variable through which code finds this state machine's ARN
    arn_env: str = ""

    def definition(self) -> str:
        return (INFRA_DIR / "asl" / self.asl_file).read_text()

    def render(self, queue_urls: dict[str, str]) -> str:
        """The definition with its queue URL placeholders filled in (local stack)."""
        text = self.definition()
        for placeholder, short in self.queue_urls:
            text = text.replace("${" + placeholder + "}", queue_urls[short])
        return text


@dataclass(frozen=True)
class Stack:
    queues: tuple[Queue, ...] = field(default_factory=tuple)
    state_machines: tuple[StateMachine, ...] = field(default_factory=tuple)
    #: the queue the workflow templates' own machines (compiled at run time, not in infra/asl) send to
    WORKFLOW_QUEUE = "workflow"
    #: the queue EventBridge Scheduler (the local ticker) sends due schedules to
    LAUNCH_QUEUE = "launch"
    #: environment variables through which code finds the launch queue's ARN and the role that
    #: EventBridge Scheduler assumes to send to it (`chalicelib.services.schedules.mirror`)
    LAUNCH_QUEUE_ARN_ENV = "OPSGRAT_LAUNCH_QUEUE_ARN"
    SCHEDULER_ROLE_ARN_ENV = "OPSGRAT_SCHEDULER_ROLE_ARN"
    #: where Scheduler puts a delivery it gave up on: the launch queue's dead-letter queue
    LAUNCH_DLQ_ARN_ENV = "OPSGRAT_LAUNCH_DLQ_ARN"
    #: the queue the job-events rule of the event bus sends to (`chalicelib.services.notifications`)
    NOTIFY_QUEUE = "notify"
    #: the `source` and `detail-type` of the job state events put on the bus
    EVENT_SOURCE = "opsgrat"
    JOB_EVENT = "Job State Change"
    #: the Id of the job-events rule's one target, the notify queue
    JOB_EVENTS_TARGET = "notify-queue"
    #: the web console's static files (the checkout's `console/`): the local stack serves them at
    #: `/` and `/console/...` (`chalicelib.local.console`); on AWS they are the objects under this
    #: key prefix of the artifacts bucket, CloudFront's origin for the same paths (`infra.console`)
    CONSOLE_PREFIX = "console/"
    #: the console page's Content-Security-Policy, sent by the local stack and by CloudFront alike:
    #: the page loads only its own files (no inline script or style) and talks only to its own origin
    CONSOLE_CSP = ("default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
                   "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'; "
                   "object-src 'none'")

    @property
    def tables(self):
        from chalicelib.models import ALL_MODELS

        return ALL_MODELS

    @property
    def bucket(self) -> str:
        # S3 names are global: on AWS the template names the bucket `<this>-<account>-<region>` and
        # passes it as OPSGRAT_BUCKET; the local stack uses the plain name.
        return config.env("OPSGRAT_BUCKET") or config.resource_name("artifacts")

    @property
    def kms_alias(self) -> str:
        return f"alias/{config.resource_name('secrets')}"

    @property
    def event_bus(self) -> str:
        """The EventBridge bus job state events go on (started, final)."""
        return config.resource_name("events")

    @property
    def job_events_rule(self) -> str:
        """The bus's rule that sends job state events to the notify queue."""
        return config.resource_name("job-events")

    def job_event_pattern(self) -> dict:
        return {"source": [self.EVENT_SOURCE], "detail-type": [self.JOB_EVENT]}

    @property
    def schedule_group(self) -> str:
        """The EventBridge Scheduler group holding the installation's schedules."""
        return config.resource_name("schedules")

    @property
    def log_group(self) -> str:
        return f"/{config.prefix()}/jobs"

    def queue(self, short: str) -> Queue:
        return next(q for q in self.queues if q.short == short)


STACK = Stack(
    queues=(
        Queue("dispatch", handler="dispatch_job", local_workers=4),
        # workflow executions hand their nodes over here (`chalicelib.services.workflows.engine`)
        # one node per call: a fan-out's nodes start side by side, not one after another in a batch
        Queue("workflow", handler="workflow_step", local_workers=8, batch_size=1),
        # due schedules: one message per (schedule, scheduled time) (`chalicelib.services.schedules.firing`)
        Queue("launch", handler="scheduled_launch", local_workers=2, batch_size=5),
        # job state events from the bus: render and send the bound notifications (retries inside)
        Queue("notify", handler="notify", local_workers=2, batch_size=5, visibility_timeout=300),
    ),
    state_machines=(
        StateMachine("run-job", "run_job.asl.json", queue_urls=(("DispatchQueueUrl", "dispatch"),),
                     arn_env="OPSGRAT_RUNJOB_ARN"),
    ),
)

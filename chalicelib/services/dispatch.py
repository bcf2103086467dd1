"""The dispatch queue's handler: start runners, and settle executions that failed.

Messages come from the RunJob state machine:
  * ``{"job_id", "task_token"}``: the job may run now; start its runner.
  * ``{"job_id", "error"}``: the execution timed out or lost its runner's heartbeat.
"""
from __future__ import annotations

import time

from aws_lambda_powertools import Logger

from chalicelib import aws
from chalicelib.services import joblogs, jobs, runners, store
from chalicelib.services.jobs import JobState

logger = Logger(service="opsgrat-dispatch")


def handle(message: dict) -> None:
    job_id = int(message["job_id"])
    if "task_token" in message:
        begin(job_id, message["task_token"])
    elif "error" in message:
        execution_failed(job_id, message.get("error") or {})
    else:
        raise ValueError(f"unknown dispatch message for job {job_id}")


def acknowledge(messages: list[dict]) -> None:
    """Heartbeat every job of a received batch at once (see `chalicelib.api.events`)."""
    for message in messages:
        if isinstance(message, dict) and message.get("task_token"):
            _heartbeat(message["task_token"])


def begin(job_id: int, task_token: str) -> None:
    """Claim the job and start its runner. The batch handler has just heartbeated the task
    (`acknowledge`), so the clock restarted when the message was received."""
    starting = {"go": False}

    def claim(job: dict):
        if job.get("state") in jobs.FINAL or job.get("cancel_requested") or job.get("runner_id"):
            return False
        job.update(state=JobState.WAITING, task_token=task_token, runner_id=runners.PENDING)
        starting["go"] = True

    job = jobs.mutate(job_id, claim)
    if job is None or not starting["go"]:
        # canceled before it started, deleted, or a redelivered message: close the execution
        _send_success(task_token, job_id, (job or {}).get("state", "deleted"))
        return
    try:
        runner_id = runners.start(job_id)
    except Exception as exc:  # noqa: BLE001 - the job must not stay "waiting" forever
        logger.exception("runner did not start", extra={"job_id": job_id})
        jobs.finish(job_id, JobState.FAILED, f"the runner could not be started: {exc}")
        _send_success(task_token, job_id, JobState.FAILED)
        return
    jobs.mutate(job_id, lambda j: j.update(runner_id=runner_id) if j.get("runner_id") == runners.PENDING else False,
                current=job)
    # no heartbeat here: the batch's (`acknowledge`) has just restarted the clock, the runner beats
    # as soon as it starts, and a queued local runner is beaten by its backend
    logger.info("runner started", extra={"job_id": job_id, "runner_id": runner_id})


def execution_failed(job_id: int, error: dict) -> None:
    """The state machine gave up on the job: timeout, or the runner stopped sending heartbeats."""
    job = store.get("job", job_id)
    if job is None or job.get("state") in jobs.FINAL:
        return
    code = str(error.get("Error", ""))
    settings = jobs.settings()
    timeout = int(settings.get("job_timeout") or 0)
    started = job.get("start_time") or job.get("ctime") or 0
    if timeout and time.time() - started >= timeout:
        reason = f"job timed out after {timeout} s"
    elif code in ("States.Timeout", "States.HeartbeatTimeout"):
        reason = f"runner lost: no heartbeat for {jobs.heartbeat_seconds()} s"
    else:
        reason = f"execution failed: {code or 'unknown error'}"
    # the final state first: a runner told to stop may still report, and must find the job failed
    jobs.finish(job_id, JobState.FAILED, reason)
    runners.stop(job.get("runner_id", ""))
    try:
        joblogs.put_events(job_id, [{"counter": 10**9, "event": "error", "stdout": f"ERROR: {reason}"}])
    except Exception:  # noqa: BLE001 - the job state above is what matters
        logger.exception("could not append the reason to the log", extra={"job_id": job_id})
    logger.info("job failed by the state machine", extra={"job_id": job_id, "reason": reason})


def _heartbeat(task_token: str) -> None:
    try:
        aws.client("stepfunctions").send_task_heartbeat(taskToken=task_token)
    except Exception:  # noqa: BLE001 - the execution may have ended already
        pass


def _send_success(task_token: str, job_id: int, status: str) -> None:
    jobs.settle_task(task_token, {"job_id": job_id, "status": status})

"""Job output: streamed to CloudWatch Logs while a job runs, archived to S3 when it ends.

One log stream per job (`job-<id>`) in the installation's log group; each log event holds a run
of consecutive ansible events as JSON lines (up to ~64 KB), so a busy playbook costs a few
hundred log events instead of thousands. At the end the runner writes `jobs/<id>/stdout.txt` and
`jobs/<id>/events.jsonl` to the artifacts bucket, and readers switch to those.
"""
from __future__ import annotations

import json
import re
import time
from collections.abc import Iterable

from botocore.exceptions import ClientError

from chalicelib import aws
from chalicelib.stack import STACK

ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: CloudWatch limits: 1 MB per PutLogEvents call, 256 KB per log event; we stay well below
_MAX_BATCH_BYTES = 900_000
_MAX_MESSAGE_BYTES = 64_000


def stream_name(job_id: int) -> str:
    return f"job-{job_id}"


def archive_key(job_id: int, name: str) -> str:
    return f"jobs/{job_id}/{name}"


def create_stream(job_id: int) -> None:
    try:
        aws.client("logs").create_log_stream(logGroupName=STACK.log_group, logStreamName=stream_name(job_id))
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ResourceAlreadyExistsException":
            raise


def put_events(job_id: int, events: list[dict]) -> None:
    """Append events to the job's stream: JSON lines packed into log events, few calls."""
    messages: list[str] = []
    current: list[str] = []
    size = 0
    for event in events:
        line = json.dumps(event, separators=(",", ":"), default=str)
        if current and size + len(line) + 1 > _MAX_MESSAGE_BYTES:
            messages.append("\n".join(current))
            current, size = [], 0
        current.append(line)
        size += len(line) + 1
    if current:
        messages.append("\n".join(current))
    now_ms = int(time.time() * 1000)
    batch: list[dict] = []
    batch_size = 0
    for message in messages:
        if batch and batch_size + len(message) + 26 > _MAX_BATCH_BYTES:
            _put(job_id, batch)
            batch, batch_size = [], 0
        batch.append({"timestamp": now_ms, "message": message})
        batch_size += len(message) + 26
    if batch:
        _put(job_id, batch)


def _put(job_id: int, batch: list[dict]) -> None:
    aws.client("logs").put_log_events(logGroupName=STACK.log_group, logStreamName=stream_name(job_id), logEvents=batch)


def streamed_events(job_id: int) -> list[dict]:
    """Every event streamed so far (while the job runs)."""
    logs = aws.client("logs")
    out: list[dict] = []
    kwargs = {"logGroupName": STACK.log_group, "logStreamName": stream_name(job_id), "startFromHead": True}
    token = None
    while True:
        try:
            page = logs.get_log_events(**kwargs, **({"nextToken": token} if token else {}))
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "ResourceNotFoundException":
                return out
            raise
        out.extend(json.loads(line) for e in page.get("events", []) for line in e["message"].splitlines() if line)
        if not page.get("events") or page.get("nextForwardToken") == token:
            break
        token = page.get("nextForwardToken")
    return out


def archive(job_id: int, stdout: str, events: Iterable[dict]) -> None:
    s3 = aws.client("s3")
    s3.put_object(Bucket=STACK.bucket, Key=archive_key(job_id, "stdout.txt"), Body=stdout.encode(),
                  ContentType="text/plain; charset=utf-8")
    body = "".join(json.dumps(e, separators=(",", ":"), default=str) + "\n" for e in events)
    s3.put_object(Bucket=STACK.bucket, Key=archive_key(job_id, "events.jsonl"), Body=body.encode(),
                  ContentType="application/x-ndjson")


def _archived(job_id: int, name: str) -> bytes | None:
    try:
        return aws.client("s3").get_object(Bucket=STACK.bucket, Key=archive_key(job_id, name))["Body"].read()
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return None
        raise


def events(job_id: int) -> list[dict]:
    """All events of a job: from the archive when it has ended, else from the live stream."""
    body = _archived(job_id, "events.jsonl")
    if body is not None:
        return [json.loads(line) for line in body.decode().splitlines() if line.strip()]
    return streamed_events(job_id)


def stdout_ansi(job_id: int) -> str:
    body = _archived(job_id, "stdout.txt")
    if body is not None:
        return body.decode()
    return join_stdout(streamed_events(job_id))


def join_stdout(evts: Iterable[dict]) -> str:
    parts = [e.get("stdout") for e in sorted(evts, key=lambda e: e.get("counter", 0)) if e.get("stdout")]
    return "\n".join(parts) + ("\n" if parts else "")


def stdout_text(job_id: int) -> str:
    return strip_ansi(stdout_ansi(job_id))


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)

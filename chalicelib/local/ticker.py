"""The local stack's stand-in for EventBridge Scheduler, which moto stores but never fires.

Every second the ticker reads the schedules due by now (the records table's `due` index, up to
now: what is due, not every schedule), sends the launch queue the message EventBridge Scheduler
would send for each due time, and moves the schedule's `next_time` on. The launch handler then
does what it does on AWS (`chalicelib.services.schedules.firing`).

A due time older than ON_TIME when the ticker sees it was missed (the stack was not running, or
the machine slept). Missed due times never all run: with `missed_run_policy` `skip` none does;
with `run_once` the latest does, if it is not older than the schedule's `max_delay`. The
schedule's `last_result` counts what was missed.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger

from chalicelib import aws
from chalicelib.services import store
from chalicelib.services.catalog import schedule
from chalicelib.services.resources import get
from chalicelib.services.schedules import firing, timing
from chalicelib.stack import STACK

logger = Logger(service="opsgrat-local")

#: a due time the ticker sees within this many seconds is on time (EventBridge Scheduler's own
#: precision is a minute)
ON_TIME = 60
#: schedules handled per tick at most (the rest are still due at the next tick)
BATCH = 500
#: due times counted as missed per schedule at most (a minutely schedule after a week away)
MAX_MISSED = 10_000


@dataclass
class Tick:
    """What one tick did: the schedules it read and the messages it sent."""

    due: int = 0
    sent: list[tuple[int, int]] = field(default_factory=list)
    missed: dict[int, int] = field(default_factory=dict)


def plan(rec: dict, now: int) -> tuple[int | None, int, int | None]:
    """For a due schedule: (the due time to fire or None, how many due times were missed (at
    most MAX_MISSED counted), the next due time after now)."""
    rule = timing.Rule.from_record(rec, now)
    after = int(rec["next_time"]) - 1
    # due times older than this can never run (too late even for run_once): counted, not listed
    horizon = now - max(ON_TIME, int(rec.get("max_delay") or 0))
    older = 0
    if after < horizon:
        older = len(timing.due_until(rule, after, min(horizon, after + MAX_MISSED * timing.MIN_INTERVAL)))
        after = horizon
    recent = [d.at for d in timing.due_until(rule, after, now)]
    next_time = schedule.next_time(rec, now, rule)
    if not recent:
        return None, older, next_time
    latest, missed = recent[-1], older + len(recent) - 1
    if now - latest <= ON_TIME:
        return latest, missed, next_time
    if rec.get("missed_run_policy") == "run_once":  # within max_delay: the horizon saw to it
        return latest, missed, next_time
    return None, missed + 1, next_time


def tick(now: int, queue_url: str) -> Tick:
    """One pass over the schedules due by `now`."""
    schedules = get("schedule")
    report = Tick()
    sqs = aws.client("sqs")
    for rec in store.due(schedules, now, limit=BATCH):
        report.due += 1
        try:
            fire_at, missed, next_time = plan(rec, now)
        except Exception:  # noqa: BLE001 - one schedule's bad record must not stop the others
            logger.exception("schedule not ticked", extra={"schedule": rec["id"]})
            continue
        if fire_at is not None:
            # sent before next_time moves: a crash in between makes a duplicate, which the
            # handler recognizes, never a lost run
            sqs.send_message(QueueUrl=queue_url, MessageBody=json.dumps(firing.message(rec["id"], fire_at)))
            report.sent.append((rec["id"], fire_at))
        if missed:
            report.missed[rec["id"]] = missed
        _advance(schedules, rec, next_time, missed, fire_at)
    return report


def _advance(schedules, rec: dict, next_time: int | None, missed: int, fired: int | None) -> None:
    seen = rec["next_time"]

    def change(r: dict) -> bool | None:
        if r.get("next_time") != seen:
            return False  # changed meanwhile (an edit, the handler): theirs is newer
        r["next_time"] = next_time
        if missed:
            policy = r.get("missed_run_policy") or "skip"
            done = f"; ran the latest at {firing.iso(fired)}" if fired is not None else ""
            r["last_result"] = (f"missed {missed} due time(s) since {firing.iso(seen)} while the local stack "
                                f"was not running (missed_run_policy {policy}){done}")
        return None

    store.mutate(schedules, rec["id"], change, current=rec)


class Ticker(threading.Thread):
    """Ticks just after each second boundary until stopped. Each tick is one query of the `due`
    index up to now (which the stack's moto answers from the index's own entries, not by walking
    the table: `chalicelib.local.moto_patches`), and one send and one write per due schedule."""

    def __init__(self, offset: float = 0.05):
        super().__init__(name="ticker", daemon=True)
        self.offset = offset
        self._stop_event = threading.Event()
        self.queue_url = aws.client("sqs").get_queue_url(QueueName=STACK.queue(STACK.LAUNCH_QUEUE).name)["QueueUrl"]

    def stop(self) -> None:
        self._stop_event.set()

    def run(self) -> None:
        while not self._stop_event.is_set():
            now = time.time()
            self._stop_event.wait(1 - (now % 1) + self.offset)
            if self._stop_event.is_set():
                return
            try:
                report = tick(int(time.time()), self.queue_url)
            except Exception:  # noqa: BLE001 - the server is going away at shutdown, or a blip
                if self._stop_event.is_set():
                    return
                logger.exception("tick failed")
                continue
            if report.sent or report.missed:
                logger.info("tick", extra={"sent": report.sent, "missed": report.missed})

"""Notification benchmark (issue "100 jobs with a webhook binding: deliveries received = 100 (none
lost, none doubled); median latency from the job's recorded finish to the webhook's receipt (goal
<= 1 s in the local stack)").

One ping template in a real local stack (`python -m chalicelib.local`, 2 cores) with one Webhook
notification bound on `successful` and `failed`, whose body carries the job id; the webhook is a
real HTTP server on loopback (`tests.webhooks.Recorder`) that stamps each request with
`time.time()` when it arrives. Latency = that arrival - the job's `finished` (ISO 8601 UTC with
microseconds, recorded when the job reached its final state; one machine, one clock): the event
put on the bus, the bus's rule to the notify queue, its poller, the handler (the job, its
bindings, the context, the claim, the notification, rendering) and the HTTP request.

1. Baseline (no load): K=10 jobs, one at a time, each after the previous one's webhook arrived.
2. Load: N=100 jobs launched at once (10 launch requests in flight at a time, as bench/jobs.py),
   the stack running 2 per core and queueing the rest (about a minute on 2 cores); `--wave W`
   launches them W at a time instead, each wave after the previous one's jobs ended. Then the
   bench waits until every job is final and the recorder has N deliveries of these jobs, or 30 s
   after it saw the last job final, and 2 s more for late doubles.

Prints, for each part: deliveries received, distinct job ids, jobs launched, lost (launched, never
received), doubled (received more than once), the delivery attempts the jobs recorded
(`GET /api/job/job/{id}/notifications/`), and the latency's median, p90 and max (of each job's
first receipt); for the load, the median latency per tenth of the jobs in finish order (does it
grow as the queue fills?). The goal: all N received once each, median <= 1 s. The bench's own
observation is light: one job polled at a time, backing off to 0.5 s.

A summary in the form of the README's Performance table ends the output.

Run: `.venv/bin/python bench/notifications.py [--jobs N] [--baseline K] [--wave W]`.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import json
import os
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PING, setup_templates  # noqa: E402
from tests.gitrepo import make_repo  # noqa: E402
from tests.localstack import RunningStack  # noqa: E402
from tests.webhooks import Received, Recorder  # noqa: E402

#: the local stack logs as it does for a user (its deliveries are logged at INFO)
STACK_LOG_LEVEL = os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO")
BODY = '{"job": {{ job.id }}, "state": {{ job.state | tojson }}}'
AFTER_LAST = 30.0  # seconds to wait for deliveries once the last job is final
LATE = 2.0  # seconds more, for a late double
GOAL = 1.0
_summary: list[str] = []


@dataclass
class Outcome:
    """What one part launched and what the recorder received for its jobs."""

    launched: list[int]
    finals: dict[int, dict] = field(default_factory=dict)
    receipts: dict[int, list[Received]] = field(default_factory=dict)
    attempts: collections.Counter = field(default_factory=collections.Counter)

    @property
    def received(self) -> int:
        return sum(len(r) for r in self.receipts.values())

    @property
    def lost(self) -> list[int]:
        return [j for j in self.launched if not self.receipts.get(j)]

    @property
    def doubled(self) -> list[int]:
        return [j for j in self.launched if len(self.receipts.get(j, ())) > 1]

    def latencies(self) -> dict[int, float]:
        """Each received job's first receipt - its recorded `finished`."""
        return {j: min(r.at for r in self.receipts[j]) - finished(self.finals[j])
                for j in self.launched if self.receipts.get(j) and self.finals.get(j, {}).get("finished")}


def finished(job: dict) -> float:
    return datetime.datetime.fromisoformat(job["finished"].replace("Z", "+00:00")).timestamp()


def percentile(values: list[float], q: float) -> float:
    """Linear interpolation between the closest ranks (q in 0..1)."""
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def job_of(received: Received) -> int | None:
    try:
        return int(received.json()["job"])
    except (ValueError, KeyError, TypeError):
        return None


def receipts_of(recorder: Recorder, jobs: set[int]) -> dict[int, list[Received]]:
    arrived = recorder.wait(0, timeout=0)  # a copy, taken under the recorder's lock
    out: dict[int, list[Received]] = collections.defaultdict(list)
    for r in arrived:
        job = job_of(r)
        if job in jobs:
            out[job].append(r)
    return dict(out)


def wait_receipts(recorder: Recorder, jobs: set[int], timeout: float) -> dict[int, list[Received]]:
    """Until every one of `jobs` has a delivery, or the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        got = receipts_of(recorder, jobs)
        if len(got) >= len(jobs) or time.monotonic() > deadline:
            return got
        recorder.wait(len(recorder.received) + 1, timeout=min(0.5, max(deadline - time.monotonic(), 0.01)))


def launch(stack: RunningStack, template_id: int) -> int:
    r = stack.http("POST", "/api/template/template/run/", json={"id": template_id})
    if r.status_code != 201:
        raise SystemExit(f"launch refused: {r.status_code} {r.text}")
    return r.json()["id"]


def record_attempts(stack: RunningStack, outcome: Outcome) -> None:
    """The delivery attempts each job recorded, counted by (attempt number, result)."""
    for job_id in outcome.launched:
        rows = stack.http("GET", f"/api/job/job/{job_id}/notifications/").json()["results"]
        outcome.attempts["jobs with no delivery row" if not rows else "jobs with a row"] += 1
        for row in rows:
            outcome.attempts[f"attempt {row['attempt']} {row['result']}"] += 1


def baseline(stack: RunningStack, recorder: Recorder, template_id: int, count: int) -> Outcome:
    """`count` jobs one at a time, each once the previous one's webhook arrived."""
    outcome = Outcome([])
    for _ in range(count):
        job_id = launch(stack, template_id)
        outcome.launched.append(job_id)
        outcome.finals[job_id] = stack.wait_job(job_id, timeout=300)
        wait_receipts(recorder, {job_id}, AFTER_LAST)
    time.sleep(LATE)
    outcome.receipts = receipts_of(recorder, set(outcome.launched))
    return outcome


def load(stack: RunningStack, recorder: Recorder, template_id: int, count: int, wave: int) -> tuple[Outcome, float]:
    """`count` jobs at once (or `wave` at a time); the outcome and the seconds from the first
    launch to the last recorded finish."""
    outcome = Outcome([])
    start = time.time()
    size = wave or count
    for first in range(0, count, size):
        with ThreadPoolExecutor(max_workers=10) as pool:
            ids = list(pool.map(lambda _: launch(stack, template_id), range(min(size, count - first))))
        outcome.launched += ids
        if wave:
            for job_id in ids:
                outcome.finals[job_id] = stack.wait_job(job_id, timeout=1800)
        print(f"  launched {len(outcome.launched)} of {count} ({time.time() - start:.1f} s)", flush=True)
    for job_id in outcome.launched:
        if job_id not in outcome.finals:
            outcome.finals[job_id] = stack.wait_job(job_id, timeout=1800)
    all_final = time.time()
    span = max(finished(f) for f in outcome.finals.values() if f.get("finished")) - start
    print(f"  all {count} jobs final {all_final - start:.1f} s after the first launch (last recorded finish at "
          f"{span:.1f} s); waiting for the webhooks", flush=True)
    wait_receipts(recorder, set(outcome.launched), AFTER_LAST)
    time.sleep(LATE)
    outcome.receipts = receipts_of(recorder, set(outcome.launched))
    return outcome, span


def report(label: str, outcome: Outcome) -> dict:
    launched = len(outcome.launched)
    states = collections.Counter(f.get("state") for f in outcome.finals.values())
    lost, doubled = outcome.lost, outcome.doubled
    latency = outcome.latencies()
    values = list(latency.values())
    result = {"launched": launched, "received": outcome.received, "distinct": len(outcome.receipts),
              "lost": len(lost), "doubled": len(doubled), "states": dict(states)}
    print(f"  {label}: deliveries received {outcome.received}, distinct job ids {len(outcome.receipts)}, jobs launched "
          f"{launched} (final states {dict(states)}); lost {len(lost)}{f' {lost}' if lost else ''}, doubled "
          f"{len(doubled)}{f' {doubled}' if doubled else ''}")
    print(f"    delivery attempts the jobs recorded: {dict(sorted(outcome.attempts.items()))}")
    if values:
        result.update(median=statistics.median(values), p90=percentile(values, 0.9), max=max(values), min=min(values))
        met = result["median"] <= GOAL
        print(f"    latency (job's finished -> webhook received): median {result['median']:.3f} s, p90 "
              f"{result['p90']:.3f} s, max {result['max']:.3f} s, min {result['min']:.3f} s over {len(values)} jobs "
              f"(goal median <= {GOAL:g} s) {'OK' if met else 'OVER GOAL'}")
        if len(values) >= 20:
            in_finish_order = [latency[j] for j in sorted(latency, key=lambda j: finished(outcome.finals[j]))]
            tenth = len(in_finish_order) / 10
            medians = [statistics.median(in_finish_order[round(i * tenth):round((i + 1) * tenth)]) for i in range(10)]
            print(f"    median latency per tenth of the jobs in finish order (s): {', '.join(f'{m:.2f}' for m in medians)}")
        else:
            print(f"    each (s): {', '.join(f'{latency[j]:.3f}' for j in outcome.launched if j in latency)}")
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--jobs", type=int, default=100, help="jobs in the load part")
    parser.add_argument("--baseline", type=int, default=10, help="jobs run one at a time first (0: none)")
    parser.add_argument("--wave", type=int, default=0, help="launch the load W at a time (0: all at once)")
    args = parser.parse_args()
    started = time.perf_counter()
    tmp = Path(tempfile.mkdtemp(prefix="opsgrat-bench-notify-"))
    repo = make_repo(tmp / "repo", {"ping.yml": PING})
    stack = RunningStack(tmp / "home", env={"POWERTOOLS_LOG_LEVEL": STACK_LOG_LEVEL})
    how = f"{args.wave} at a time, each wave after the last one ended" if args.wave else "all launched at once"
    try:
        with Recorder() as recorder:
            stack.start()
            print(f"local stack {stack.url}, home {stack.home}, log {stack.log_path}; webhook {recorder.url}", flush=True)
            template = setup_templates(stack, repo, ("ping",))["ping"]
            r = stack.http("POST", "/api/notification/notification/", json={
                "name": "bench hook", "channel": "Webhook", "url": f"{recorder.url}/hook", "body_template": BODY})
            if r.status_code != 201:
                raise SystemExit(f"notification not created: {r.status_code} {r.text}")
            r = stack.http("POST", "/api/template/template/notification/", json={
                "template": template, "notification": r.json()["id"], "result": ["successful", "failed"]})
            if r.status_code != 201:
                raise SystemExit(f"binding not created: {r.status_code} {r.text}")
            parts = []
            if args.baseline:
                print(f"1. Baseline: {args.baseline} jobs one at a time (no load)", flush=True)
                outcome = baseline(stack, recorder, template, args.baseline)
                record_attempts(stack, outcome)
                parts.append(("baseline", outcome, report("baseline", outcome), None))
            print(f"2. Load: {args.jobs} jobs, {how}", flush=True)
            outcome, span = load(stack, recorder, template, args.jobs, args.wave)
            record_attempts(stack, outcome)
            parts.append(("load", outcome, report("load", outcome), span))
            ours = {j for _, o, _, _ in parts for j in o.launched}
            strays = [r for r in recorder.wait(0, timeout=0) if job_of(r) not in ours]
            if strays:
                print(f"  note: {len(strays)} request(s) for no job of this bench: "
                      f"{[json.loads(r.body or b'null') for r in strays][:5]}")
    finally:
        stack.stop()
    print()
    print(f"summary for the README's Performance table ({time.strftime('%Y-%m-%d')}, done in "
          f"{time.perf_counter() - started:.0f} s):")
    for label, _, result, span in parts:
        faults = [f"{result['lost']} lost" if result["lost"] else "none lost",
                  f"{result['doubled']} doubled" if result["doubled"] else "none doubled"]
        latency = (f"; latency median **{result['median']:.2f} s**, p90 {result['p90']:.2f} s, max {result['max']:.2f} s"
                   if "median" in result else "")
        if label == "load":
            _summary.append(
                f"| `bench/notifications.py` {result['launched']} jobs with a webhook binding (ping, {how}, local "
                f"stack, a webhook server on loopback; latency = the job's recorded `finished` → the webhook's "
                f"receipt) | received {result['distinct']} of {result['launched']} ({result['received']} requests), "
                f"{', '.join(faults)}{latency}; all {result['launched']} jobs ended within {span:.1f} s | "
                f"{result['launched']}; median ≤ 1 s |")
        else:
            _summary.append(
                f"| `bench/notifications.py` baseline: {result['launched']} jobs one at a time (no load) | received "
                f"{result['distinct']} of {result['launched']}, {', '.join(faults)}{latency} | |")
    for line in _summary:
        print(line)


if __name__ == "__main__":
    main()

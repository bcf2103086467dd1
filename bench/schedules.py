"""Schedule benchmarks (issue "Benchmark (bench/schedules.py, result in the README)"), each against
a baseline measured in the same run.

1. Ticker cost per tick, in-process under moto (as the tests): the local ticker's `tick(now,
   queue_url)` with 100 vs 10,000 schedules stored, the same D=5 of them due at every tick and
   the others enabled but due weeks from now. The baseline is the 100-schedule world; the
   10,000-schedule world is the same world with 9,900 more schedules, and the two alternate in
   blocks (the 9,900 are written, then deleted, then written again), so that both sizes see the
   same process, warm caches and machine noise. Prints the median tick time at each size and the
   ratio (goal <= 1.5: the cost follows the due schedules, not the stored ones), and the AWS
   calls per tick by operation (counted by wrapping botocore's `BaseClient._make_api_call`,
   which every boto3 and PynamoDB call goes through), with the items DynamoDB returned.
2. Fire precision in a real local stack (`python -m chalicelib.local`, 2 cores): precision =
   the job's `created` (ISO 8601 UTC with microseconds, set when its record is made) - its
   scheduled time; median and max over 20 fires (goal median <= 1 s; the ticker ticks 0.05 s
   after each second, so that is the floor). Three cases, one after another, each once the
   previous one's jobs ended: "spread", 20 interval schedules (every 60 s, the minimum) whose
   first runs (`start_time`, the scheduled time) are 3 s apart over the next minute; "burst,
   interval", 20 interval schedules with the same first run; "burst, cron", 20 `* * * * *` cron
   schedules due at the same minute (their `next_time`). Each schedule is disabled as soon as it
   has its job, so it fires once; the observer makes one list request every 0.5 s.

A summary in the form of the README's Performance table ends the output.

Run: `.venv/bin/python bench/schedules.py [--rounds N] [--blocks N] [--only ticker|fire] [--no-burst]`.
"""
from __future__ import annotations

import argparse
import collections
import datetime
import gc
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: the local stack logs as it does for a user (tests.conftest quietens this process to WARNING)
STACK_LOG_LEVEL = os.environ.get("POWERTOOLS_LOG_LEVEL", "INFO")

# tests.conftest puts moto's settings in place (region, test credentials, no endpoint) when it is
# imported, which must happen before chalicelib is
from tests.conftest import Api, moto_stack  # noqa: E402  # isort: skip

from bench.calls import CallCounter  # noqa: E402
from bench.common import PING, setup_templates  # noqa: E402
from tests.gitrepo import make_repo  # noqa: E402
from tests.localstack import RunningStack  # noqa: E402

SMALL, LARGE, DUE = 100, 10_000, 5
FIRES = 20
_summary: list[str] = []


# ---------------------------------------------------------------- 1. ticker cost


def _far_months(now: int) -> list[int]:
    """Months at least a month away from `now`: a schedule in one of them is not due for weeks."""
    this = datetime.datetime.fromtimestamp(now, datetime.UTC).month
    near = {this, this % 12 + 1}
    return [m for m in range(1, 13) if m not in near]


def _not_due(proto: dict, index: int, now: int, months: list[int]) -> dict:
    """A valid cron schedule as the API stores it (the prototype is one the API stored), due in a
    far month: minute, hour and day spread so that the `due` index holds many distinct times."""
    from chalicelib.services.schedules import timing

    rec = {k: v for k, v in proto.items() if k not in ("id", "_version")}
    rec.update(name=f"bench not due {index}", minute=str(index % 60), hour=str(index // 60 % 24),
               day=str(1 + index % 28), month=str(months[index % len(months)]), week="", start_time=now)
    rec["cron"] = timing.cron_string(rec)
    rec["next_time"] = timing.next_due(timing.Rule.from_record(rec, now), now).at
    return rec


def _write_many(recs: list[dict]) -> list[int]:
    """Store schedules fast: BatchWriteItem of the items `store.create` would write (bench code:
    it uses store internals, `_item` and `_partitions`), ids reserved from the family's sequence
    and the row counters moved by as much, so the world is the one `store.create` would leave.
    Not written: the creator's grant and the EventBridge Scheduler mirror, which the ticker never
    reads."""
    from chalicelib.models import Counter, Record
    from chalicelib.services import store
    from chalicelib.services.resources import get

    schedules = get("schedule")
    seq = Counter("seq|schedule")
    seq.update(actions=[Counter.value.add(len(recs))])
    first = int(seq.value) - len(recs) + 1
    partitions: collections.Counter = collections.Counter()
    ids = []
    with Record.batch_write() as batch:
        for offset, rec in enumerate(recs):
            rec = {**rec, "id": first + offset, "_version": None}
            batch.save(store._item(schedules, rec))
            partitions.update(store._partitions(schedules, rec))
            ids.append(rec["id"])
    for part, n in partitions.items():
        Counter(f"count|{part}").update(actions=[Counter.value.add(n)])
    return ids


def _delete_many(ids: list[int]) -> None:
    """Undo `_write_many`: the items and their row counts (every bench schedule is listed in the
    partitions of the prototype: the family and its template)."""
    from chalicelib.models import Counter, Record
    from chalicelib.services import store
    from chalicelib.services.resources import get

    with Record.batch_write() as batch:
        for record_id in ids:
            batch.delete(Record("schedule", record_id))
    for part in store._partitions(get("schedule"), _PROTO):
        Counter(f"count|{part}").update(actions=[Counter.value.add(-len(ids))])


#: a schedule the API stored, which the bench's other schedules are copies of
_PROTO: dict = {}


def _drain(queue_url: str) -> int:
    from chalicelib import aws

    sqs, drained = aws.client("sqs"), 0
    while True:
        messages = sqs.receive_message(QueueUrl=queue_url, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return drained
        sqs.delete_message_batch(QueueUrl=queue_url, Entries=[
            {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
        drained += len(messages)


def _raw_due_query(now: int, repeat: int = 10) -> float:
    """Median seconds of the ticker's one query, straight through PynamoDB (no app code)."""
    from chalicelib.models import Record

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        list(Record.by_due.query("schedule", range_key_condition=Record.due_at <= now))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


class TickWorld:
    """The in-process world: a template, D due schedules, and the ticks measured on it."""

    def __init__(self, counter: CallCounter):
        from chalice.test import Client

        from app import app
        from chalicelib import aws
        from chalicelib.services import auth, store
        from chalicelib.services.resources import get
        from chalicelib.stack import STACK

        self.counter = counter
        _, token = auth.ensure_superuser("admin")
        self.client = Client(app)
        api = Api(self.client, token)
        project = store.create(get("project"), {"name": "bench", "repository_url": "file:///srv/bench.git",
                                                "playbooks": ["ping.yml"]})
        inventory = store.create(get("inventory"), {"name": "bench", "description": "", "variables": "",
                                                    "inventory": "", "credential": None})
        r = api.post("/api/template/template/", {"name": "bench", "project": project["id"], "playbook": "ping.yml",
                                                 "inventory": inventory["id"]})
        assert r.status_code == 201, r.body
        self.template = r.data["id"]
        # the due ones and the prototype of the others go through the API: as a user's would
        self.due = []
        for index in range(DUE):
            r = api.post("/api/job/schedule/", {"name": f"bench due {index}", "template": self.template,
                                                "type": "cron"})
            assert r.status_code == 201, r.body
            self.due.append(r.data["id"])
        r = api.post("/api/job/schedule/", {"name": "bench prototype", "template": self.template, "type": "cron",
                                            "minute": "0", "hour": "3", "day": "1", "month": "1"})
        assert r.status_code == 201, r.body
        _PROTO.update(store.get("schedule", r.data["id"]))
        self.now = int(store.get("schedule", self.due[0])["next_time"])  # a minute boundary
        self.queue_url = aws.client("sqs").get_queue_url(QueueName=STACK.queue(STACK.LAUNCH_QUEUE).name)["QueueUrl"]
        self.stored = DUE + 1

    def add(self, count: int) -> list[int]:
        created = int(time.time())
        months = _far_months(created)
        ids = []
        for start in range(0, count, 1000):
            ids += _write_many([_not_due(_PROTO, self.stored + i, created, months)
                                for i in range(start, min(count, start + 1000))])
        self.stored += count
        return ids

    def remove(self, ids: list[int]) -> None:
        _delete_many(ids)
        self.stored -= len(ids)

    def _rearm(self) -> None:
        """The D due schedules due at `now` again (not timed; a no-op after a tick at now - 60,
        which moved them to now)."""
        from chalicelib.services import store
        from chalicelib.services.resources import get

        for schedule_id in self.due:
            store.mutate(get("schedule"), schedule_id, lambda r: r.update(next_time=self.now))

    def measure(self, rounds: int) -> dict:
        """`rounds` ticks, each at the next minute with the D schedules due then."""
        from chalicelib.local.ticker import tick

        times, inside, calls, items = [], [], collections.Counter(), 0
        gc.collect()
        for _ in range(rounds):
            self._rearm()
            self.counter.reset()
            start = time.perf_counter()
            report = tick(self.now, self.queue_url)
            times.append(time.perf_counter() - start)
            inside.append(self.counter.seconds)
            calls.update(self.counter.calls)
            items += self.counter.items
            if report.due != DUE or len(report.sent) != DUE:
                raise SystemExit(f"tick at {self.now} with {self.stored} stored: read {report.due}, sent "
                                 f"{len(report.sent)}, expected {DUE} and {DUE}")
            if _drain(self.queue_url) != DUE:
                raise SystemExit("the launch queue did not hold one message per due schedule")
            self.now += 60
        return {"times": times, "outside": [t - i for t, i in zip(times, inside)], "inside": inside,
                "calls": {k: n / rounds for k, n in sorted(calls.items())}, "items": items / rounds,
                "raw": _raw_due_query(self.now)}

    def plan_cost(self, repeat: int = 5) -> dict:
        """Where the ticker's own time goes: `plan()` for one due schedule (no AWS calls), for the
        due `* * * * *` schedule and for the same record as an interval of 60 s."""
        from chalicelib.local import ticker
        from chalicelib.services import store

        cron = {**store.get("schedule", self.due[0]), "next_time": self.now}
        interval = {**cron, "type": "interval", "interval": 60, "interval_type": "seconds",
                    "start_time": self.now - 600}

        def median_ms(call) -> float:
            times = []
            for _ in range(repeat):
                start = time.perf_counter()
                call()
                times.append(time.perf_counter() - start)
            return statistics.median(times) * 1000

        return {"cron": median_ms(lambda: ticker.plan(cron, self.now)),
                "interval": median_ms(lambda: ticker.plan(interval, self.now))}


def _calls_text(calls: dict) -> str:
    return ", ".join(f"{svc} {op} {n:g}" for (svc, op), n in calls.items())


def ticker_cost(rounds: int, blocks: int) -> None:
    print(f"1. Ticker cost per tick: {SMALL:,} vs {LARGE:,} schedules stored, {DUE} due at each tick "
          f"(in-process moto, {rounds} ticks per block, {blocks} blocks per size, alternating)", flush=True)
    counter = CallCounter()
    with moto_stack():
        world = TickWorld(counter)
        try:
            world.add(SMALL - world.stored)
            counter.install()
            world.measure(3)  # warm-up: the clients, the code paths
            results: dict[int, list[dict]] = {SMALL: [], LARGE: []}
            for block in range(blocks):
                results[SMALL].append(world.measure(rounds))
                start = time.perf_counter()
                extra = world.add(LARGE - SMALL)
                gc.freeze()  # moto's items live in this process: the collector must not charge them to the tick
                seeded = time.perf_counter() - start
                results[LARGE].append(world.measure(rounds))
                small, large = results[SMALL][-1], results[LARGE][-1]
                print(f"  block {block + 1}: {SMALL:,} stored {statistics.median(small['times']) * 1000:.2f} ms/tick, "
                      f"{LARGE:,} stored {statistics.median(large['times']) * 1000:.2f} ms/tick "
                      f"(ratio {statistics.median(large['times']) / statistics.median(small['times']):.2f}); "
                      f"{LARGE - SMALL:,} schedules written in {seeded:.1f} s", flush=True)
                world.remove(extra)
                gc.unfreeze()
                gc.collect()
            cost = world.plan_cost()
        finally:
            counter.uninstall()
    figures = {}
    for size, blocks_of in results.items():
        merged = {
            "times": [t for b in blocks_of for t in b["times"]],
            "outside": [t for b in blocks_of for t in b["outside"]],
            "inside": [t for b in blocks_of for t in b["inside"]],
            "calls": blocks_of[-1]["calls"], "items": blocks_of[-1]["items"],
            "raw": statistics.median(b["raw"] for b in blocks_of),
        }
        if any(b["calls"] != merged["calls"] for b in blocks_of):
            print(f"  note: calls per tick differed between blocks at {size:,}: {[b['calls'] for b in blocks_of]}")
        figures[size] = merged
        print(f"  {size:>6,} stored: median {statistics.median(merged['times']) * 1000:6.2f} ms/tick "
              f"({statistics.median(merged['outside']) * 1000:.2f} ms outside AWS calls, "
              f"{statistics.median(merged['inside']) * 1000:.2f} ms inside them); calls/tick "
              f"{sum(merged['calls'].values()):g} ({_calls_text(merged['calls'])}); DynamoDB items returned/tick "
              f"{merged['items']:g}")
    small, large = figures[SMALL], figures[LARGE]
    ratio = statistics.median(large["times"]) / statistics.median(small["times"])
    own = statistics.median(large["outside"]) / statistics.median(small["outside"])
    emulated = statistics.median(large["inside"]) / statistics.median(small["inside"])
    print(f"  ratio {LARGE:,}/{SMALL:,}, whole tick: {ratio:.2f} (goal <= 1.5) {'OK' if ratio <= 1.5 else 'OVER GOAL'}")
    print(f"  ratio {LARGE:,}/{SMALL:,}, time outside AWS calls (the ticker's own code): {own:.2f} "
          f"{'OK' if own <= 1.5 else 'OVER GOAL'}")
    print(f"  ratio {LARGE:,}/{SMALL:,}, time inside AWS calls (botocore and moto): {emulated:.2f}")
    same = small["calls"] == large["calls"] and small["items"] == large["items"]
    print(f"  AWS calls and DynamoDB items per tick: {sum(small['calls'].values()):g}/{small['items']:g} at {SMALL:,}, "
          f"{sum(large['calls'].values()):g}/{large['items']:g} at {LARGE:,} ({'the same' if same else 'DIFFERENT'})")
    print(f"  the ticker's Query on the due index alone: {small['raw'] * 1000:.2f} ms at {SMALL:,} and "
          f"{large['raw'] * 1000:.2f} ms at {LARGE:,} stored (x{large['raw'] / small['raw']:.1f}; the local stack's moto "
          f"reads the sparse index's own entries up to now, as DynamoDB reads only what is due)")
    print(f"  ticker.plan() per due schedule: {cost['cron']:.2f} ms for `* * * * *`, {cost['interval']:.2f} ms for an "
          f"interval of 60 s (no AWS call; it computes only the due times up to now)")
    dynamo = {op: n for (svc, op), n in small["calls"].items() if svc == "dynamodb"}
    sqs = {op: n for (svc, op), n in small["calls"].items() if svc == "sqs"}
    _summary.append(
        f"| `bench/schedules.py` ticker cost per tick, {LARGE:,} vs {SMALL:,} schedules stored ({DUE} due at each "
        f"tick, in-process moto, {len(large['times'])} ticks per size in alternating blocks) | "
        f"{statistics.median(small['times']) * 1000:.1f} → {statistics.median(large['times']) * 1000:.1f} ms, "
        f"ratio **{ratio:.2f}**; the ticker's own time (outside AWS calls) "
        f"{statistics.median(small['outside']) * 1000:.2f} → {statistics.median(large['outside']) * 1000:.2f} ms, "
        f"ratio {own:.2f}; inside AWS calls (moto) {statistics.median(small['inside']) * 1000:.1f} → "
        f"{statistics.median(large['inside']) * 1000:.1f} ms, ratio {emulated:.1f}; AWS calls per tick {sum(small['calls'].values()):g} at both sizes"
        f"{'' if same else ' (NOT the same)'} ("
        + ", ".join(f"{n:g} {op}" for op, n in dynamo.items()) + "; "
        + ", ".join(f"{n:g} SQS {op}" for op, n in sqs.items())
        + f"), DynamoDB items read {small['items']:g}; the due-index Query alone "
        f"{small['raw'] * 1000:.1f} → {large['raw'] * 1000:.1f} ms; `ticker.plan()` {cost['cron']:.2f} ms per due "
        f"`* * * * *` schedule | ≤ 1.5 |")


# ---------------------------------------------------------------- 2. fire precision


def _created(job: dict) -> float:
    return datetime.datetime.fromisoformat(job["created"].replace("Z", "+00:00")).timestamp()


def _schedules(stack: RunningStack, bodies: list[dict]) -> dict[int, int]:
    """Create the schedules; their ids and first due times (`next_time`)."""
    scheduled = {}
    for body in bodies:
        r = stack.http("POST", "/api/job/schedule/", json=body)
        if r.status_code != 201:
            raise SystemExit(f"schedule not created: {r.status_code} {r.text}")
        scheduled[r.json()["id"]] = r.json()["next_time"]
    return scheduled


def _first_jobs(stack: RunningStack, scheduled: dict[int, int], timeout: float) -> dict[int, dict]:
    """The first job of each schedule, each schedule disabled as soon as it has one (so it fires
    once). One list request every 0.5 s: the observer must not load the 2-core machine it measures."""
    jobs: dict[int, dict] = {}
    deadline = time.time() + timeout
    while len(jobs) < len(scheduled) and time.time() < deadline:
        time.sleep(0.5)
        if time.time() < min(at for s, at in scheduled.items() if s not in jobs):
            continue
        for job in stack.http("GET", "/api/job/job/?limit=100").json()["results"]:
            schedule_id = job.get("schedule")
            if schedule_id in scheduled and (schedule_id not in jobs or job["id"] < jobs[schedule_id]["id"]):
                if schedule_id not in jobs:
                    stack.http("PATCH", f"/api/job/schedule/{schedule_id}/", json={"enabled": 0})
                jobs[schedule_id] = job
    for schedule_id in set(scheduled) - set(jobs):
        stack.http("PATCH", f"/api/job/schedule/{schedule_id}/", json={"enabled": 0})
    return jobs


def _precision(stack: RunningStack, label: str, scheduled: dict[int, int], timeout: float) -> dict | None:
    """Wait for the fires; print and return their precision. Returns after their jobs ended, so
    that the next case starts on a quiet machine."""
    jobs = _first_jobs(stack, scheduled, timeout)
    if len(jobs) < len(scheduled):
        missing = sorted(set(scheduled) - set(jobs))
        results = {s: stack.http("GET", f"/api/job/schedule/{s}/").json().get("last_result") for s in missing}
        print(f"  {label}: {len(missing)} of {len(scheduled)} schedules made no job in time: {results}")
    for job in jobs.values():
        stack.wait_job(job["id"], timeout=300)
    if not jobs:
        return None
    in_order = [_created(jobs[s]) - at for at, s in sorted((at, s) for s, at in scheduled.items()) if s in jobs]
    delays = sorted(in_order)
    early = [d for d in delays if d < 0]
    if early:
        print(f"  {label}: {len(early)} job(s) created BEFORE their scheduled time: {early}")
    result = {"median": statistics.median(delays), "max": max(delays), "min": min(delays), "n": len(delays)}
    print(f"  {label}: {len(delays)} fires, scheduled time -> job created: median {result['median']:.3f} s, "
          f"min {result['min']:.3f} s, max {result['max']:.3f} s (goal median <= 1 s) "
          f"{'OK' if result['median'] <= 1 else 'OVER GOAL'}", flush=True)
    gaps = [b - a for a, b in zip(delays, delays[1:])]
    print(f"    all, in the order the schedules were created (s): {', '.join(f'{d:.3f}' for d in in_order)}"
          + (f"; between consecutive jobs of one due time: median {statistics.median(gaps):.3f} s"
             if len(set(scheduled.values())) == 1 and gaps else ""))
    return result


def fire_precision(burst: bool) -> None:
    print(f"2. Fire precision in the local stack ({FIRES} fires per case; scheduled time -> the job's `created`)",
          flush=True)
    tmp = Path(tempfile.mkdtemp(prefix="opsgrat-bench-sched-"))
    repo = make_repo(tmp / "repo", {"ping.yml": PING})
    stack = RunningStack(tmp / "home", env={"POWERTOOLS_LOG_LEVEL": STACK_LOG_LEVEL}).start()
    cases: list[tuple[str, str, dict | None]] = []
    try:
        template = setup_templates(stack, repo, ("ping",))["ping"]

        def interval(name: str, start: int) -> dict:
            return {"name": name, "template": template, "type": "interval", "interval": 60,
                    "interval_type": "seconds", "start_time": start}

        print(f"  spread: {FIRES} interval schedules (every 60 s, the minimum), first runs 3 s apart", flush=True)
        base = int(time.time()) + 10
        scheduled = _schedules(stack, [interval(f"bench spread {i}", base + 3 * i) for i in range(FIRES)])
        if sorted(scheduled.values()) != [base + 3 * i for i in range(FIRES)]:
            raise SystemExit(f"first due times {sorted(scheduled.values())}, not the start_times")
        what = f"{FIRES} interval schedules, first runs 3 s apart"
        cases.append(("spread", what, _precision(stack, "spread", scheduled, timeout=3 * FIRES + 60)))
        if burst:
            print(f"  burst, interval: {FIRES} interval schedules with the same first run", flush=True)
            start = int(time.time()) + 8
            scheduled = _schedules(stack, [interval(f"bench burst interval {i}", start) for i in range(FIRES)])
            what = f"{FIRES} interval schedules due in the same second"
            cases.append(("burst, interval", what, _precision(stack, "burst, interval", scheduled, timeout=120)))
            minute = (int(time.time()) + 5) // 60 * 60 + 60  # at least 5 s after they are created
            print(f"  burst, cron: {FIRES} `* * * * *` cron schedules, due together at the next minute "
                  f"(in {minute - time.time():.0f} s)", flush=True)
            scheduled = _schedules(stack, [{"name": f"bench burst cron {i}", "template": template, "type": "cron"}
                                           for i in range(FIRES)])
            if set(scheduled.values()) != {minute}:
                raise SystemExit(f"cron schedules due at {sorted(set(scheduled.values()))}, not all at {minute}")
            what = f"{FIRES} `* * * * *` schedules due in the same minute"
            cases.append(("burst, cron", what, _precision(stack, "burst, cron", scheduled,
                                                          timeout=minute - time.time() + 120)))
    finally:
        stack.stop()
    for label, what, result in cases:
        if result is None:
            continue
        _summary.append(
            f"| `bench/schedules.py` fire precision, {label} ({what}; scheduled time → the job's `created`, "
            f"local stack) | median **{result['median']:.2f} s**, max {result['max']:.2f} s "
            f"(min {result['min']:.2f} s), {result['n']} fires | median ≤ 1 s |")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=10, help="ticks per block and size")
    parser.add_argument("--blocks", type=int, default=2, help="alternating blocks per size")
    parser.add_argument("--only", choices=("ticker", "fire"), default=None)
    parser.add_argument("--no-burst", action="store_true", help="skip the two 20-at-once cases")
    args = parser.parse_args()
    started = time.perf_counter()
    if args.only in (None, "ticker"):
        ticker_cost(args.rounds, args.blocks)
    if args.only in (None, "fire"):
        fire_precision(burst=not args.no_burst)
    print()
    print(f"summary for the README's Performance table ({time.strftime('%Y-%m-%d')}, done in "
          f"{time.perf_counter() - started:.0f} s):")
    for line in _summary:
        print(line)


if __name__ == "__main__":
    main()

"""Dashboard benchmark (issue 15), in-process under moto, like bench/api.py.

`GET /api/dashboard/` as a superuser with 100 vs 10,000 finished jobs (spread over 20 templates,
the last 30 days and the three final states; 12 enabled schedules): the ratio of per-request
times (goal <= 1.3), the DynamoDB calls per request and the items they return. The jobs and
their figures are written straight through the store layer (their row counters and the
dashboard's aggregates as `jobs.finish` leaves them), not by running playbooks.

Run: `.venv/bin/python bench/dashboard.py [--requests N] [--jobs N]`. The summary is also written
to /tmp/bench-dashboard.txt.
"""
from __future__ import annotations

import argparse
import gc
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.api import bench_stack, timed  # noqa: E402 - sets the in-process moto environment first
from bench.calls import CallCounter  # noqa: E402

OUTPUT = Path("/tmp/bench-dashboard.txt")
DASHBOARD = "/api/dashboard/"
TEMPLATES = 20
SMALL = 100
MID = 1_000
_lines: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    _lines.append(line)


def setup_templates_and_schedules(now: int) -> list[int]:
    from chalicelib.services import store
    from chalicelib.services.resources import get

    ids = [store.create(get("template"), {"name": f"bench {n}", "template_type": "job", "playbook": "site.yml"})["id"]
           for n in range(TEMPLATES)]
    for n in range(12):
        store.create(get("schedule"), {"name": f"nightly {n}", "template": ids[n % TEMPLATES], "type": "date",
                                       "enabled": 1, "start_time": now + 3600 * (n + 1), "next_time": now + 3600 * (n + 1)})
    return ids


def seed_jobs(start: int, stop: int, templates: list[int], now: int) -> None:
    """Finished jobs `start..stop-1` in batches, with the row counters (`count|job`, by state, by
    template) and the dashboard's figures their finishes would have written."""
    from chalicelib.models import Counter, Record
    from chalicelib.services import job_stats, store
    from chalicelib.services.resources import get

    resource = get("job")
    states = ("successful", "successful", "successful", "failed", "canceled")
    adds: dict[str, dict[str, int]] = {}
    puts: dict[str, dict[str, int]] = {}
    counters: dict[str, int] = {}
    with Record.batch_write() as batch:
        for i in range(start, stop):
            finished = now - (i * 7919) % (29 * 86400)  # spread over the 30-day window
            rec = {f.name: f.default for f in resource.fields}
            rec.update(id=i, kind="job", template=templates[i % len(templates)], state=states[i % len(states)],
                       playbook="site.yml", ctime=finished - 30, start_time=finished - 20, finish_time=finished,
                       tallied=1)
            batch.save(store._item(resource, rec))
            for part in store._partitions(resource, rec):
                counters[part] = counters.get(part, 0) + 1
            for tally in job_stats.tallies(rec):
                into = adds.setdefault(tally.item, {})
                for name, value in tally.add.items():
                    into[name] = into.get(name, 0) + value
                for name, value in tally.put.items():
                    puts.setdefault(tally.item, {})[name] = max(puts.get(tally.item, {}).get(name, 0), value)
    store.add_to_counters(store.Tally(f"count|{part}", add={"value": n}) for part, n in counters.items())
    store.add_to_counters(store.Tally(item, add=adds[item], put=puts.get(item) or {}) for item in adds)
    Counter("seq|job", value=stop - 1).save()


def raw_query_seconds(repeat: int = 20) -> float:
    """Median time of the recent-jobs query alone, straight through PynamoDB (no app code): what
    the emulator spends on it (moto's Query walks every item of the table, then sorts the
    partition; DynamoDB reads the 10 items)."""
    import statistics

    from chalicelib.models import Record

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        list(Record.query("job", scan_index_forward=False, limit=10, page_size=10))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def per_operation(request, repeat: int = 7) -> dict[str, float]:
    """Median seconds per request of each DynamoDB call (operation, table, index): which of them
    grows, under moto, with the data."""
    import collections
    import statistics

    import botocore.client

    inner = botocore.client.BaseClient._make_api_call
    seconds: dict[str, list[float]] = collections.defaultdict(list)

    def timed_call(client, operation, params):
        start = time.perf_counter()
        try:
            return inner(client, operation, params)
        finally:
            where = params.get("TableName") or ",".join(params.get("RequestItems", {}))
            seconds[f"{operation} {where} {params.get('IndexName') or ''}".strip()].append(time.perf_counter() - start)

    botocore.client.BaseClient._make_api_call = timed_call
    try:
        for i in range(repeat):
            request(i)
    finally:
        botocore.client.BaseClient._make_api_call = inner
    return {name: statistics.median(values) * len(values) / repeat for name, values in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=100, help="timed requests per size")
    parser.add_argument("--jobs", type=int, default=10_000, help="finished jobs in the large case")
    args = parser.parse_args()
    started = time.perf_counter()
    say(f"OpsGrat dashboard benchmark ({time.strftime('%Y-%m-%d %H:%M:%S')}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs)")
    say(f"GET {DASHBOARD} as a superuser: {SMALL:,} vs {args.jobs:,} finished jobs, {TEMPLATES} templates, 12 schedules")
    counter = CallCounter()
    counter.install()
    try:
        with bench_stack() as (client, token):
            headers = {"Authorization": f"Token {token}"}
            last: dict = {}

            def request(i: int):
                r = client.http.request("GET", DASHBOARD, headers=headers)
                if r.status_code != 200:
                    raise SystemExit(f"dashboard -> {r.status_code} {r.body!r}")
                last["body"] = r.json_body

            now = int(time.time())
            templates = setup_templates_and_schedules(now)
            seed_jobs(1, SMALL + 1, templates, now)
            gc.freeze()
            small = timed(args.requests, request, counter)
            small_query = raw_query_seconds()
            small_ops = per_operation(request)
            check(last["body"], SMALL)
            # 1,000 jobs already fill the 30 days x 20 templates of the figures' items (100 do not):
            # from here on only the number of jobs grows
            seed_jobs(SMALL + 1, MID + 1, templates, now)
            gc.freeze()
            mid = timed(args.requests, request, counter)
            check(last["body"], MID)
            begin = time.perf_counter()
            seed_jobs(MID + 1, args.jobs + 1, templates, now)
            say(f"  seeded {args.jobs - SMALL:,} more finished jobs in {time.perf_counter() - begin:.1f} s")
            gc.freeze()  # the seeded items live in moto, in this process (see bench/api.py)
            large = timed(args.requests, request, counter)
            large_query = raw_query_seconds()
            large_ops = per_operation(request)
            check(last["body"], args.jobs)
    finally:
        counter.uninstall()
    for label, result in ((f"{SMALL:>6,} jobs", small), (f"{MID:>6,} jobs", mid), (f"{args.jobs:>6,} jobs", large)):
        ops = ", ".join(f"{op} {per:g}" for op, per in result["calls"].items())
        say(f"  {label}: median {result['median'] * 1000:7.2f} ms/request ({result['app_median'] * 1000:.2f} ms "
            f"outside DynamoDB calls), DynamoDB calls/request {result['per_request']:g} ({ops}), "
            f"items returned/request {result['items']:g}")
    ratio = large["median"] / small["median"]
    app_ratio = large["app_median"] / small["app_median"]
    say(f"  ratio {args.jobs:,}/{SMALL:,} jobs, whole request: {ratio:.2f} (goal <= 1.3) {'OK' if ratio <= 1.3 else 'OVER GOAL'}")
    say(f"  ratio, time outside DynamoDB calls (the app's own): {app_ratio:.2f} {'OK' if app_ratio <= 1.3 else 'OVER GOAL'}")
    mid_ratio = large["median"] / mid["median"]
    say(f"  ratio {args.jobs:,}/{MID:,} jobs (both fill the figures' items), whole request: {mid_ratio:.2f}, "
        f"outside DynamoDB calls: {large['app_median'] / mid['app_median']:.2f}")
    same = small["per_request"] == large["per_request"] and small["items"] == large["items"]
    say(f"  DynamoDB calls/items per request: {small['per_request']:g}/{small['items']:g} at {SMALL:,}, "
        f"{large['per_request']:g}/{large['items']:g} at {args.jobs:,} jobs ({'the same' if same else 'DIFFERENT'})")
    say("  time per request in each DynamoDB call (moto, median):")
    for name in sorted(set(small_ops) | set(large_ops)):
        say(f"    {name:<44} {small_ops.get(name, 0) * 1000:7.1f} ms -> {large_ops.get(name, 0) * 1000:7.1f} ms")
    say(f"  the emulator alone: the recent-jobs Query(Limit=10) takes {small_query * 1000:.2f} ms at {SMALL:,} and "
        f"{large_query * 1000:.2f} ms at {args.jobs:,} jobs (x{large_query / small_query:.1f}): moto walks every item "
        f"of the table for a query; DynamoDB reads the page")
    say(f"done in {time.perf_counter() - started:.0f} s")
    OUTPUT.write_text("\n".join(_lines) + "\n")
    print(f"(written to {OUTPUT})")


def check(body: dict, jobs: int) -> None:
    """The dashboard reports what was seeded (a benchmark of wrong answers measures nothing)."""
    total = body["jobs"]["total"]
    in_window = sum(d["total"] for d in body["success_rate"]["daily"])
    if total != jobs or in_window != jobs or len(body["recent_jobs"]) != 10 or len(body["upcoming"]) != 10 \
            or not body["failing_templates"]:
        raise SystemExit(f"unexpected dashboard: total {total}, in window {in_window}, {len(body['recent_jobs'])} "
                         f"recent, {len(body['upcoming'])} upcoming")


if __name__ == "__main__":
    main()

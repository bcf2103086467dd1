"""API benchmark (issue 2), in-process under moto, like the tests.

1. Requests per second through `chalice.test.Client` for GET item, list page and create, with
   the DynamoDB calls each request makes (counted per operation by wrapping botocore's
   `BaseClient._make_api_call`, which every boto3/PynamoDB call goes through).
2. List page cost with 20 rows vs 20,000 rows in the family: the ratio of per-request times
   (goal <= 1.5), plus the items DynamoDB returned per request, which is what the cost is on AWS.
3. Cold import time of `app.py` (`python -X importtime -c "import app"` in a subprocess).
4. Search cost (`?search=`, few matches) with 20 rows vs 20,000 rows in the family: the ratio of
   per-request times (goal <= 1.5) and the DynamoDB calls and items per request, for a needle with
   rare grams and one whose grams every row shares (the n-gram index's join), and the old
   partition read for contrast.

Run: `make bench` (or `.venv/bin/python bench/api.py [--requests N] [--rows N]`). The summary is
also written to /tmp/bench-api.txt.
"""
from __future__ import annotations

import argparse
import contextlib
import gc
import os
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

# the same settings as tests/conftest.py: moto in-process, no endpoint, quiet logs
ENV = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
}
os.environ.update(ENV)
for _var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_var, None)

from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from bench.calls import CallCounter  # noqa: E402

OUTPUT = Path("/tmp/bench-api.txt")
ENV_PATH = "/api/system/system/environment/variable/"
_lines: list[str] = []


def say(line: str = "") -> None:
    print(line, flush=True)
    _lines.append(line)


# ---------------------------------------------------------------- helpers


def seed_rows(family: str, make: Callable[[int], dict], start: int, stop: int) -> None:
    """Rows `start..stop-1` of a family, with their row and id counters and their search index
    entries as `store.create` leaves them, put straight into moto's backend (as the local stack's
    snapshot restore does: 20,000 rows and their ~400,000 index items in a minute, not an hour of
    BatchWriteItem calls through botocore)."""
    from chalicelib.local import snapshot
    from chalicelib.models import Counter, Record
    from chalicelib.services import resources, search, store

    resource = resources.get(family)
    ddb, _ = snapshot._backends()
    table = Record.Meta.table_name
    for i in range(start, stop):
        rec = {f.name: f.default for f in resource.fields}
        rec.update(make(i), id=i)
        ddb.put_item(table, store._item(resource, rec).serialize())
        for gram in search.record_grams(resource, rec):
            ddb.put_item(table, Record(search.partition(family, gram), i, body="{}").serialize())
    Counter(f"count|{family}", value=stop - 1).save()
    Counter(f"seq|{family}", value=stop - 1).save()


def raw_query_seconds(repeat: int = 20) -> float:
    """Median time of the query a list page makes, straight through PynamoDB (no app code)."""
    from chalicelib.models import Record

    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        list(Record.query("environment_variable", scan_index_forward=False, limit=20, page_size=20))
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def env_var(i: int) -> dict:
    return {"name": f"VAR_{i}", "value": str(i), "remark": f"seeded {i}"}


@contextlib.contextmanager
def bench_stack() -> Iterator[tuple[Client, str]]:
    from chalicelib.local import moto_patches

    moto_patches.apply()  # as in the local stack
    with mock_aws():
        from chalicelib import aws

        aws.reset()
        from chalicelib.local.provision import provision
        from chalicelib.services import auth
        from chalicelib.services.catalog import system

        provision()
        system.seed()
        from chalicelib.services import search

        search.reindex_missing()  # as the local stack's start does
        _, token = auth.ensure_superuser("admin")
        from app import app

        with Client(app) as client:
            yield client, token


def timed(n: int, request: Callable[[int], object], counter: CallCounter) -> dict:
    """Run `request(i)` n times (after 5 warm-up calls); per-request times and calls."""
    for i in range(5):
        request(-1 - i)
    counter.reset()
    times, outside_moto = [], []
    for i in range(n):
        inside = counter.seconds
        start = time.perf_counter()
        request(i)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        outside_moto.append(elapsed - (counter.seconds - inside))
    calls = counter.dynamodb()
    return {"n": n, "median": statistics.median(times), "app_median": statistics.median(outside_moto),
            "calls": {op: c / n for op, c in sorted(calls.items())}, "per_request": sum(calls.values()) / n,
            "items": counter.items / n}


def report(label: str, result: dict) -> None:
    ops = ", ".join(f"{op} {per:g}" for op, per in result["calls"].items()) or "none"
    say(f"  {label:<32} {1 / result['median']:5.0f} req/s  median {result['median'] * 1000:6.2f} ms "
        f"({result['app_median'] * 1000:.2f} ms outside DynamoDB calls)  "
        f"DynamoDB calls/request {result['per_request']:g} ({ops})")


# ---------------------------------------------------------------- the three parts


def bench_requests(n: int, counter: CallCounter) -> None:
    say("1. Requests per second in-process (chalice.test.Client, moto DynamoDB)")
    with bench_stack() as (client, token):
        headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

        def call(method: str, path: str, body: str | None = None, expect: int = 200):
            r = client.http.request(method, path, headers=headers, body=body)
            if r.status_code != expect:
                raise SystemExit(f"{method} {path} -> {r.status_code} {r.body!r}")
            return r

        seed_rows("environment_variable", env_var, 1, 41)
        results = {
            "GET item": timed(n, lambda i: call("GET", f"{ENV_PATH}7/"), counter),
            "GET list page (20 of 40 rows)": timed(n, lambda i: call("GET", ENV_PATH), counter),
            "POST create": timed(n, lambda i: call("POST", ENV_PATH, f'{{"name": "NEW_{i + 10}", "value": "x"}}', 201),
                                 counter),
            "GET list page, filtered by name": timed(n, lambda i: call("GET", f"{ENV_PATH}?name=VAR_7"), counter),
        }
        for label, result in results.items():
            report(label, result)
        say("  (auth adds one GetItem on the token table and one on the user to every request)")


def bench_table_size(n: int, rows: int, counter: CallCounter) -> float:
    say()
    say(f"2. List page cost: 20 rows vs {rows:,} rows in the family (default page of 20, id order)")
    with bench_stack() as (client, token):
        headers = {"Authorization": f"Token {token}"}

        def list_page(i: int):
            r = client.http.request("GET", ENV_PATH, headers=headers)
            if r.status_code != 200:
                raise SystemExit(f"list -> {r.status_code}")
            return r

        seed_rows("environment_variable", env_var, 1, 21)
        gc.freeze()  # see below
        small = timed(n, list_page, counter)
        small_query = raw_query_seconds()
        start = time.perf_counter()
        seed_rows("environment_variable", env_var, 21, rows + 1)
        say(f"  seeded {rows - 20:,} more rows in {time.perf_counter() - start:.1f} s")
        # The seeded rows live in moto, in this process (on AWS: in DynamoDB). Frozen, Python's
        # collector no longer walks them at every collection, which would charge the emulator's
        # memory to the app's own time.
        gc.freeze()
        large = timed(n, list_page, counter)
        large_query = raw_query_seconds()
        assert client.http.request("GET", ENV_PATH, headers=headers).json_body["count"] == rows
        for label, result in ((f"{20:>6,} rows", small), (f"{rows:>6,} rows", large)):
            say(f"  {label}: median {result['median'] * 1000:7.2f} ms/request ({result['app_median'] * 1000:.2f} ms "
                f"outside DynamoDB calls), DynamoDB calls/request {result['per_request']:g}, "
                f"items returned/request {result['items']:g}")
        ratio = large["median"] / small["median"]
        app_ratio = large["app_median"] / small["app_median"]
        say(f"  ratio {rows:,}/20 rows, whole request: {ratio:.2f} (goal <= 1.5) "
            f"{'OK' if ratio <= 1.5 else 'OVER GOAL'}")
        say(f"  ratio {rows:,}/20 rows, time outside DynamoDB calls (botocore + moto), i.e. the app's own cost: {app_ratio:.2f} "
            f"{'OK' if app_ratio <= 1.5 else 'OVER GOAL'}")
        say(f"  DynamoDB calls and items per request: {small['per_request']:g}/{small['items']:g} at 20 rows, "
            f"{large['per_request']:g}/{large['items']:g} at {rows:,} rows (on AWS the cost is these, "
            f"so it does not grow with the table)")

        say(f"  the emulator alone: one PynamoDB Query(Limit=20) takes {small_query * 1000:.2f} ms at 20 rows and "
            f"{large_query * 1000:.2f} ms at {rows:,} rows (x{large_query / small_query:.1f}): moto's query walks "
            f"every item of the table (moto/dynamodb/models/table.py, Table.query over all_items()), so under moto "
            f"the whole-request ratio measures moto; DynamoDB reads only the page")
        start = time.perf_counter()
        r = client.http.request("GET", ENV_PATH + "?search=VAR_1999", headers=headers)
        say(f"  for contrast, one ?search= request at {rows:,} rows (the n-gram index: see part 4): "
            f"{(time.perf_counter() - start) * 1000:.0f} ms, count {r.json_body['count']}")
        return ratio


def bench_import() -> None:
    say()
    say("3. Cold import of app.py (python -X importtime -c 'import app', fresh interpreter)")
    env = {**os.environ, **ENV}
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-X", "importtime", "-c", "import app"], cwd=ROOT, env=env,
                          capture_output=True, text=True, check=True)
    wall = time.perf_counter() - start
    rows = []
    for line in proc.stderr.splitlines():
        m = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|( *)(\S+)", line)
        if m:
            rows.append((int(m.group(1)), int(m.group(2)), len(m.group(3)), m.group(4)))
    total_us = sum(self_us for self_us, _, _, _ in rows)
    app_us = next((cum for _, cum, _, name in rows if name == "app"), total_us)
    say(f"  import app: {app_us / 1000:.0f} ms cumulative ({total_us / 1000:.0f} ms summed over "
        f"{len(rows)} modules); interpreter start + import wall time {wall * 1000:.0f} ms")
    say("  top 5 modules by self time (their own code, not counting what they import):")
    for self_us, cum_us, _, name in sorted(rows, reverse=True)[:5]:
        say(f"    {self_us / 1000:7.1f} ms self  {cum_us / 1000:7.1f} ms cumulative  {name}")
    packages = sorted(((cum, name) for _, cum, _, name in rows if "." not in name and name != "app"), reverse=True)
    say("  top 5 top-level packages by cumulative time (each counted where it is first imported):")
    for cum_us, name in packages[:5]:
        say(f"    {cum_us / 1000:7.1f} ms  {name}")


#: the rows part 4 searches for, the same at both sizes; the other rows are env_var's VAR_<i>
NEEDLES = ("APP_TOKEN_READ", "APP_TOKEN_WRITE", "DEPLOY_TOKEN")


def bench_search(n: int, rows: int, counter: CallCounter) -> float:
    say()
    say(f"4. Search cost: 20 rows vs {rows:,} rows in the family (?search=, few matches, the n-gram index)")
    from chalicelib.models import Counter
    from chalicelib.services import resources, search

    with bench_stack() as (client, token):
        headers = {"Authorization": f"Token {token}"}

        def searcher(needle: str, expect: int | None = None):
            def request(i: int):
                r = client.http.request("GET", f"{ENV_PATH}?search={needle}", headers=headers)
                if r.status_code != 200 or (expect is not None and r.json_body["count"] != expect):
                    raise SystemExit(f"search {needle} -> {r.status_code} {r.body[:200]!r}")
                return r
            return request

        def needles(i: int) -> dict:
            return {"name": NEEDLES[i - 1], "value": "x", "remark": "a needle"}

        seed_rows("environment_variable", needles, 1, len(NEEDLES) + 1)
        seed_rows("environment_variable", env_var, len(NEEDLES) + 1, 21)
        gc.freeze()

        def cpu_ms(request) -> float:
            """Process CPU time per request (moto runs in this process, so it counts too): what a
            loaded machine's scheduling does not inflate, unlike the wall-clock medians."""
            start = time.process_time()
            for i in range(n):
                request(i)
            return (time.process_time() - start) / n * 1000

        small = timed(n, searcher("token", 3), counter)
        small_cpu = cpu_ms(searcher("token", 3))
        small_common = timed(n, searcher("ar_123"), counter)
        start = time.perf_counter()
        seed_rows("environment_variable", env_var, 21, rows + 1)
        say(f"  seeded {rows - 20:,} more rows and their index entries in {time.perf_counter() - start:.1f} s")
        gc.freeze()
        large = timed(n, searcher("token", 3), counter)
        large_cpu = cpu_ms(searcher("token", 3))
        large_common = timed(n, searcher("ar_123"), counter)
        for label, result in ((f"{20:>6,} rows", small), (f"{rows:>6,} rows", large)):
            say(f"  'token' (3 matches), {label}: median {result['median'] * 1000:7.2f} ms/request "
                f"({result['app_median'] * 1000:.2f} ms outside DynamoDB calls), DynamoDB calls/request "
                f"{result['per_request']:g}, items returned/request {result['items']:g}")
        ratio = large["median"] / small["median"]
        say(f"  ratio {rows:,}/20 rows, whole request: {ratio:.2f} (goal <= 1.5) {'OK' if ratio <= 1.5 else 'OVER GOAL'}")
        cpu_ratio = large_cpu / small_cpu
        say(f"  CPU time per request (this process, moto included): {small_cpu:.2f} ms at 20 rows, {large_cpu:.2f} ms "
            f"at {rows:,} rows, ratio {cpu_ratio:.2f} {'OK' if cpu_ratio <= 1.5 else 'OVER GOAL'}")
        common_count = client.http.request("GET", f"{ENV_PATH}?search=ar_123", headers=headers).json_body["count"]
        for label, result in ((f"{20:>6,} rows", small_common), (f"{rows:>6,} rows", large_common)):
            say(f"  'ar_123' (grams 'var', 'ar_' in every row; {common_count} matches at {rows:,}), {label}: median "
                f"{result['median'] * 1000:7.2f} ms/request, DynamoDB calls/request {result['per_request']:g}, "
                f"items returned/request {result['items']:g}")
        resource = resources.get("environment_variable")
        Counter(search.marker(resource)).delete()  # the family unindexed: the old partition read
        try:
            start = time.perf_counter()
            searcher("token", 3)(0)
            say(f"  for contrast, the partition read search made before (the family without its index marker): "
                f"{(time.perf_counter() - start) * 1000:.0f} ms at {rows:,} rows")
        finally:
            Counter(search.marker(resource), value=1).save()
        return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=200, help="timed requests per measurement")
    parser.add_argument("--rows", type=int, default=20_000, help="rows in the large family")
    parser.add_argument("--parts", default="1234", help="which parts to run, e.g. 4 (default: all)")
    args = parser.parse_args()
    started = time.perf_counter()
    say(f"OpsGrat API benchmark ({time.strftime('%Y-%m-%d %H:%M:%S')}, Python {sys.version.split()[0]}, "
        f"{os.cpu_count()} CPUs)")
    counter = CallCounter()
    counter.install()
    try:
        if "1" in args.parts:
            bench_requests(args.requests, counter)
        if "2" in args.parts:
            bench_table_size(args.requests, args.rows, counter)
        if "4" in args.parts:
            bench_search(args.requests, args.rows, counter)
    finally:
        counter.uninstall()
    if "3" in args.parts:
        bench_import()
    say()
    say(f"done in {time.perf_counter() - started:.0f} s")
    OUTPUT.write_text("\n".join(_lines) + "\n")
    print(f"(written to {OUTPUT})")


if __name__ == "__main__":
    main()

"""Benchmark: render inventories of 1,000 and 10,000 hosts (20 and 200 groups) in-process under moto.

Prints the time per 1,000 hosts at both sizes and their ratio (linear rendering keeps it near 1;
the goal is <= 1.3), and the number of DynamoDB calls per render (index pages, not one per host).

Under moto most of a render is moto itself: it walks the whole table for every query (DynamoDB
reads only the partition) and serializes responses slowly in Python. So each render is split into
time spent inside moto's request handler (the stand-in for the DynamoDB service) and everything
else, which is what runs in the Lambda: botocore, PynamoDB, our reading and assembly. The ratio is
taken on the latter and the end-to-end numbers are printed too. Both inventories live in the same
table while measured. Data is written with BatchWriteItem in the exact item layout `store` uses
(`store._item`): 22,000 transactional creates would take minutes under moto.

Run: .venv/bin/python bench/inventory.py
"""
from __future__ import annotations

import os
import statistics
import sys
import time
from pathlib import Path

os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1",
                   "AWS_REGION": "us-east-1", "POWERTOOLS_LOG_LEVEL": "WARNING"})
for _var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_var, None)
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import botocore.client  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core.botocore_stubber import BotocoreStubber  # noqa: E402

from chalicelib import aws  # noqa: E402
from chalicelib.models import Counter, Record  # noqa: E402
from chalicelib.services import catalog, inventory_render, store  # noqa: E402,F401
from chalicelib.services.catalog.inventory import CHILDREN, GROUPS, HOSTS, INVENTORIES, MEMBERSHIPS  # noqa: E402

REPEATS = 3
DYNAMO_CALLS: list[str] = []
MOTO_SECONDS = [0.0]
_original_call = botocore.client.BaseClient._make_api_call
_original_process = BotocoreStubber.process_request


def _counting_call(self, operation, params):
    if self.meta.service_model.service_name == "dynamodb":
        DYNAMO_CALLS.append(operation)
    return _original_call(self, operation, params)


def _timed_process(self, request):
    start = time.perf_counter()
    try:
        return _original_process(self, request)
    finally:
        MOTO_SECONDS[0] += time.perf_counter() - start


def _reserve_ids(family: str, count: int) -> range:
    counter = Counter(f"seq|{family}")
    counter.update(actions=[Counter.value.add(count)])
    last = int(counter.value)
    return range(last - count + 1, last + 1)


def _bulk(resource, rows: list[dict]) -> list[dict]:
    """Write rows with BatchWriteItem (ids from one counter bump) and bump their row counters."""
    ids = _reserve_ids(resource.family, len(rows))
    rows = [{**row, "id": i} for row, i in zip(rows, ids)]
    with Record.batch_write() as batch:
        for row in rows:
            batch.save(store._item(resource, row))
    parts: dict[str, int] = {}
    for row in rows:
        for part in store._partitions(resource, row):
            parts[part] = parts.get(part, 0) + 1
    for part, n in parts.items():
        Counter(f"count|{part}").update(actions=[Counter.value.add(n)])
    return rows


def seed(hosts: int, groups: int) -> int:
    """One inventory: `groups` groups (a tenth of them parents of nine others), every host in one
    group and every fifth host in a second one, small YAML variables on hosts and groups."""
    inv = store.create(INVENTORIES, {"name": f"bench-{hosts}", "variables": "ntp: pool.ntp.org\nenv: bench"})["id"]
    group_rows = _bulk(GROUPS, [{"name": f"g{g:03d}", "inventory": inv, "description": "", "host_source": None,
                                 "variables": f"tier: t{g % 7}\nport: {8000 + g}"} for g in range(groups)])
    gids = [g["id"] for g in group_rows]
    parents = gids[: max(1, groups // 10)]
    links = [{"group": parents[i % len(parents)], "child": child, "inventory": inv}
             for i, child in enumerate(gids[len(parents):])]
    _bulk(CHILDREN, links)
    host_rows = _bulk(HOSTS, [{"hostname": f"h{hosts}-{i:05d}.example.com", "inventory": inv, "status": 1,
                               "description": "", "host_source": None,
                               "variables": f"ansible_host: 10.{i // 65536}.{i // 256 % 256}.{i % 256}\nrack: r{i % 40}"}
                              for i in range(hosts)])
    members = [{"group": gids[i % groups], "host": h["id"], "inventory": inv} for i, h in enumerate(host_rows)]
    members += [{"group": gids[(i + 1) % groups], "host": h["id"], "inventory": inv}
                for i, h in enumerate(host_rows) if i % 5 == 0]
    _bulk(MEMBERSHIPS, members)
    return inv


def measure(inv: int, hosts: int) -> tuple[float, float, int]:
    """Median seconds per render outside moto and end to end, and DynamoDB calls of one render."""
    ours, total = [], []
    for _ in range(REPEATS):
        DYNAMO_CALLS.clear()
        MOTO_SECONDS[0] = 0.0
        start = time.perf_counter()
        doc = inventory_render.render(inv)
        elapsed = time.perf_counter() - start
        total.append(elapsed)
        ours.append(elapsed - MOTO_SECONDS[0])
        assert len(doc["_meta"]["hostvars"]) == hosts
    return statistics.median(ours), statistics.median(total), len(DYNAMO_CALLS)


def main() -> None:
    from chalicelib.local import moto_patches

    moto_patches.apply()  # as in the local stack
    with mock_aws():
        aws.reset()
        from chalicelib.local.provision import provision

        provision()
        started = time.perf_counter()
        small, large = seed(1_000, 20), seed(10_000, 200)
        seeded = time.perf_counter() - started
        botocore.client.BaseClient._make_api_call = _counting_call
        BotocoreStubber.process_request = _timed_process
        try:
            inventory_render.render(small)  # warm-up: imports, client set-up
            ours_small, total_small, calls_small = measure(small, 1_000)
            ours_large, total_large, calls_large = measure(large, 10_000)
        finally:
            botocore.client.BaseClient._make_api_call = _original_call
            BotocoreStubber.process_request = _original_process
    per_small, per_large = ours_small, ours_large / 10
    ratio = per_large / per_small
    lines = [
        f"seeded 1,000 + 10,000 hosts (20 + 200 groups) in {seeded:.1f} s; median of {REPEATS} renders each",
        f"1,000 hosts / 20 groups:   {per_small * 1000:.0f} ms per 1,000 hosts outside moto "
        f"({total_small:.2f} s end to end under moto); {calls_small} DynamoDB calls",
        f"10,000 hosts / 200 groups: {per_large * 1000:.0f} ms per 1,000 hosts outside moto "
        f"({total_large:.2f} s end to end under moto); {calls_large} DynamoDB calls",
        f"RESULT: time per 1,000 hosts at 10,000 vs 1,000 hosts = {ratio:.2f} (goal <= 1.3: "
        f"{'met' if ratio <= 1.3 else 'NOT met'}); DynamoDB calls per render {calls_small} -> {calls_large} "
        f"(index pages, not per host)",
    ]
    print("\n".join(lines))


if __name__ == "__main__":
    main()

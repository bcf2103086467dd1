"""Command-line benchmarks (the `opsgrat` CLI), each against a baseline measured in the same run.

1. Start-up: `opsgrat --help` and `opsgrat tag list` (a real request to a local stack) with a
   warm spec cache, the median of N runs each, vs `python -c pass` of the same interpreter;
   prints milliseconds and the ratio (goal: < 300 ms each).
2. Follow latency: a playbook prints a line holding its own timestamp (`date +%s.%N` when the
   task ran) every 0.5 s; `opsgrat job follow` runs in a subprocess whose stdout is read line by
   line with arrival times; latency = arrival - the embedded time; median, p90 and max (goal:
   median <= 1 s). Baseline: the same job observed at the same time by polling the API's events
   endpoint directly at the follow's interval (`counter__gt`, 0.25 s), so the ratio is what the
   CLI adds to what any poller sees (the runner ships events about once a second).

Run: `.venv/bin/python bench/cli.py [--only startup|follow] [--runs N] [--lines N] [--rounds N]`.
"""
from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import setup_templates  # noqa: E402
from opsgrat_cli.follow import POLL  # noqa: E402
from tests.cli import Opsgrat  # noqa: E402
from tests.gitrepo import make_repo  # noqa: E402
from tests.localstack import RunningStack  # noqa: E402

TICK = re.compile(r'"msg": "tick (\d+\.\d+)"')


def ticks(lines: int) -> str:
    return f"""- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: "tick {{{{ lookup('pipe', 'date +%s.%N') }}}}"
      loop: "{{{{ range(0, {lines}) | list }}}}"
      loop_control:
        pause: 0.5
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--only", choices=("startup", "follow"), default=None)
    parser.add_argument("--runs", type=int, default=15, help="start-up runs per command")
    parser.add_argument("--lines", type=int, default=20, help="timestamped lines per followed job")
    parser.add_argument("--rounds", type=int, default=1, help="followed jobs")
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsgrat-bench-cli-"))
    repo = make_repo(tmp / "repo", {"ticks.yml": ticks(args.lines)})
    stack = RunningStack(tmp / "home").start()
    try:
        cli = Opsgrat(tmp / "cli", stack.url, stack.token)
        (tmp / "cli").mkdir()
        if args.only in (None, "startup"):
            startup(cli, args.runs)
        if args.only in (None, "follow"):
            template = setup_templates(stack, repo, ("ticks",))["ticks"]
            follow_latency(stack, cli, template, args.rounds)
    finally:
        stack.stop()


def _timed(command: list[str], env: dict) -> float:
    start = time.perf_counter()
    subprocess.run(command, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def startup(cli: Opsgrat, runs: int) -> None:
    """Alternating runs of the baseline and each command; the cache is warmed first (a user's
    second command onward), so `tag list` revalidates the spec (a 304) and lists the tags."""
    env = cli.env()
    commands = {"opsgrat --help": cli.command("--help"), "opsgrat tag list": cli.command("tag", "list")}
    baseline = [sys.executable, "-c", "pass"]
    for command in commands.values():
        _timed(command, env)  # warm: the spec cache, the page cache
    times: dict[str, list[float]] = {name: [] for name in ("python -c pass", *commands)}
    for _ in range(runs):
        times["python -c pass"].append(_timed(baseline, env))
        for name, command in commands.items():
            times[name].append(_timed(command, env))
    base = statistics.median(times["python -c pass"])
    print(f"start-up (median of {runs} runs, warm cache): python -c pass {base * 1000:.0f} ms")
    for name in commands:
        median = statistics.median(times[name])
        print(f"  {name}: {median * 1000:.0f} ms, ratio {median / base:.1f} to python -c pass "
              f"({'within' if median < 0.3 else 'ABOVE'} the 300 ms goal; +{(median - base) * 1000:.0f} ms of its own)")


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def _describe(values: list[float]) -> str:
    return (f"median {statistics.median(values):.2f} s, p90 {_percentile(values, 0.9):.2f} s, max {max(values):.2f} s "
            f"({len(values)} lines)")


def _poll_events(stack: RunningStack, job_id: int, done: threading.Event, latencies: list[float]) -> None:
    """The baseline observer: GET events?counter__gt=<last> every POLL seconds, as a script would."""
    last = 0
    while True:
        final = done.is_set()
        page = stack.http("GET", f"/api/job/job/{job_id}/events/", params={"counter__gt": last, "limit": 200}).json()
        now = time.time()
        for event in page["results"]:
            last = max(last, event["counter"])
            found = TICK.search(event.get("stdout") or "")
            if found:
                latencies.append(now - float(found.group(1)))
        if page.get("next"):
            continue
        if final:
            return
        time.sleep(POLL)


def follow_latency(stack: RunningStack, cli: Opsgrat, template_id: int, rounds: int) -> None:
    """Each round: launch, start `opsgrat job follow` and the baseline poller at once, read both."""
    cli_latencies: list[float] = []
    api_latencies: list[float] = []
    for _ in range(rounds):
        job = stack.http("POST", "/api/template/template/run/", json={"id": template_id}).json()
        done = threading.Event()
        poller = threading.Thread(target=_poll_events, args=(stack, job["id"], done, api_latencies))
        proc = subprocess.Popen(cli.command("job", "follow", str(job["id"])), env=cli.env({"PYTHONUNBUFFERED": "1"}),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1)
        poller.start()
        try:
            for line in proc.stdout:
                arrived = time.time()
                found = TICK.search(line)
                if found:
                    cli_latencies.append(arrived - float(found.group(1)))
            code = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
            done.set()
            poller.join(60)
        summary = proc.stderr.read().strip().splitlines()
        if code != 0:
            raise SystemExit(f"opsgrat job follow exited {code}: {summary}")
    cli_median = statistics.median(cli_latencies)
    api_median = statistics.median(api_latencies)
    print(f"follow latency (a line's own timestamp -> read from `opsgrat job follow`'s stdout), {rounds} job(s):")
    print(f"  opsgrat job follow: {_describe(cli_latencies)}; goal median <= 1 s: "
          f"{'met' if cli_median <= 1 else 'NOT met'}")
    print(f"  baseline, polling the events endpoint directly every {POLL} s: {_describe(api_latencies)}")
    print(f"  ratio of the medians {cli_median / api_median:.2f} (the runner ships events about once a second: "
          f"that, not the CLI, is most of the latency)")


if __name__ == "__main__":
    os.environ.pop("OPSGRAT_URL", None)
    main()

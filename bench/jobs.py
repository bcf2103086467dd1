"""Job benchmarks (issue 4), each against a baseline measured in the same run.

1. Launch overhead: a one-task ping playbook (no facts) run through the local stack
   (POST run sent -> the `finished` time recorded with the job's `successful` state) vs the same
   playbook with plain `ansible-playbook`, alternating; prints the median ratio (goal <= 1.5).
   The same rounds also run through a second stack whose jobs are not isolated
   (OPSGRAT_SANDBOX=none), so the cost of the job sandbox per job is measured too (goal <= 0.1 s).
2. Event throughput: a playbook emitting >= 5,000 events; events emitted vs stored (must be equal)
   and the wall-time ratio vs plain `ansible-playbook`, alternating rounds, median (goal <= 1.15).
3. Concurrency: 50 jobs launched at once; all reach a final state, none lost or duplicated; the
   baseline is the same 50 ping playbooks as 50 concurrent plain `ansible-playbook` processes,
   measured in the same run; prints jobs/minute and the ratio (goal <= 1.3).

Run: `.venv/bin/python bench/jobs.py [--only launch|events|concurrency] [--rounds N]
[--event-rounds N] [--jobs N] [--concurrency-rounds N]`.
"""
from __future__ import annotations

import argparse
import datetime
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import INVENTORY, PING, plain_ansible, plain_concurrent, setup_templates, through_stack  # noqa: E402
from tests.gitrepo import make_repo  # noqa: E402
from tests.localstack import RunningStack  # noqa: E402

EVENTS = """- hosts: all
  gather_facts: false
  tasks:
    - debug:
        msg: "item {{ item }}"
      loop: "{{ range(0, 5000) | list }}"
      loop_control:
        label: "{{ item }}"
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--event-rounds", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=50)
    parser.add_argument("--concurrency-rounds", type=int, default=3)
    parser.add_argument("--only", choices=("launch", "events", "concurrency"), default=None)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsgrat-bench-"))
    repo = make_repo(tmp / "repo", {"ping.yml": PING, "events.yml": EVENTS})
    work = tmp / "plain"
    work.mkdir()
    (work / "ping.yml").write_text(PING)
    (work / "events.yml").write_text(EVENTS)
    inventory = work / "hosts"
    inventory.write_text(INVENTORY)
    stack = RunningStack(tmp / "home").start()
    try:
        ids = setup_templates(stack, repo, ("ping", "events"))
        if args.only in (None, "launch"):
            bare = RunningStack(tmp / "home-unisolated", env={"OPSGRAT_SANDBOX": "none"}).start()
            try:
                launch_overhead(stack, bare, ids["ping"], setup_templates(bare, repo, ("ping", "events"))["ping"], work, inventory, args.rounds)
            finally:
                bare.stop()
        if args.only in (None, "events"):
            event_throughput(stack, ids["events"], work, inventory, args.event_rounds)
        if args.only in (None, "concurrency"):
            concurrency(stack, ids["ping"], work, inventory, args.jobs, args.concurrency_rounds)
    finally:
        stack.stop()


def launch_overhead(stack: RunningStack, bare: RunningStack, template_id: int, bare_template_id: int, work: Path,
                    inventory: Path, rounds: int) -> None:
    """The job is timed from sending POST run to the `finished` time the server recorded with
    the final state (same clock: one machine). Polling for the state would add the observer's
    own interval; what the polling client saw is printed too, for comparison. Each round also
    runs the job on `bare`, a stack whose jobs run without the sandbox: the difference is what
    isolation costs a job."""
    through_stack(stack, template_id)  # warm-up
    through_stack(bare, bare_template_id)
    plain_ansible(work / "ping.yml", inventory)
    recorded, observed, unisolated, plain_times = [], [], [], []
    for _ in range(rounds):
        times = through_stack(stack, template_id)
        recorded.append(times[0])
        observed.append(times[1])
        unisolated.append(through_stack(bare, bare_template_id)[0])
        plain_times.append(plain_ansible(work / "ping.yml", inventory))
    ratio = statistics.median(s / p for s, p in zip(recorded, plain_times))
    bare_ratio = statistics.median(s / p for s, p in zip(unisolated, plain_times))
    seen = statistics.median(s / p for s, p in zip(observed, plain_times))
    cost = statistics.median(s - b for s, b in zip(recorded, unisolated))
    print(f"launch overhead: stack median {statistics.median(recorded):.2f} s, plain ansible-playbook median "
          f"{statistics.median(plain_times):.2f} s, median ratio {ratio:.2f} (goal <= 1.5), {rounds} rounds")
    print(f"  without job isolation (OPSGRAT_SANDBOX=none): median {statistics.median(unisolated):.2f} s, ratio "
          f"{bare_ratio:.2f}; isolation costs {cost:+.3f} s per job (median of the paired differences; goal <= 0.1)")
    print(f"  as first seen by the polling client (backing off to every 0.5 s): median {statistics.median(observed):.2f} s, ratio {seen:.2f}")


def event_throughput(stack: RunningStack, template_id: int, work: Path, inventory: Path, rounds: int) -> None:
    """Alternating runs; the median ratio, and every job's emitted and stored event counts."""
    ratios, counts = [], []
    for _ in range(rounds):
        plain = plain_ansible(work / "events.yml", inventory)
        elapsed, _, job = through_stack(stack, template_id)
        counts.append(ansible_events(stack, job["id"]))
        ratios.append(elapsed / plain)
    equal = all(emitted == stored for emitted, stored in counts)
    print(f"event throughput: events emitted/stored per job {counts} ({'all equal' if equal else 'MISMATCH'}); "
          f"wall-time ratios {[round(r, 2) for r in ratios]}, median ratio {statistics.median(ratios):.2f} "
          f"(goal <= 1.15), {rounds} rounds")


def concurrency(stack: RunningStack, template_id: int, work: Path, inventory: Path, jobs: int, rounds: int) -> None:
    """Alternating rounds of `jobs` plain ansible-playbook processes at once and `jobs` jobs launched
    at once; the median ratio. A round through the stack is timed from the first POST to the last
    recorded finish (as the launch benchmark: the observer's polling is not the stack's time)."""
    ratios, times, plains = [], [], []
    for _ in range(rounds):
        plain = plain_concurrent(work / "ping.yml", inventory, jobs)
        start = time.time()
        with ThreadPoolExecutor(max_workers=10) as pool:
            launched = list(pool.map(lambda _: stack.http("POST", "/api/template/template/run/",
                                                          json={"id": template_id}).json()["id"], range(jobs)))
        finals = [stack.wait_job(job_id, timeout=1800) for job_id in launched]
        elapsed = max(datetime.datetime.fromisoformat(f["finished"]).timestamp() for f in finals if f.get("finished")) - start
        states = {s: sum(1 for f in finals if f["state"] == s) for s in {f["state"] for f in finals}}
        print(f"concurrency round: {jobs} jobs launched at once, {len(set(launched))} distinct, final states {states}, "
              f"{elapsed:.1f} s ({jobs / elapsed * 60:.1f} jobs/minute); {jobs} concurrent plain ansible-playbook "
              f"{plain:.1f} s; ratio {elapsed / plain:.2f}")
        for final in finals:
            if final["state"] != "successful":
                print(f"  job {final['id']} {final['state']}: {final.get('reason')}")
        ratios.append(elapsed / plain)
        times.append(elapsed)
        plains.append(plain)
    print(f"concurrency: median {statistics.median(times):.1f} s through the stack vs {statistics.median(plains):.1f} s plain, "
          f"median ratio {statistics.median(ratios):.2f} (goal <= 1.3), {rounds} rounds")


def ansible_events(stack: RunningStack, job_id: int) -> tuple[int, int]:
    """(emitted, stored) ansible events. ansible-runner numbers the events it emits 1..N without
    gaps (the runner shifts them past its own notes), so emitted = last - first + 1."""
    counters, offset = [], 0
    while True:
        page = stack.http("GET", f"/api/job/job/{job_id}/events/?limit=200&offset={offset}").json()
        counters += [e["counter"] for e in page["results"] if e.get("source") != "runner"]
        offset += 200
        if not page["next"]:
            break
    return (max(counters) - min(counters) + 1 if counters else 0), len(counters)


if __name__ == "__main__":
    main()

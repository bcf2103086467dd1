"""Project requirements benchmark (issue 13), each against a baseline measured in the same run.

1. Sync: a project sync of a repository with `roles/requirements.yml` (a role from a git
   repository on loopback HTTP) and `collections/requirements.yml` (a collection tarball in the
   project) vs the sync of the same repository without them, alternating rounds (POST sync sent ->
   the `finished` time recorded with the job's state); prints both medians, their ratio and
   difference, and beside them the two `ansible-galaxy` installs run directly (what the
   difference should mostly be).
2. Jobs: the same one-task ping playbook run on the project without requirements (baseline), on
   the project with requirements at a revision its sync cached (the second job on a revision:
   the archive is unpacked, nothing reinstalled), and on a revision no sync has seen (a new
   commit each round: the job installs them itself); prints the medians and the ratios to the
   baseline.

Run: `.venv/bin/python bench/requirements.py [--rounds N]`. Starts its own local stack and stops it.
"""
from __future__ import annotations

import argparse
import datetime
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.common import PING, through_stack  # noqa: E402
from tests.e2e.test_project_requirements import GALAXY, ROLE, _build_collection  # noqa: E402
from tests.gitserver import commit, init_repo, publish_bare, serve_http  # noqa: E402
from tests.localstack import RunningStack  # noqa: E402


def sync(stack: RunningStack, project_id: int) -> float:
    """Seconds from sending POST sync to the sync's recorded finish."""
    sent = time.time()
    job = stack.wait_job(stack.http("POST", f"/api/project/project/{project_id}/sync/").json()["id"], timeout=600)
    if job["state"] != "successful":
        raise SystemExit(f"sync {job['id']} ended {job['state']}: {job.get('reason')}")
    return datetime.datetime.fromisoformat(job["finished"]).timestamp() - sent


def plain_galaxy(work: Path, dest: Path) -> float:
    """Seconds for the two installs run directly with ansible-galaxy (fresh target each time)."""
    shutil.rmtree(dest, ignore_errors=True)
    start = time.perf_counter()
    subprocess.run([GALAXY, "role", "install", "-r", "roles/requirements.yml", "-p", str(dest / "roles")], cwd=work,
                   check=True, stdout=subprocess.DEVNULL)
    subprocess.run([GALAXY, "collection", "install", "-r", "collections/requirements.yml", "-p",
                    str(dest / "collections")], cwd=work, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def project(stack: RunningStack, name: str, repo: str) -> int:
    return stack.http("POST", "/api/project/project/", json={"name": name, "repository_url": f"file://{repo}"}).json()["id"]


def template(stack: RunningStack, project_id: int, inventory_id: int, name: str) -> int:
    return stack.http("POST", "/api/template/template/", json={"name": name, "project": project_id, "playbook": "ping.yml",
                                                               "inventory": inventory_id}).json()["id"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="opsgrat-bench-requirements-"))
    init_repo(str(tmp / "role"), ROLE)
    publish_bare(str(tmp / "role"), str(tmp / "served" / "greeter.git"))
    tarball = _build_collection(str(tmp / "build"), str(tmp / "with" / "collections"))
    init_repo(str(tmp / "without"), {"ping.yml": PING})
    stack = RunningStack(tmp / "home").start()
    try:
        with serve_http(str(tmp / "served")) as base:
            init_repo(str(tmp / "with"), {
                "ping.yml": PING,
                "roles/requirements.yml": f"- src: git+{base}/greeter.git\n  name: greeter\n",
                "collections/requirements.yml": f"collections:\n  - name: collections/{tarball}\n    type: file\n"})
            bare_with = publish_bare(str(tmp / "with"), str(tmp / "with.git"))
            with_id = project(stack, "with requirements", bare_with)
            without_id = project(stack, "without requirements", publish_bare(str(tmp / "without"), str(tmp / "without.git")))
            inventory = stack.local_inventory("bench")
            with_t = template(stack, with_id, inventory["id"], "with")
            without_t = template(stack, without_id, inventory["id"], "without")
            sync(stack, with_id)  # warm-up: the first runner, the first ansible-galaxy
            sync(stack, without_id)
            through_stack(stack, with_t)
            through_stack(stack, without_t)
            plain_galaxy(tmp / "with", tmp / "plain-install")
            syncs_with, syncs_without, galaxy = [], [], []
            for _ in range(args.rounds):
                syncs_without.append(sync(stack, without_id))
                syncs_with.append(sync(stack, with_id))
                galaxy.append(plain_galaxy(tmp / "with", tmp / "plain-install"))
            med_with, med_without = statistics.median(syncs_with), statistics.median(syncs_without)
            print(f"sync: with requirements median {med_with:.2f} s, without {med_without:.2f} s, median ratio "
                  f"{statistics.median(w / o for w, o in zip(syncs_with, syncs_without)):.2f}, median difference "
                  f"{statistics.median(w - o for w, o in zip(syncs_with, syncs_without)):+.2f} s; the two ansible-galaxy "
                  f"installs run directly: median {statistics.median(galaxy):.2f} s; {args.rounds} rounds")
            base_jobs, cached_jobs, fresh_jobs = [], [], []
            for i in range(args.rounds):
                base_jobs.append(through_stack(stack, without_t)[0])
                cached_jobs.append(through_stack(stack, with_t)[0])  # the revision its last sync cached
                commit(str(tmp / "with"), {"round.txt": f"{i}\n"}, f"round {i}")
                publish_bare(str(tmp / "with"), bare_with)
                fresh_jobs.append(through_stack(stack, with_t)[0])  # a revision no sync has seen
                sync(stack, with_id)  # so that the next round's cached job runs on a cached revision again
            med = statistics.median(base_jobs)
            print(f"jobs: without requirements median {med:.2f} s; with requirements cached by the sync (second job "
                  f"on a revision) median {statistics.median(cached_jobs):.2f} s, median ratio "
                  f"{statistics.median(c / b for c, b in zip(cached_jobs, base_jobs)):.2f}; on a revision no sync saw "
                  f"(the job installs them) median {statistics.median(fresh_jobs):.2f} s, median ratio "
                  f"{statistics.median(f / b for f, b in zip(fresh_jobs, base_jobs)):.2f}; {args.rounds} rounds")
    finally:
        stack.stop()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

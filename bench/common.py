"""What the job benchmarks share: a stack set up with templates, a timed run through it, and the
baseline they compare against (the same playbooks run by plain `ansible-playbook`)."""
from __future__ import annotations

import datetime
import subprocess
import sys
import time
from pathlib import Path

from tests.localstack import RunningStack

PING = """- hosts: all
  gather_facts: false
  tasks:
    - ping:
"""
#: localhost through the local connection, with this interpreter (what the stack's jobs use)
INVENTORY = f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n"
ANSIBLE_PLAYBOOK = str(Path(sys.executable).parent / "ansible-playbook")


def plain_ansible(playbook: Path, inventory: Path) -> float:
    """Seconds for one plain ansible-playbook run."""
    start = time.perf_counter()
    subprocess.run([ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def plain_concurrent(playbook: Path, inventory: Path, jobs: int) -> float:
    """Seconds for `jobs` plain ansible-playbook runs started at once, until the last ends."""
    command = [ANSIBLE_PLAYBOOK, "-i", str(inventory), str(playbook)]
    start = time.perf_counter()
    processes = [subprocess.Popen(command, stdout=subprocess.DEVNULL) for _ in range(jobs)]
    codes = [p.wait() for p in processes]
    if any(codes):
        raise SystemExit(f"plain ansible-playbook failed: exit codes {sorted(set(codes))}")
    return time.perf_counter() - start


def setup_templates(stack: RunningStack, repo: Path, playbooks: tuple[str, ...]) -> dict[str, int]:
    """A synced project of `repo`, a localhost inventory and one template per playbook
    (`<name>.yml`); the template ids by name."""
    project = stack.http("POST", "/api/project/project/", json={"name": "bench", "repository_url": f"file://{repo}"}).json()
    stack.wait_job(stack.http("POST", f"/api/project/project/{project['id']}/sync/").json()["id"])
    inv = stack.http("POST", "/api/project/inventory/", json={"name": "bench"}).json()
    stack.http("POST", "/api/project/host/", json={"inventory": inv["id"], "hostname": "localhost",
                                                   "variables": "ansible_connection: local"})
    return {name: stack.http("POST", "/api/template/template/", json={
        "name": f"bench {name}", "project": project["id"], "playbook": f"{name}.yml", "inventory": inv["id"]}).json()["id"]
        for name in playbooks}


def through_stack(stack: RunningStack, template_id: int) -> tuple[float, float, dict]:
    """(recorded, observed, job): seconds from sending POST run to the job's recorded `finished`
    time, and to the poll that first saw it final (which adds the observer's polling interval)."""
    sent = time.time()
    job = stack.http("POST", "/api/template/template/run/", json={"id": template_id}).json()
    final = stack.wait_job(job["id"], timeout=600)
    observed = time.time() - sent
    if final["state"] != "successful":
        raise SystemExit(f"job {final['id']} ended {final['state']}: {final.get('reason')}")
    finished = datetime.datetime.fromisoformat(final["finished"]).timestamp()
    return finished - sent, observed, final

"""What every job benchmark compares against: the same playbooks run by plain `ansible-playbook`."""
from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

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

"""Stop every process of a job, including the ones ansible moved out of its process group.

ansible-playbook's workers call ``setsid()``, so ansible-runner's ``killpg`` on cancel or timeout
kills only the main process and leaves the workers and their module processes (a ``sleep``, an
ssh session) running as orphans. Here the job's processes are found through /proc (every process
whose command line names the job's private data dir, plus all their descendants), frozen with
SIGSTOP until no new ones appear (a frozen process cannot fork) and then killed.
"""
from __future__ import annotations

import os
import signal

_PROC = "/proc"


def _snapshot() -> tuple[dict[int, list[int]], dict[int, bytes]]:
    children: dict[int, list[int]] = {}
    cmdlines: dict[int, bytes] = {}
    for entry in os.listdir(_PROC):
        if not entry.isdigit():
            continue
        pid = int(entry)
        try:
            with open(f"{_PROC}/{entry}/stat", "rb") as handle:
                stat = handle.read()
            with open(f"{_PROC}/{entry}/cmdline", "rb") as handle:
                cmdlines[pid] = handle.read()
        except OSError:
            continue  # exited meanwhile
        # "pid (comm) state ppid ...": comm may hold spaces and parentheses, so split after the last ")".
        ppid = int(stat[stat.rindex(b")") + 2:].split()[1])
        children.setdefault(ppid, []).append(pid)
    return children, cmdlines


def job_processes(marker: str) -> set[int]:
    """Processes whose command line contains ``marker``, and all their descendants."""
    if not os.path.isdir(_PROC):
        return set()
    children, cmdlines = _snapshot()
    needle = marker.encode()
    found = {pid for pid, cmd in cmdlines.items() if needle in cmd and pid != os.getpid()}
    stack = list(found)
    while stack:
        for child in children.get(stack.pop(), []):
            if child not in found and child != os.getpid():
                found.add(child)
                stack.append(child)
    return found


def _signal(pids: set[int], signum: int) -> None:
    for pid in pids:
        try:
            os.kill(pid, signum)
        except OSError:
            pass


def kill_job_processes(marker: str) -> int:
    """Freeze then kill every process of the job; returns how many were found."""
    frozen: set[int] = set()
    for _ in range(20):  # each round freezes the children forked since the last one
        new = job_processes(marker) - frozen
        if not new:
            break
        _signal(new, signal.SIGSTOP)
        frozen |= new
    _signal(frozen, signal.SIGKILL)
    return len(frozen)

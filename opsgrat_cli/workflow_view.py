"""`opsgrat workflow show JOB`: a workflow run drawn as a tree, from `GET /api/job/job/{id}/workflow/`.

A workflow is a graph, not a tree: a node with several parents (a merge) is drawn once, under the
parent that runs last (the deepest level), and says which other parents it waits for; so every
node appears exactly once and the drawing reads top-down in the order the run goes. Each child
shows when its line fires (`on success`, `on failure`, `always`), its state and its job.
"""
from __future__ import annotations

import sys
import time
from dataclasses import dataclass
from typing import TextIO

from opsgrat_cli.errors import Exit
from opsgrat_cli.follow import FINAL, Options, Poller, StatusLine, duration, exit_code, node_changes, title

_RESULT = {"successful": "on success", "failed": "on failure", "any": "always"}
_COLORS = {"successful": "32", "failed": "31", "canceled": "33", "running": "36", "waiting": "36",
           "pending": "35", "skipped": "2"}


@dataclass(frozen=True)
class Drawing:
    """The lines of one drawing, and whether the run was final when it was drawn."""

    lines: tuple[str, ...]
    final: bool


def _when(result: list | str | None) -> str:
    codes = result if isinstance(result, list) else [c for c in str(result or "").split(",") if c]
    if not codes or "any" in codes or {"successful", "failed"} <= set(codes):
        return "always"
    return " or ".join(_RESULT.get(c, c) for c in codes)


def _state(state: str | None, color: bool, brackets: bool = True) -> str:
    text = f"[{state or 'not run'}]" if brackets else str(state or "not run")
    code = _COLORS.get(state or "")
    return f"\x1b[{code}m{text}\x1b[0m" if color and code else text


def render(view: dict, job: dict | None = None, color: bool = False) -> Drawing:
    """The tree of a run's graph (`view`), headed by the workflow job when given."""
    nodes = {n["id"]: n for n in view.get("nodes", [])}
    level = {node_id: i for i, ids in enumerate(view.get("levels", [])) for node_id in ids}
    lines = sorted(view.get("lines", []), key=lambda line: line.get("id", 0))
    incoming: dict[int, list[dict]] = {}
    for line in lines:
        incoming.setdefault(line["next_node"], []).append(line)
    # each node hangs under one parent: the one on the deepest level (it settles last), first line on a tie
    primary = {target: max(into, key=lambda line: (level.get(line["node"], 0), -line.get("id", 0)))["id"]
               for target, into in incoming.items()}
    children: dict[int, list[dict]] = {}
    for line in lines:
        if primary.get(line["next_node"]) == line.get("id"):
            children.setdefault(line["node"], []).append(line)
    for kids in children.values():
        kids.sort(key=lambda line: (level.get(line["next_node"], 0), line["next_node"]))

    out: list[str] = []
    if job is not None:
        head = f"{title(job)}"
        if job.get("template_name"):
            head += f" · {job['template_name']}"
        state = job.get("state")
        head += f" · {_state(state, color, brackets=False)}"
        if state in FINAL:
            head += f" in {duration(job.get('elapsed'))}"
        if job.get("reason") and state != "successful":
            head += f" — {job['reason']}"
        out.append(head)
    drawn: set[int] = set()

    def label(node: dict) -> str:
        text = f"{node.get('name') or node['id']} {_state(node.get('state'), color)}"
        if node.get("job"):
            text += f" job {node['job']}"
        if node.get("reused"):
            text += " (reused)"
        if node.get("reason") and node.get("state") not in ("successful", "running"):
            text += f" — {node['reason']}"
        others = [nodes[line["node"]].get("name") or str(line["node"]) for line in incoming.get(node["id"], [])
                  if line.get("id") != primary.get(node["id"]) and line["node"] in nodes]
        if others:
            text += f" (also after {', '.join(others)})"
        return text

    def walk(node_id: int, prefix: str) -> None:
        kids = children.get(node_id, [])
        for i, line in enumerate(kids):
            target = line["next_node"]
            if target in drawn or target not in nodes:
                continue
            drawn.add(target)
            last = i == len(kids) - 1
            when = "" if nodes[node_id].get("is_start_node") else f"({_when(line.get('result'))}) "
            out.append(f"{prefix}{'└─ ' if last else '├─ '}{when}{label(nodes[target])}")
            walk(target, prefix + ("   " if last else "│  "))

    roots = [n for n in nodes.values() if n.get("is_start_node")] or [n for n in nodes.values() if n["id"] not in incoming]
    for root in sorted(roots, key=lambda n: n["id"]):
        drawn.add(root["id"])
        out.append(label(root))
        walk(root["id"], "")
    for node in sorted(nodes.values(), key=lambda n: (level.get(n["id"], 0), n["id"])):  # not reachable: never, but shown
        if node["id"] not in drawn:
            drawn.add(node["id"])
            out.append(label(node))
            walk(node["id"], "")
    return Drawing(tuple(out), view.get("state") in FINAL)


def show(client, job_id: int, *, follow: bool, options: Options, out: TextIO | None = None,
         status: StatusLine | None = None) -> Exit:
    """Print the tree once, or with `follow` until the run is final: redrawn in place on a
    terminal; elsewhere (a log) a line per node change (`node build: successful (job 12)`) and the
    tree once the run is final. The exit status is the run's state when following, else 0."""
    out = out or sys.stdout
    status = status or StatusLine()
    tty = out.isatty()
    job = client.get(f"/api/job/job/{job_id}/")
    if job.get("kind") != "workflow":
        from opsgrat_cli.errors import CliError

        raise CliError(f"job {job_id} is not a workflow job (kind {job.get('kind')}); `opsgrat job follow {job_id}` shows its output")
    started = time.monotonic()
    deadline = started + options.timeout if options.timeout else None

    def timed_out() -> str:
        return (f"{title(job)} is still {job.get('state')} after {duration(options.timeout)} (--timeout); it was "
                f"left running: `opsgrat workflow show {job_id} --follow` picks it up again")

    poller = Poller(client, status, lambda: f"`opsgrat workflow show {job_id} --follow` picks it up again", deadline,
                    timed_out, options.outage_limit)
    shown: tuple[str, ...] = ()
    states: dict[int, tuple] = {}
    changed_at = time.monotonic()
    while True:
        view = poller.get(f"/api/job/job/{job_id}/workflow/")
        if view.get("state") != job.get("state") or view.get("state") in FINAL:
            job = poller.get(f"/api/job/job/{job_id}/")
        final = view.get("state") in FINAL and job.get("state") in FINAL
        if follow and not tty and not final:  # a log: a line per node change, the tree at the end
            changes = node_changes(view, states)
            if changes:
                out.write("".join(line + "\n" for line in changes))
                out.flush()
                changed_at = time.monotonic()
        else:
            drawing = render(view, job, options.color)
            if drawing.lines != shown:
                if shown:  # a terminal: up to the first line of the last drawing, erase below
                    out.write(f"\x1b[{len(shown)}F\x1b[J")
                out.write("\n".join(drawing.lines) + "\n")
                out.flush()
                shown = drawing.lines
                changed_at = time.monotonic()
        if not follow:
            return Exit.SUCCESSFUL
        if final:
            return exit_code(job)
        poller.check_deadline()
        idle = time.monotonic() - changed_at
        time.sleep(options.poll if idle < 2 else options.poll_idle)

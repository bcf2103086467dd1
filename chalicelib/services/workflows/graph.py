"""A workflow's graph as plain data: nodes, lines, and what can be computed from them alone.

The same `Graph` is built from the stored node and line records (when the graph is edited or
shown) and from the snapshot a workflow job keeps (when it runs), so an edit after launch never
changes what a job does (changelog 2.5).
"""
from __future__ import annotations

import enum
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass, field


class NodeType(enum.StrEnum):
    """What a node runs. `START` (the wire's "") is the start node and the unbound junction."""

    START = ""
    JOB = "job"
    PROJECT_SYNC = "project_sync"
    INVENTORY_SYNC = "inventory_sync"
    WORKFLOW = "workflow"
    APPROVAL = "approval"


class LineResult(enum.StrEnum):
    """The source-node results a line fires on; `ANY` is either."""

    SUCCESSFUL = "successful"
    FAILED = "failed"
    ANY = "any"


NODE_TYPE_LABELS = {NodeType.START: "Start / junction", NodeType.JOB: "Job template", NodeType.PROJECT_SYNC: "Project sync",
                    NodeType.INVENTORY_SYNC: "Inventory sync", NodeType.WORKFLOW: "Workflow", NodeType.APPROVAL: "Approval"}
RESULT_LABELS = {LineResult.SUCCESSFUL: "Success", LineResult.FAILED: "Failure", LineResult.ANY: "Success or failure"}

#: the fields of a node record the snapshot keeps (what running it needs, and what a UI draws)
NODE_SNAPSHOT_FIELDS = ("id", "name", "type", "is_start_node", "bind_template", "project", "host_source",
                        "use_node_params", "all_parents_must_succeed", "timeout", "top", "left",
                        "forks", "limit", "tags", "skip_tags", "verbosity", "variables", "job_type",
                        "become_enabled", "diff_mode", "force_handlers", "start_at_task", "attached_by")
LINE_SNAPSHOT_FIELDS = ("id", "node", "next_node", "result", "source_anchor", "target_anchor")


def results_of(value) -> frozenset[str]:
    """A line's stored result (a list of codes, or one code) as the set of outcomes it fires on."""
    codes = [value] if isinstance(value, str) else list(value or [])
    out: set[str] = set()
    for code in codes:
        if code == LineResult.ANY:
            out.update((LineResult.SUCCESSFUL, LineResult.FAILED))
        elif code:
            out.add(str(code))
    return frozenset(out)


@dataclass(frozen=True)
class Line:
    id: int
    node: int
    next_node: int
    result: frozenset[str]


@dataclass
class Graph:
    nodes: dict[int, dict]
    lines: list[Line] = field(default_factory=list)

    # ------------------------------------------------------------ building

    @classmethod
    def from_records(cls, nodes: Iterable[dict], lines: Iterable[dict]) -> "Graph":
        return cls({int(n["id"]): {k: n.get(k) for k in NODE_SNAPSHOT_FIELDS if k in n} for n in nodes},
                   [Line(int(li["id"]), int(li["node"]), int(li["next_node"]), results_of(li.get("result")))
                    for li in lines])

    @classmethod
    def from_snapshot(cls, snapshot: dict) -> "Graph":
        return cls.from_records(snapshot.get("nodes") or [], snapshot.get("lines") or [])

    def snapshot(self) -> dict:
        """What a workflow job stores: JSON-able, ids as ints, results as sorted lists."""
        return {"nodes": [self.nodes[i] for i in sorted(self.nodes)],
                "lines": [{"id": li.id, "node": li.node, "next_node": li.next_node, "result": sorted(li.result)}
                          for li in sorted(self.lines, key=lambda x: x.id)]}

    # ------------------------------------------------------------ structure

    def start_nodes(self) -> list[int]:
        return sorted(i for i, n in self.nodes.items() if n.get("is_start_node"))

    def start(self) -> int | None:
        starts = self.start_nodes()
        return starts[0] if starts else None

    def incoming(self, node_id: int) -> list[Line]:
        return [li for li in self.lines if li.next_node == node_id]

    def outgoing(self, node_id: int) -> list[Line]:
        return [li for li in self.lines if li.node == node_id]

    def children(self) -> dict[int, list[int]]:
        out: dict[int, list[int]] = {i: [] for i in self.nodes}
        for li in self.lines:
            out.setdefault(li.node, []).append(li.next_node)
        return out

    def find_cycle(self) -> list[int] | None:
        """A cycle as the node ids along it, first repeated last (a → b → c → a), or None."""
        children = self.children()
        state: dict[int, int] = {}  # 1 on the current path, 2 done
        path: list[int] = []

        for root in sorted(self.nodes):
            if state.get(root):
                continue
            stack = [(root, iter(sorted(children.get(root, ()))))]
            state[root] = 1
            path.append(root)
            while stack:
                node, it = stack[-1]
                nxt = next(it, None)
                if nxt is None:
                    stack.pop()
                    path.pop()
                    state[node] = 2
                elif state.get(nxt) == 1:
                    return path[path.index(nxt):] + [nxt]
                elif not state.get(nxt):
                    state[nxt] = 1
                    path.append(nxt)
                    stack.append((nxt, iter(sorted(children.get(nxt, ())))))
        return None

    def levels(self) -> list[list[int]]:
        """Nodes by longest path from a root (a node no line enters): a node's parents are all in
        earlier levels, so running level after level runs every node after all its parents.
        Assumes no cycle (the graph is checked when it changes)."""
        parents: dict[int, set[int]] = {i: set() for i in self.nodes}
        for li in self.lines:
            parents.setdefault(li.next_node, set()).add(li.node)
        depth: dict[int, int] = {}
        remaining = dict(parents)
        while remaining:
            ready = [i for i, ps in remaining.items() if all(p in depth for p in ps)]
            if not ready:
                raise ValueError("the graph has a cycle")
            for i in ready:
                depth[i] = 1 + max((depth[p] for p in parents[i]), default=-1)
                del remaining[i]
        out: list[list[int]] = [[] for _ in range(max(depth.values(), default=-1) + 1)]
        for i in sorted(depth):
            out[depth[i]].append(i)
        return out

    def descendants(self, node_id: int) -> set[int]:
        """The node and every node a path of lines leads to from it."""
        children = self.children()
        seen, todo = {node_id}, [node_id]
        while todo:
            for nxt in children.get(todo.pop(), ()):
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return seen

    def name(self, node_id: int) -> str:
        return str(self.nodes[node_id].get("name") or f"node {node_id}")

    def describe_path(self, ids: list[int]) -> str:
        return " → ".join(self.name(i) for i in ids)

    def digest(self) -> str:
        """A hash of what the state machine is compiled from (ids, names, types, lines, timeouts)."""
        shape = {"nodes": [[i, self.name(i), self.nodes[i].get("type") or "", int(self.nodes[i].get("timeout") or 0)]
                           for i in sorted(self.nodes)],
                 "lines": sorted([li.node, li.next_node] for li in self.lines)}
        return hashlib.sha256(json.dumps(shape, sort_keys=True, ensure_ascii=False).encode()).hexdigest()

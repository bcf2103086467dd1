"""Compile a workflow graph to Amazon States Language.

The shape (architecture brief, "Workflows"): the graph's topological levels in order; a level of
one node is that node's state, a level of several is a `Parallel` state with one branch per node,
so fan-out runs side by side and a node with several parents runs once, after all of them. State
names are the node names, so the AWS console draws the user's graph.

Every node, the start node excepted, is the same hand-off as `RunJob`: an
`sqs:sendMessage.waitForTaskToken` task on the workflow queue whose handler
(`workflows.engine`) decides, from the results its parents recorded, whether the node runs
(launching its child job through the one door, which settles the token when the job ends), is
skipped, or waits for an approval (the API settles the token). The decision is made there and
not in `Choice` states because it needs what only the tables hold: the run's start node, the
results a resumed run reuses, the child jobs' states. An approval with a timeout has a `Catch`
that reports the expiry through the same queue. No Lambda task anywhere (moto cannot run one).
"""
from __future__ import annotations

import re

from chalicelib.services.workflows.graph import Graph, NodeType

#: Step Functions' limit on a state's name
MAX_STATE_NAME = 80
FINISH = "Finish workflow"
_UNSAFE = re.compile(r"[\x00-\x1f\x7f]")


def state_names(graph: Graph) -> dict[int, str]:
    """Node id -> a unique state name: the node's name, with ` #id` when two nodes share one."""
    seen: dict[str, int] = {}
    for node_id in sorted(graph.nodes):
        base = _UNSAFE.sub(" ", graph.name(node_id)).strip() or f"node {node_id}"
        seen[base] = seen.get(base, 0) + 1
    out: dict[int, str] = {}
    for node_id in sorted(graph.nodes):
        base = _UNSAFE.sub(" ", graph.name(node_id)).strip() or f"node {node_id}"
        name = base if seen[base] == 1 else f"{base[:MAX_STATE_NAME - 12]} #{node_id}"
        out[node_id] = name[:MAX_STATE_NAME]
    # a truncated name may collide with another node's: fall back to ids for those
    counts: dict[str, int] = {}
    for name in out.values():
        counts[name] = counts.get(name, 0) + 1
    return {i: (n if counts[n] == 1 else f"{n[:MAX_STATE_NAME - 12]} #{i}") for i, n in out.items()}


def _free(name: str, taken: set[str]) -> str:
    """`name`, or `name (2)`, `name (3)`...: the compiler's own states never take a node's name."""
    candidate, n = name[:MAX_STATE_NAME], 1
    while candidate in taken:
        n += 1
        suffix = f" ({n})"
        candidate = name[:MAX_STATE_NAME - len(suffix)] + suffix
    taken.add(candidate)
    return candidate


def _message(node_id: int, **extra) -> dict:
    return {"workflow_job.$": "$.workflow_job", "node": node_id, "task_token.$": "$$.Task.Token", **extra}


def _node_states(graph: Graph, node_id: int, name: str, queue_url: str, after: str | None,
                 taken: set[str]) -> dict[str, dict]:
    """The states of one node, the first named `name`; `after` is where they go next (None: End)."""
    node = graph.nodes[node_id]
    nxt = {"Next": after} if after else {"End": True}
    if node.get("is_start_node"):
        return {name: {"Type": "Pass", "Comment": "The start node.", "ResultPath": None, **nxt}}
    task = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
            "Comment": f"node {node_id} ({node.get('type') or 'junction'})",
            "Parameters": {"QueueUrl": queue_url, "MessageBody": _message(node_id)},
            "ResultPath": None, **nxt}
    states = {name: task}
    timeout = int(node.get("timeout") or 0)
    if node.get("type") == NodeType.APPROVAL and timeout > 0:
        expired = _free(f"{name[:MAX_STATE_NAME - 16]} timed out", taken)
        task["TimeoutSeconds"] = timeout
        task["Catch"] = [{"ErrorEquals": ["States.Timeout", "States.HeartbeatTimeout"], "ResultPath": None, "Next": expired}]
        states[expired] = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                           "Comment": "The approval was not given in time: the node fails.",
                           "Parameters": {"QueueUrl": queue_url, "MessageBody": _message(node_id, expired=True)},
                           "ResultPath": None, **nxt}
    return states


def compile_graph(graph: Graph, queue_url: str, comment: str = "") -> dict:
    """The state machine definition of `graph` (a dict; `json.dumps` it to deploy)."""
    names = state_names(graph)
    taken = set(names.values())
    finish = _free(FINISH, taken)
    levels = graph.levels()
    level_names = []
    for index, level in enumerate(levels):
        if len(level) == 1:
            level_names.append(names[level[0]])
        else:
            level_names.append(_free(f"Level {index + 1}: {len(level)} in parallel", taken))
    states: dict[str, dict] = {}
    catch = [{"ErrorEquals": ["States.ALL"], "ResultPath": "$.error", "Next": finish}]
    for index, level in enumerate(levels):
        after = level_names[index + 1] if index + 1 < len(levels) else finish
        if len(level) == 1:
            node_states = _node_states(graph, level[0], names[level[0]], queue_url, after, taken)
            first = node_states[names[level[0]]]
            if first["Type"] == "Task":
                first.setdefault("Catch", []).extend(catch)
            states.update(node_states)
            continue
        branches = [{"StartAt": names[node_id], "States": _node_states(graph, node_id, names[node_id], queue_url, None, taken)}
                    for node_id in level]
        states[level_names[index]] = {"Type": "Parallel", "Branches": branches, "ResultPath": None,
                                      "Comment": "Nodes whose parents are all in earlier levels.",
                                      "Next": after, "Catch": catch}
    states[finish] = {"Type": "Task", "Resource": "arn:aws:states:::sqs:sendMessage",
                      "Comment": "Tell the workflow queue the run is over: it decides the workflow job's final state.",
                      "Parameters": {"QueueUrl": queue_url,
                                     "MessageBody": {"workflow_job.$": "$.workflow_job", "done": True}},
                      "End": True}
    return {"Comment": comment or "An OpsGrat workflow: one state per node, level by level.",
            "StartAt": level_names[0] if levels else finish, "States": states}


def count_states(definition: dict) -> int:
    """Every state, those inside Parallel branches included."""
    total = 0
    for state in definition.get("States", {}).values():
        total += 1
        for branch in state.get("Branches", ()):
            total += count_states(branch)
    return total

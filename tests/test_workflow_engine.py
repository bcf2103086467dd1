"""The workflow engine's decisions, from a workflow job's snapshot and node entries alone."""
from __future__ import annotations

from chalicelib.services.workflows.engine import decide, outcome
from chalicelib.services.workflows.graph import Graph


def graph(lines, **nodes) -> Graph:
    """Nodes 1 (start) .. 5; `nodes` sets options by name n2=..."""
    records = [{"id": 1, "name": "start", "is_start_node": 1, "type": ""}]
    records += [{"id": i, "name": f"n{i}", "type": "job", **nodes.get(f"n{i}", {})} for i in range(2, 6)]
    return Graph.from_records(records, [{"id": k, "node": a, "next_node": b, "result": r} for k, (a, b, r) in enumerate(lines, 1)])


def wf(**entries) -> dict:
    return {"id": 9, "nodes": {k[1:]: {"state": v} for k, v in entries.items()}}


def test_a_node_runs_when_one_incoming_line_holds():
    g = graph([(1, 2, "any"), (1, 3, "any"), (2, 4, "successful"), (3, 4, "successful")])
    assert decide(wf(n2="successful", n3="failed"), g, 4) is None


def test_a_node_is_skipped_when_no_incoming_line_holds():
    g = graph([(1, 2, "any"), (2, 3, "failed")])
    assert decide(wf(n2="successful"), g, 3)["state"] == "skipped"


def test_all_parents_convergence_needs_every_line_to_hold():
    g = graph([(1, 2, "any"), (1, 3, "any"), (2, 4, "successful"), (3, 4, "successful")], n4={"all_parents_must_succeed": 1})
    assert decide(wf(n2="successful", n3="failed"), g, 4)["state"] == "skipped"
    assert decide(wf(n2="successful", n3="successful"), g, 4) is None


def test_a_skipped_or_canceled_parent_fires_no_line():
    g = graph([(1, 2, "any"), (1, 3, "any"), (2, 4, "any"), (3, 4, "any")])
    assert decide(wf(n2="skipped", n3="canceled"), g, 4)["state"] == "skipped"


def test_a_node_no_line_enters_never_runs():
    assert decide(wf(), graph([]), 5)["state"] == "skipped"


def test_outside_a_run_from_a_node_the_other_nodes_keep_their_reused_results():
    g = graph([(1, 2, "any"), (2, 3, "any"), (3, 4, "any")])
    job = {**wf(), "force": 3, "reuse": {"2": {"state": "successful", "job": 40}}}
    assert decide(job, g, 2) == {"state": "successful", "job": 40, "reused": True}
    assert decide(job, g, 3) is None, "the node a run starts at runs whatever its parents did"
    assert decide({**job, "nodes": {"3": {"state": "successful"}}}, g, 4) is None


def test_a_resumed_run_reuses_a_node_that_succeeded_before():
    g = graph([(1, 2, "any")])
    assert decide({**wf(), "reuse": {"2": {"state": "successful", "job": 7}}}, g, 2)["reused"] is True


def test_a_failure_with_a_failure_line_out_of_it_is_handled():
    g = graph([(1, 2, "any"), (2, 3, "failed")])
    assert outcome(wf(n2="failed", n3="successful"), g)[0] == "successful"


def test_a_failure_with_no_failure_line_fails_the_workflow_and_is_named():
    g = graph([(1, 2, "any"), (2, 3, "successful")])
    state, reason, _ = outcome(wf(n2="failed", n3="skipped"), g)
    assert state == "failed" and "n2" in reason


def test_a_canceled_node_without_a_failure_line_fails_the_workflow():
    g = graph([(1, 2, "any")])
    assert outcome(wf(n2="canceled"), g)[0] == "failed"

"""The workflow compiler: graph -> Amazon States Language (pure functions, no AWS)."""
from __future__ import annotations

import json
import random
import shutil
import subprocess
from pathlib import Path

import pytest

from chalicelib.services.workflows.compiler import FINISH, compile_graph, count_states, state_names
from chalicelib.services.workflows.graph import Graph

ROOT = Path(__file__).resolve().parent.parent
QUEUE = "https://sqs.us-east-1.amazonaws.com/123456789012/opsgrat-workflow"


def graph(nodes: dict[int, dict], lines: list[tuple[int, int, str]]) -> Graph:
    return Graph.from_records([{"id": i, "name": f"n{i}", "type": "job", **n} for i, n in nodes.items()],
                              [{"id": k, "node": a, "next_node": b, "result": r} for k, (a, b, r) in enumerate(lines, 1)])


def diamond() -> Graph:
    return graph({1: {"name": "Start", "is_start_node": 1, "type": ""}, 2: {"name": "left"}, 3: {"name": "right"},
                  4: {"name": "merge"}}, [(1, 2, "successful"), (1, 3, "successful"), (2, 4, "any"), (3, 4, "failed")])


def random_dag(size: int, seed: int = 7) -> Graph:
    rng = random.Random(seed)
    nodes = {1: {"name": "Start", "is_start_node": 1, "type": ""}}
    nodes.update({i: {"name": f"step {i}"} for i in range(2, size + 1)})
    lines = [(rng.randrange(1, i), i, rng.choice(["successful", "failed", "any"])) for i in range(2, size + 1)]
    lines += [(a, b, "any") for a, b in {(rng.randrange(2, size), rng.randrange(2, size + 1)) for _ in range(size)} if a < b]
    return graph(nodes, list(dict.fromkeys(lines)))


def test_state_names_are_the_node_names():
    definition = compile_graph(diamond(), QUEUE)
    branches = definition["States"]["Level 2: 2 in parallel"]["Branches"]
    assert definition["StartAt"] == "Start"
    assert [b["StartAt"] for b in branches] == ["left", "right"]
    assert definition["States"]["Level 2: 2 in parallel"]["Next"] == "merge"
    assert definition["States"]["merge"]["Next"] == FINISH


def test_nodes_sharing_a_name_get_their_id_appended():
    g = graph({1: {"name": "deploy"}, 2: {"name": "deploy"}, 3: {"name": "other"}}, [])
    assert state_names(g) == {1: "deploy #1", 2: "deploy #2", 3: "other"}


def test_the_compiler_s_own_states_never_take_a_node_s_name():
    g = graph({1: {"name": "Start", "is_start_node": 1, "type": ""}, 2: {"name": "Finish workflow"},
               3: {"name": "Level 2: 2 in parallel"}}, [(1, 2, "any"), (1, 3, "any")])
    states = compile_graph(g, QUEUE)["States"]
    level = states["Level 2: 2 in parallel (2)"]
    assert [b["StartAt"] for b in level["Branches"]] == ["Finish workflow", "Level 2: 2 in parallel"]
    assert level["Next"] == "Finish workflow (2)" and "Finish workflow (2)" in states


def test_a_level_of_several_nodes_is_one_parallel_state_after_all_their_parents():
    g = graph({1: {"is_start_node": 1, "type": ""}, 2: {}, 3: {}, 4: {}}, [(1, 2, "any"), (2, 3, "any"), (1, 4, "any"), (3, 4, "any")])
    assert g.levels() == [[1], [2], [3], [4]], "a node runs after its deepest parent"


def test_every_node_task_is_a_task_token_hand_off_naming_its_node():
    task = compile_graph(diamond(), QUEUE)["States"]["merge"]
    assert task["Resource"] == "arn:aws:states:::sqs:sendMessage.waitForTaskToken"
    assert task["Parameters"]["MessageBody"] == {"workflow_job.$": "$.workflow_job", "node": 4, "task_token.$": "$$.Task.Token"}


def test_an_approval_with_a_timeout_reports_its_expiry_through_the_queue():
    g = graph({1: {"is_start_node": 1, "type": ""}, 2: {"name": "gate", "type": "approval", "timeout": 30}}, [(1, 2, "any")])
    states = compile_graph(g, QUEUE)["States"]
    assert states["gate"]["TimeoutSeconds"] == 30
    assert states["gate"]["Catch"][0]["Next"] == "gate timed out"
    assert states["gate timed out"]["Parameters"]["MessageBody"]["expired"] is True


def test_the_digest_ignores_the_canvas_and_node_options_but_not_the_shape():
    g = diamond()
    moved = Graph.from_snapshot(g.snapshot())
    moved.nodes[2].update(top=500, left=20, limit="web")
    assert moved.digest() == g.digest()
    moved.lines.pop()
    assert moved.digest() != g.digest()


def test_find_cycle_names_the_nodes_along_it():
    g = graph({1: {"name": "a"}, 2: {"name": "b"}, 3: {"name": "c"}}, [(1, 2, "any"), (2, 3, "any"), (3, 1, "any")])
    assert g.describe_path(g.find_cycle()) == "a → b → c → a"


def test_a_fifty_node_dag_compiles_to_a_bounded_number_of_states():
    g = random_dag(50)
    definition = compile_graph(g, QUEUE)
    assert count_states(definition) <= 50 + len(g.levels()) + 1
    assert len(json.dumps(definition)) < 1_048_576, "Step Functions' definition size limit"


@pytest.mark.parametrize("size", [4, 50])
def test_compiled_definitions_pass_the_states_language_validator(tmp_path, size):
    validator = ROOT / ".venv" / "node" / "node_modules" / ".bin" / "asl-validator"
    validator = str(validator) if validator.exists() else shutil.which("asl-validator")
    if not validator:
        pytest.skip("asl-validator not installed (scripts/bootstrap installs it when npm is present)")
    g = diamond() if size == 4 else random_dag(size)
    g.nodes[max(g.nodes)].update(type="approval", timeout=60)
    path = tmp_path / "workflow.asl.json"
    path.write_text(json.dumps(compile_graph(g, QUEUE)))
    result = subprocess.run([validator, "--json-path", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr

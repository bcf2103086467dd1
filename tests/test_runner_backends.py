"""The ECS runner backend (AWS) against moto: one Fargate task per job, the job id as its command."""
from __future__ import annotations

import pytest

from chalicelib import aws
from chalicelib.services import runners
from tests.ecs import runner_cluster


@pytest.fixture
def ecs_env(aws_mock, monkeypatch):
    made = runner_cluster()
    for name, value in made.environment().items():
        monkeypatch.setenv(name, value)
    return made.cluster


def test_ecs_backend_runs_one_fargate_task_with_the_job_id_as_command(ecs_env):
    runner_id = runners.start(42)
    assert runner_id.startswith("ecs:arn:aws:ecs:")
    task = aws.client("ecs").describe_tasks(cluster=ecs_env, tasks=[runner_id[4:]])["tasks"][0]
    assert task["launchType"] == "FARGATE"
    assert task["overrides"]["containerOverrides"] == [{"name": "runner", "command": ["42"]}]
    assert task["startedBy"] == "job-42"


def test_ecs_backend_stops_the_task_of_a_lost_job(ecs_env):
    runner_id = runners.start(7)
    runners.stop(runner_id)
    task = aws.client("ecs").describe_tasks(cluster=ecs_env, tasks=[runner_id[4:]])["tasks"][0]
    assert task["desiredStatus"] == "STOPPED"

"""The ECS runner backend (AWS) against moto: one Fargate task per job, the job id as its command."""
from __future__ import annotations

import pytest

from chalicelib import aws
from chalicelib.services import runners


@pytest.fixture
def ecs_env(aws_mock, monkeypatch):
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="runner", Description="runner", VpcId=vpc)["GroupId"]
    ecs = aws.client("ecs")
    cluster = ecs.create_cluster(clusterName="opsgrat")["cluster"]["clusterArn"]
    task_definition = ecs.register_task_definition(
        family="opsgrat-runner", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="1024",
        memory="2048", containerDefinitions=[{"name": "runner", "image": "runner:latest", "essential": True, "cpu": 1024, "memory": 2048}],
    )["taskDefinition"]["taskDefinitionArn"]
    monkeypatch.setenv("OPSGRAT_RUNNER_BACKEND", "ecs")
    monkeypatch.setenv("OPSGRAT_ECS_CLUSTER", cluster)
    monkeypatch.setenv("OPSGRAT_RUNNER_TASK_DEFINITION", task_definition)
    monkeypatch.setenv("OPSGRAT_SUBNETS", subnet)
    monkeypatch.setenv("OPSGRAT_SECURITY_GROUPS", group)
    return cluster


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

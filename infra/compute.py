"""What runs: the ECS cluster and Fargate task definition of the runner, and the state machines
(their ASL files with `${Placeholder}` queue URLs filled in by CloudFormation)."""
from __future__ import annotations

import re

from chalicelib import config
from chalicelib.stack import STACK, StateMachine
from infra.cfn import arn, logical, ref, sub
from infra.storage import queue_id

#: the container name `chalicelib.services.runners` overrides the command of
RUNNER_CONTAINER = "runner"
PLACEHOLDER = re.compile(r"\$\{([^}!]+)\}")


def cluster_name() -> str:
    return config.resource_name("runners")


def task_family() -> str:
    return config.resource_name("runner")


def machine_id(machine: StateMachine) -> str:
    return logical(machine.short, "StateMachine")


def runner(environment: dict) -> dict:
    env = [{"Name": k, "Value": v} for k, v in sorted(environment.items())]
    return {
        "RunnerCluster": {"Type": "AWS::ECS::Cluster", "Properties": {
            "ClusterName": cluster_name(),
            "ClusterSettings": [{"Name": "containerInsights", "Value": "disabled"}]}},
        "RunnerTaskDefinition": {"Type": "AWS::ECS::TaskDefinition", "Properties": {
            "Family": task_family(),
            "RequiresCompatibilities": ["FARGATE"], "NetworkMode": "awsvpc",
            "Cpu": ref("RunnerCpu"), "Memory": ref("RunnerMemory"),
            "RuntimePlatform": {"OperatingSystemFamily": "LINUX", "CpuArchitecture": "X86_64"},
            "ExecutionRoleArn": arn("RunnerExecutionRole"), "TaskRoleArn": arn("RunnerTaskRole"),
            "ContainerDefinitions": [{
                "Name": RUNNER_CONTAINER, "Image": ref("RunnerImage"), "Essential": True,
                "Environment": env,
                "LogConfiguration": {"LogDriver": "awslogs", "Options": {
                    "awslogs-group": ref("RunnerLogGroup"), "awslogs-region": ref("AWS::Region"),
                    "awslogs-stream-prefix": "runner"}},
            }],
        }},
    }


def placeholders(machine: StateMachine) -> set[str]:
    return set(PLACEHOLDER.findall(machine.definition()))


def state_machine(machine: StateMachine) -> dict:
    """The ASL file as a DefinitionString; each `${X}` becomes the queue URL `queue_urls` maps it to.

    Every placeholder must be declared in the StateMachine (an undeclared one would reach AWS as a
    literal `${X}` and fail only when a job runs), so this raises instead.
    """
    mapping = dict(machine.queue_urls)
    missing = placeholders(machine) - set(mapping)
    if missing:
        raise ValueError(f"{machine.asl_file}: placeholders {sorted(missing)} are not declared in "
                         f"StateMachine({machine.short!r}).queue_urls")
    variables = {name: ref(queue_id(short)) for name, short in mapping.items() if name in placeholders(machine)}
    return {"Type": "AWS::StepFunctions::StateMachine", "Properties": {
        "StateMachineName": machine.name, "StateMachineType": "STANDARD",
        "RoleArn": arn("StateMachineRole"),
        "DefinitionString": sub(machine.definition(), variables) if variables else machine.definition(),
    }}


def state_machines() -> dict:
    return {machine_id(m): state_machine(m) for m in STACK.state_machines}

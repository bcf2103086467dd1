"""The installation's ECS runner in moto: a VPC, a cluster and the runner task definition, and the
environment that points the ECS backend at them (tests/test_runner_backends.py,
tests/test_execution_environments.py)."""
from __future__ import annotations

from dataclasses import dataclass

from chalicelib import aws


@dataclass(frozen=True)
class RunnerCluster:
    cluster: str
    task_definition: str
    subnet: str
    group: str

    def environment(self) -> dict[str, str]:
        """The settings the ECS backend reads."""
        return {"OPSGRAT_RUNNER_BACKEND": "ecs", "OPSGRAT_ECS_CLUSTER": self.cluster,
                "OPSGRAT_RUNNER_TASK_DEFINITION": self.task_definition, "OPSGRAT_SUBNETS": self.subnet,
                "OPSGRAT_SECURITY_GROUPS": self.group}


def runner_cluster() -> RunnerCluster:
    """What infra/ deploys for runners, made in the current moto mock."""
    ec2 = aws.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="runner", Description="runner", VpcId=vpc)["GroupId"]
    ecs = aws.client("ecs")
    cluster = ecs.create_cluster(clusterName="opsgrat")["cluster"]["clusterArn"]
    task_definition = ecs.register_task_definition(
        family="opsgrat-runner", requiresCompatibilities=["FARGATE"], networkMode="awsvpc", cpu="1024", memory="2048",
        taskRoleArn="arn:aws:iam::123456789012:role/opsgrat-runner-task",
        executionRoleArn="arn:aws:iam::123456789012:role/opsgrat-runner-execution",
        containerDefinitions=[{"name": "runner", "image": "runner:latest", "essential": True, "cpu": 1024, "memory": 2048,
                               "environment": [{"name": "OPSGRAT_PREFIX", "value": "opsgrat"}]}],
    )["taskDefinition"]["taskDefinitionArn"]
    return RunnerCluster(cluster, task_definition, subnet, group)

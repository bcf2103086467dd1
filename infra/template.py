"""The CloudFormation template that `chalice package --merge-template` merges into Chalice's output.

Usage: `python -m infra.template build/merge.json` (what `make package` runs).

It adds every resource of `chalicelib.stack.STACK` (tables from the PynamoDB models, queues + DLQs,
bucket, key, log groups, the schedule group, the job events' bus and its rule to the notify queue,
state machines from their ASL files), the runner's ECS cluster and task definition, the IAM
roles and the CloudFront distribution of the web console and the API (`infra.console`); and it
patches each Chalice function with its family's role, its fixed name, the environment the code
reads (`chalicelib.config`) and, for SQS handlers, `ReportBatchItemFailures` (which Chalice cannot
express).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

from chalicelib import config
from chalicelib.stack import STACK
from infra import compute, console, iam, storage
from infra.cfn import arn, ref
from infra.functions import Function, discover

LOG_RETENTION_DAYS = [1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922,
                      3288, 3653]

PARAMETERS = {
    "RunnerImage": {"Type": "String", "MinLength": 1,
                    "Description": "Runner container image URI (make deploy pushes it to ECR and passes it)"},
    "SubnetIds": {"Type": "List<AWS::EC2::Subnet::Id>",
                  "Description": "Subnets of runner tasks; they need a route to git servers, managed hosts, "
                                 "ECR and the AWS APIs (public subnets with AssignPublicIp=ENABLED, or NAT)"},
    "SecurityGroupId": {"Type": "AWS::EC2::SecurityGroup::Id",
                        "Description": "Security group of runner tasks (egress only is enough)"},
    "AssignPublicIp": {"Type": "String", "Default": "ENABLED", "AllowedValues": ["ENABLED", "DISABLED"],
                       "Description": "DISABLED when the subnets are private with a NAT gateway"},
    "KeepDays": {"Type": "Number", "Default": 30, "MinValue": 1,
                 "Description": "Days after which archived job output in S3 expires (match job settings keep_days)"},
    "LogRetentionDays": {"Type": "Number", "Default": 30, "AllowedValues": LOG_RETENTION_DAYS,
                         "Description": "Retention of the job and runner CloudWatch log groups"},
    "RunnerCpu": {"Type": "String", "Default": "1024", "AllowedValues": ["256", "512", "1024", "2048", "4096"],
                  "Description": "Fargate CPU units per job"},
    "RunnerMemory": {"Type": "String", "Default": "2048",
                     "Description": "Fargate memory (MiB) per job; must be valid for RunnerCpu"},
}


def common_environment() -> dict:
    """What the API Lambda functions and the runner both read (`chalicelib.config` and friends)."""
    env = {
        config.PREFIX_ENV: config.prefix(),
        "OPSGRAT_KMS_KEY": arn("SecretsKey"),
        "OPSGRAT_BUCKET": ref("ArtifactsBucket"),
        # the role workflow templates' machines run with (chalicelib.services.workflows.machines)
        "OPSGRAT_STATES_ROLE_ARN": arn("StateMachineRole"),
    }
    for machine in STACK.state_machines:
        if machine.arn_env:
            env[machine.arn_env] = ref(compute.machine_id(machine))
    return env


def schedule_environment() -> dict:
    """What the schedules' mirror names in each EventBridge schedule's Target: where to deliver
    (the launch queue), where to put what cannot be delivered, and the role to deliver with.
    Lambda functions only: the runner never creates schedules."""
    return {
        STACK.LAUNCH_QUEUE_ARN_ENV: arn(storage.queue_id(STACK.LAUNCH_QUEUE)),
        STACK.LAUNCH_DLQ_ARN_ENV: arn(storage.dlq_id(STACK.LAUNCH_QUEUE)),
        STACK.SCHEDULER_ROLE_ARN_ENV: arn(iam.SCHEDULER_ROLE),
    }


def function_environment() -> dict:
    return {
        **common_environment(),
        **schedule_environment(),
        "OPSGRAT_RUNNER_BACKEND": "ecs",
        "OPSGRAT_ECS_CLUSTER": ref("RunnerCluster"),
        "OPSGRAT_RUNNER_TASK_DEFINITION": ref("RunnerTaskDefinition"),
        "OPSGRAT_SUBNETS": {"Fn::Join": [",", ref("SubnetIds")]},
        "OPSGRAT_SECURITY_GROUPS": ref("SecurityGroupId"),
        "OPSGRAT_ASSIGN_PUBLIC_IP": ref("AssignPublicIp"),
    }


def log_group_id(function: Function) -> str:
    return function.cfn_name + "LogGroup"


def log_group(function: Function) -> dict:
    """Created here, not by Chalice's `log_retention_in_days`: Chalice 1.34 names the API handler's
    group after a resource (`ApiHandler`) that does not exist in its own template."""
    return {"Type": "AWS::Logs::LogGroup", "Properties": {
        "LogGroupName": f"/aws/lambda/{iam.function_name(function.name)}", "RetentionInDays": ref("LogRetentionDays")}}


def function_patch(function: Function) -> dict:
    """Merged over the function Chalice emits (a deep merge: only these keys change)."""
    environment = function_environment()
    patch: dict = {"Properties": {
        "FunctionName": iam.function_name(function.name),
        "Role": arn(iam.role_id(function.family)),
        "Environment": {"Variables": environment},
    }}
    # the function's log group exists before the function (its role may not create log groups)
    patch["DependsOn"] = [log_group_id(function)]
    if function.queue:
        # Chalice names the consumed queue by an ARN string, so the function waits for it explicitly;
        # unless a setting already references it (the launch queue's does; cfn-lint W3005)
        if arn(storage.queue_id(function.queue)) not in environment.values():
            patch["DependsOn"].append(storage.queue_id(function.queue))
        patch["Properties"]["Events"] = {function.event_cfn_name: {"Properties": {
            "FunctionResponseTypes": ["ReportBatchItemFailures"]}}}
    return patch


def build(app) -> dict:
    """The merge template for the Chalice app object `app`."""
    functions = discover(app)
    resources: dict = {}
    resources.update(storage.resources())
    resources.update(console.resources())
    resources.update(compute.runner(common_environment()))
    resources.update(compute.state_machines())
    resources.update(iam.resources(functions))
    for function in functions:
        resources[function.cfn_name] = function_patch(function)
        resources[log_group_id(function)] = log_group(function)
    outputs = {
        "ArtifactsBucketName": {"Value": ref("ArtifactsBucket")},
        "SecretsKeyArn": {"Value": arn("SecretsKey")},
        "RunnerClusterName": {"Value": ref("RunnerCluster")},
        "RunnerRepositoryName": {"Value": iam.runner_repository()},
        "InstallationPrefix": {"Value": config.prefix()},
        "ScheduleGroupName": {"Value": ref("ScheduleGroup")},
        "EventBusName": {"Value": {"Fn::GetAtt": [storage.EVENT_BUS, "Name"]}},
    }
    outputs.update(console.outputs())
    for machine in STACK.state_machines:
        outputs[compute.machine_id(machine) + "Arn"] = {"Value": ref(compute.machine_id(machine))}
    return {"Parameters": PARAMETERS, "Resources": resources, "Outputs": outputs}


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m infra.template OUTPUT.json", file=sys.stderr)
        return 2
    import app as app_module

    out = Path(argv[0])
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(build(app_module.app), indent=2, sort_keys=True) + "\n")
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

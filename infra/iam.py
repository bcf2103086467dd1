"""Least-privilege IAM: one role per Lambda function family, the runner task, its execution role,
the state machines and EventBridge Scheduler. (EventBridge sends the job events to the notify
queue with that queue's resource policy, `infra.storage.notify_queue_policies`, not a role.)

Each role is a list of named *grants* (`NEEDS`), and each grant names its resources. The only
`"Resource": "*"` statements are for actions that AWS does not scope to a resource at all:
`states:SendTask*` (the task token is the credential), `ecr:GetAuthorizationToken`, and
`ecs:DescribeTaskDefinition`/`ecs:RegisterTaskDefinition` (execution environments' task definitions:
what those may name is bounded by PassRole, which passes only the runner's two roles, and by RunTask,
which runs only the runner's families).
"""
from __future__ import annotations

from collections.abc import Callable

from chalicelib import config
from chalicelib.stack import STACK
from infra import compute, storage
from infra.cfn import arn, assume_role, logical, ref, service_arn, statement, sub
from infra.functions import API, Function

#: actions that only accept "Resource": "*" (tests allow exactly these)
UNSCOPED_ACTIONS = {"states:SendTaskSuccess", "states:SendTaskFailure", "states:SendTaskHeartbeat",
                    "ecr:GetAuthorizationToken", "ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"}

#: what each principal needs; the keys of GRANTS
NEEDS: dict[str, tuple[str, ...]] = {
    # every family that moves a job to running or to a final state puts the job's state event on
    # the bus (`job_events`): the API (cancel), dispatch, workflow, launch and the runner
    API: ("tables", "kms_encrypt", "kms_decrypt", "run_jobs", "workflow_machines", "stop_runner", "task_tokens",
          "job_logs_write", "job_logs_read", "artifacts_read", "schedules", "job_events", "project_archives_write"),
    # runs runners, in execution environments' images too (registers their task definitions)
    "dispatch": ("tables", "run_runner", "runner_images", "stop_runner", "task_tokens", "job_logs_write", "job_events"),
    # launches node jobs (RunJob) and nested workflows (their machines), settles node tokens
    "workflow": ("tables", "run_jobs", "workflow_machines", "task_tokens", "job_logs_write", "job_events"),
    # launches due schedules' jobs and workflows (never decrypts: the runner does), and re-arms or
    # removes the schedules' EventBridge mirrors as it goes
    "launch": ("tables", "run_jobs", "workflow_machines", "job_logs_write", "schedules", "job_events"),
    # sends the notifications bound to a job's template: reads the job and the bindings, decrypts
    # the channels' secrets (never encrypts: the API stores them), records deliveries, and
    # publishes to SNS topics; its SMTP and webhook calls need no IAM
    "notify": ("tables", "kms_decrypt", "notify_sns"),
    # writes its job's output archive (jobs/...) and reads and writes the projects' installed
    # requirements, cached by revision (requirements/<project id>/<revision>.tar.gz); reads the
    # uploads of archive projects (projects/<project id>/<sha256>)
    "runner": ("runner_tables", "kms_decrypt", "task_tokens", "job_logs_write", "artifacts_write", "requirements_cache",
               "job_events", "project_archives_read"),
}

#: the role EventBridge Scheduler assumes to deliver due schedules (`scheduler_role`)
SCHEDULER_ROLE = "SchedulerRole"
SCHEDULER_SERVICE = "scheduler.amazonaws.com"

#: the record families the runner reads or writes: the job, what it uses and renders, what a
#: sync updates. Not users, tokens, grants, templates or login counters (README "Threat model")
RUNNER_FAMILIES = ("job", "job_host_summary", "credential", "project", "inventory", "host", "group",
                   "group_children", "group_host", "host_source", "environment_variable", "job_settings",
                   "execution_environment")
#: counters-table items the runner adds to as a job finishes (chalicelib.services.job_stats)
DASHBOARD_KEYS = ("dash|day|*", "dash|template|*")
_DATA_ACTIONS = ["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                 "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"]


def function_name(name: str) -> str:
    """Lambda function names are fixed so that roles can name the functions' own log groups."""
    return config.resource_name(name.replace("_", "-"))


def role_id(family: str) -> str:
    return logical(family, "FunctionRole")


def _tables() -> list[dict]:
    resources = []
    for model in STACK.tables:
        resources.append(arn(storage.table_id(model)))
        resources.append(sub(f"${{{storage.table_id(model)}.Arn}}/index/*"))
    return [statement(["dynamodb:GetItem", "dynamodb:BatchGetItem", "dynamodb:Query", "dynamodb:PutItem",
                       "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem",
                       "dynamodb:ConditionCheckItem", "dynamodb:DescribeTable"], resources, "Tables")]


def _runner_tables() -> list[dict]:
    """The records and counters tables only, and in them only the partitions of RUNNER_FAMILIES
    (DynamoDB checks every key a request names, index queries included, against LeadingKeys)."""
    from chalicelib.models import Counter, Record

    resources = []
    for model in (Record, Counter):
        resources.append(arn(storage.table_id(model)))
        resources.append(sub(f"${{{storage.table_id(model)}.Arn}}/index/*"))
    keys = []
    for family in RUNNER_FAMILIES:
        keys += [family, f"{family}|*", f"seq|{family}", f"count|{family}", f"count|{family}|*", f"uniq|{family}|*"]
    # the dashboard's job figures: a job's move to its final state adds to them in its transaction
    # (chalicelib.services.job_stats), and the runner makes that move
    keys += list(DASHBOARD_KEYS)
    return [statement(_DATA_ACTIONS, resources, "RunnerTables",
                      **{"ForAllValues:StringLike": {"dynamodb:LeadingKeys": keys}})]


def _machines() -> list[dict]:
    return [ref(compute.machine_id(m)) for m in STACK.state_machines]


def _executions() -> list[dict]:
    return [service_arn("states", f"execution:{m.name}:*") for m in STACK.state_machines]


def _job_log_streams() -> dict:
    return service_arn("logs", f"log-group:{STACK.log_group}:*")


def _objects(prefix: str = "") -> dict:
    return sub(f"${{ArtifactsBucket.Arn}}/{prefix}*")


def _run_jobs() -> list[dict]:
    if not STACK.state_machines:
        return []
    return [statement(["states:StartExecution"], _machines(), "StartJobs"),
            statement(["states:DescribeExecution", "states:StopExecution"], _executions(), "ControlJobs")]


def _workflow_machines() -> list[dict]:
    """Workflow templates' own state machines (`chalicelib.services.workflows.machines`): named
    `<prefix>-wf-*`, created and updated by the API when a graph changes, run with the state
    machine role."""
    from chalicelib.services.workflows.machines import machine_prefix

    machines = service_arn("states", f"stateMachine:{machine_prefix()}-*")
    executions = service_arn("states", f"execution:{machine_prefix()}-*:*")
    return [statement(["states:CreateStateMachine", "states:UpdateStateMachine", "states:DeleteStateMachine",
                       "states:DescribeStateMachine", "states:StartExecution"], [machines], "WorkflowMachines"),
            statement(["states:DescribeExecution", "states:StopExecution"], [executions], "ControlWorkflows"),
            statement(["iam:PassRole"], [arn("StateMachineRole")], "PassStatesRole",
                      StringEquals={"iam:PassedToService": "states.amazonaws.com"}),
            statement(["sqs:GetQueueUrl"], [arn(storage.queue_id(STACK.WORKFLOW_QUEUE))], "FindWorkflowQueue")]


def _schedules() -> list[dict]:
    """The EventBridge schedules that mirror schedule records (`chalicelib.services.schedules.mirror`):
    only those in the installation's group, and the only role they may name is the Scheduler role,
    passed to Scheduler alone (a role that could pass another one could make Scheduler act with it)."""
    schedules = service_arn("scheduler", f"schedule/{STACK.schedule_group}/*")
    return [statement(["scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule",
                       "scheduler:GetSchedule"], [schedules], "ManageSchedules"),
            statement(["iam:PassRole"], [arn(SCHEDULER_ROLE)], "PassSchedulerRole",
                      StringEquals={"iam:PassedToService": SCHEDULER_SERVICE})]


def _job_events() -> list[dict]:
    """Job state events go on the installation's bus only (`STACK.event_bus`): a role that could
    put events on another bus (the account's default one) could reach rules that are not ours."""
    return [statement(["events:PutEvents"], [arn(storage.EVENT_BUS)], "PutJobEvents")]


def _notify_sns() -> list[dict]:
    """A notification may name any SNS topic of the account (its channel settings hold the topic
    ARN), so Publish is scoped to the account's topics in this region, not to one topic."""
    return [statement(["sns:Publish"], [service_arn("sns", "*")], "PublishNotifications")]


GRANTS: dict[str, Callable[[], list[dict]]] = {
    "tables": _tables,
    "runner_tables": _runner_tables,
    "kms_encrypt": lambda: [statement(["kms:Encrypt", "kms:GenerateDataKey"], [arn("SecretsKey")], "EncryptSecrets")],
    "kms_decrypt": lambda: [statement(["kms:Decrypt"], [arn("SecretsKey")], "DecryptSecrets")],
    "run_jobs": _run_jobs,
    "workflow_machines": _workflow_machines,
    "task_tokens": lambda: [statement(["states:SendTaskSuccess", "states:SendTaskFailure",
                                       "states:SendTaskHeartbeat"], ["*"], "TaskTokens")],
    "run_runner": lambda: [
        statement(["ecs:RunTask"], [service_arn("ecs", f"task-definition/{compute.task_family()}:*"),
                                    service_arn("ecs", f"task-definition/{compute.task_family()}-*:*")], "RunRunner",
                  ArnEquals={"ecs:cluster": arn("RunnerCluster")}),
        statement(["iam:PassRole"], [arn("RunnerTaskRole"), arn("RunnerExecutionRole")], "PassRunnerRoles",
                  StringEquals={"iam:PassedToService": "ecs-tasks.amazonaws.com"})],
    # copies of the runner's task definition with an execution environment's image
    # (`chalicelib.services.runners.ImageTaskDefinitions`); registering one passes the runner's roles
    "runner_images": lambda: [statement(["ecs:DescribeTaskDefinition", "ecs:RegisterTaskDefinition"], ["*"],
                                        "RunnerImages")],
    "stop_runner": lambda: [statement(["ecs:DescribeTasks", "ecs:StopTask"],
                                      [service_arn("ecs", f"task/{compute.cluster_name()}/*")], "StopRunner")],
    "job_logs_write": lambda: [statement(["logs:CreateLogStream", "logs:PutLogEvents"], [_job_log_streams()],
                                         "WriteJobLogs")],
    "job_logs_read": lambda: [statement(["logs:GetLogEvents", "logs:FilterLogEvents"], [_job_log_streams()],
                                        "ReadJobLogs")],
    "artifacts_read": lambda: [statement(["s3:GetObject", "s3:DeleteObject"], [_objects()], "ReadArtifacts")],
    "artifacts_write": lambda: [statement(["s3:PutObject", "s3:GetObject"], [_objects("jobs/")], "WriteArtifacts")],
    "requirements_cache": lambda: [statement(["s3:PutObject", "s3:GetObject"], [_objects("requirements/")],
                                             "RequirementsCache")],
    # archive projects: the API stores an accepted upload (projects/<project id>/<sha256>), the
    # runner reads it to unpack it for each sync and job
    "project_archives_write": lambda: [statement(["s3:PutObject"], [_objects("projects/")], "StoreProjectArchives")],
    "project_archives_read": lambda: [statement(["s3:GetObject"], [_objects("projects/")], "ReadProjectArchives")],
    "schedules": _schedules,
    "job_events": _job_events,
    "notify_sns": _notify_sns,
}


def policy(name: str, statements: list[dict]) -> dict:
    return {"PolicyName": name, "PolicyDocument": {"Version": "2012-10-17", "Statement": statements}}


def grants(family: str) -> list[dict]:
    return [s for need in NEEDS[family] for s in GRANTS[need]()]


def function_roles(functions: list[Function]) -> dict:
    """One role per family: API plus one per queue of the stack, each allowed to write the log
    groups of its own functions only."""
    families = [API] + [q.short for q in STACK.queues]
    out = {}
    for family in families:
        names = sorted({f.name for f in functions if f.family == family} |
                       ({q.handler for q in STACK.queues if q.short == family}))
        statements = [statement(["logs:CreateLogStream", "logs:PutLogEvents"],
                                [service_arn("logs", f"log-group:/aws/lambda/{function_name(n)}:*") for n in names],
                                "OwnLogs")]
        if family != API:
            statements.append(statement(["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility",
                                         "sqs:GetQueueAttributes"], [arn(storage.queue_id(family))],
                                        "ConsumeOwnQueue"))
        statements += grants(family)
        out[role_id(family)] = {"Type": "AWS::IAM::Role", "Properties": {
            "Description": f"OpsGrat {family} Lambda functions",
            "AssumeRolePolicyDocument": assume_role("lambda.amazonaws.com"),
            "Policies": [policy(family, statements)]}}
    return out


def runner_roles() -> dict:
    repository = service_arn("ecr", f"repository/{runner_repository()}")
    return {
        "RunnerTaskRole": {"Type": "AWS::IAM::Role", "Properties": {
            "Description": "OpsGrat runner container (one Fargate task per job)",
            "AssumeRolePolicyDocument": assume_role("ecs-tasks.amazonaws.com"),
            "Policies": [policy("runner", grants("runner"))]}},
        "RunnerExecutionRole": {"Type": "AWS::IAM::Role", "Properties": {
            "Description": "ECS pulls the runner image and ships its stdout to CloudWatch",
            "AssumeRolePolicyDocument": assume_role("ecs-tasks.amazonaws.com"),
            "Policies": [policy("pull-and-log", [
                statement(["ecr:GetAuthorizationToken"], ["*"], "RegistryLogin"),
                statement(["ecr:BatchCheckLayerAvailability", "ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer"],
                          [repository], "PullRunnerImage"),
                statement(["logs:CreateLogStream", "logs:PutLogEvents"],
                          [sub("${RunnerLogGroup.Arn}")], "RunnerLogs")])]}},
    }


def runner_repository() -> str:
    """The ECR repository `make deploy` pushes the runner image to."""
    return config.resource_name("runner")


def state_machine_role() -> dict:
    """The state machines may send to exactly the queues their ASL files name."""
    queues = sorted({short for m in STACK.state_machines for name, short in m.queue_urls
                     if name in compute.placeholders(m)} | {STACK.WORKFLOW_QUEUE})
    statements = [statement(["sqs:SendMessage"], [arn(storage.queue_id(q)) for q in queues], "SendToQueues")] \
        if queues else []
    return {"StateMachineRole": {"Type": "AWS::IAM::Role", "Properties": {
        "Description": "OpsGrat state machines",
        "AssumeRolePolicyDocument": assume_role("states.amazonaws.com"),
        "Policies": [policy("states", statements or [statement(["sqs:GetQueueAttributes"],
                                                              [arn(storage.queue_id(STACK.queues[0].short))])])]}}}


def scheduler_role() -> dict:
    """What EventBridge Scheduler delivers due schedules with: `sqs:SendMessage` to the launch queue,
    and to the launch queue's dead-letter queue, which every schedule's DeadLetterConfig names
    (Scheduler puts what it cannot deliver there, with this role too). Only this account's
    schedules may assume it (the confused-deputy guard AWS recommends)."""
    launch = STACK.LAUNCH_QUEUE
    return {SCHEDULER_ROLE: {"Type": "AWS::IAM::Role", "Properties": {
        "Description": "EventBridge Scheduler sends OpsGrat's due schedules to the launch queue",
        "AssumeRolePolicyDocument": assume_role(SCHEDULER_SERVICE,
                                                StringEquals={"aws:SourceAccount": ref("AWS::AccountId")}),
        "Policies": [policy("scheduler", [statement(["sqs:SendMessage"], [arn(storage.queue_id(launch)),
                                                                          arn(storage.dlq_id(launch))],
                                                    "SendToLaunchQueue")])]}}}


def resources(functions: list[Function]) -> dict:
    out = function_roles(functions)
    for part in (runner_roles(), state_machine_role(), scheduler_role()):
        out.update(part)
    return out

"""Deploy to AWS, checked without an account: `chalice package` with the merge template, cfn-lint,
the ASL validator, the Lambda package budget, least-privilege IAM, and a real CloudFormation
create in moto for every resource type moto implements.

Types moto's CloudFormation cannot create are removed from the moto copy only (and listed in
`MOTO_SKIPPED`, which the deploy test checks exactly, so a new one is noticed):
  AWS::ApiGateway::Deployment   moto ignores the RestApi's swagger Body, so it "has no methods"
  AWS::ApiGateway::Stage        not implemented by moto's CloudFormation
  AWS::S3::BucketPolicy         not implemented (the TLS-only policy of the artifacts bucket)
  AWS::Scheduler::ScheduleGroup not implemented (moto's scheduler API has groups, its CloudFormation
                                does not); the template tests check the group, the deployed ones
                                what names it (the Scheduler role, the functions' settings)
  AWS::SQS::QueuePolicy         not implemented (the notify queue's and its DLQ's: only the job
                                events rule may send); the template tests check the policies (moto
                                evaluates none anyway), the deployed ones the bus, rule and target
  AWS::CloudFront::Distribution, ::OriginAccessControl, ::ResponseHeadersPolicy
                                not implemented (the web console's distribution, `infra.console`);
                                the template tests check them, and the console upload runs in moto S3
cfn-lint still checks all of them.
"""
from __future__ import annotations

import importlib.util
import io
import json
import re
import shutil
import subprocess
import sys
from contextlib import redirect_stdout
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from chalicelib import aws
from chalicelib.stack import STACK
from infra import build, compute, console, iam, lambda_package, offline, storage
from infra.functions import discover

ROOT = Path(__file__).resolve().parent.parent
ASL_FILES = sorted((ROOT / "infra" / "asl").glob("*.json"))
ASL_VALIDATOR = ROOT / ".venv" / "node" / "node_modules" / ".bin" / "asl-validator"
MOTO_SKIPPED = {"AWS::ApiGateway::Deployment", "AWS::ApiGateway::Stage", "AWS::S3::BucketPolicy",
                "AWS::Scheduler::ScheduleGroup", "AWS::SQS::QueuePolicy", "AWS::CloudFront::Distribution",
                "AWS::CloudFront::OriginAccessControl", "AWS::CloudFront::ResponseHeadersPolicy"}
#: OPSGRAT_* variables code may read that the deployed functions need not set (local stack only,
#: or read with a default)
OPTIONAL_ENV = {"OPSGRAT_HOME", "OPSGRAT_PORT", "OPSGRAT_API_URL", "OPSGRAT_HEARTBEAT_SECONDS",
                "OPSGRAT_LOGIN_FAILURES_PER_USER", "OPSGRAT_LOGIN_FAILURES_PER_SOURCE", "OPSGRAT_LOGIN_WINDOW_SECONDS"}


@pytest.fixture(scope="module")
def packaged(tmp_path_factory) -> Path:
    """`make package` once per module: the directory with sam.json and deployment.zip."""
    return build.package(tmp_path_factory.mktemp("infra"))


@pytest.fixture(scope="module")
def sam(packaged) -> dict:
    return json.loads((packaged / "sam.json").read_text())


@pytest.fixture(scope="module")
def cfn(sam) -> dict:
    """The SAM template expanded to plain CloudFormation, as CloudFormation does on deploy."""
    return offline.translate(sam, "s3://opsgrat-deploy/deployment.zip")


@pytest.fixture(scope="module")
def deployed(packaged, cfn):
    """The stack created in moto's CloudFormation (unsupported types removed, see module doc)."""
    template, stripped = offline.strip_unsupported(cfn, offline.moto_supports)
    offline.moto_compat(template)
    with mock_aws():
        aws.reset()
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="opsgrat-deploy")
        s3.upload_file(str(packaged / "deployment.zip"), "opsgrat-deploy", "deployment.zip")
        ec2 = boto3.client("ec2")
        subnet = ec2.describe_subnets()["Subnets"][0]["SubnetId"]
        group = ec2.describe_security_groups()["SecurityGroups"][0]["GroupId"]
        cloudformation = boto3.client("cloudformation")
        cloudformation.create_stack(StackName="opsgrat", TemplateBody=json.dumps(template),
                                    Capabilities=["CAPABILITY_IAM"], Parameters=[
            {"ParameterKey": "RunnerImage", "ParameterValue": "123456789012.dkr.ecr.us-east-1.amazonaws.com/r:1"},
            {"ParameterKey": "SubnetIds", "ParameterValue": subnet},
            {"ParameterKey": "SecurityGroupId", "ParameterValue": group}])
        stack = cloudformation.describe_stacks(StackName="opsgrat")["Stacks"][0]
        yield {"stack": stack, "stripped": stripped,
               "outputs": {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}}
    aws.reset()


def _policies(template: dict):
    for name, resource in template["Resources"].items():
        if resource["Type"] == "AWS::IAM::Role":
            for policy in resource["Properties"].get("Policies", []):
                for statement in policy["PolicyDocument"]["Statement"]:
                    yield name, statement


def _resources_of(template: dict, resource_type: str) -> dict:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == resource_type}


def _role_statements(template: dict, role: str) -> list[dict]:
    return [s for policy in template["Resources"][role]["Properties"]["Policies"]
            for s in policy["PolicyDocument"]["Statement"]]


def _listed(value) -> list:
    return value if isinstance(value, list) else [value]


#: the roles of the functions that mirror schedules into EventBridge Scheduler
SCHEDULE_ROLES = {iam.role_id(iam.API), iam.role_id(STACK.LAUNCH_QUEUE)}
SCHEDULE_ACTIONS = {"scheduler:CreateSchedule", "scheduler:UpdateSchedule", "scheduler:DeleteSchedule",
                    "scheduler:GetSchedule"}
SCHEDULER_ROLE_ARN = {"Fn::GetAtt": [iam.SCHEDULER_ROLE, "Arn"]}

#: the roles of what moves jobs to running or to a final state, which put the job state events
JOB_EVENT_ROLES = {iam.role_id(f) for f in (iam.API, "dispatch", "workflow", "launch")} | {"RunnerTaskRole"}
EVENT_BUS_ARN = {"Fn::GetAtt": [storage.EVENT_BUS, "Arn"]}
NOTIFY_ROLE = iam.role_id(STACK.NOTIFY_QUEUE)


# --- packaging -------------------------------------------------------------------------------

def test_chalice_package_writes_the_merged_template_and_the_deployment_package(packaged, sam):
    assert (packaged / "deployment.zip").stat().st_size > 0
    assert "RecordTable" in sam["Resources"] and "APIHandler" in sam["Resources"]


def test_api_lambda_package_contains_no_ansible(packaged):
    assert lambda_package.forbidden_modules(packaged / "deployment.zip") == []


def test_api_lambda_package_is_within_its_size_budget(packaged):
    zip_path = packaged / "deployment.zip"
    print("\n" + lambda_package.report(zip_path))
    total, _ = lambda_package.sizes(zip_path)
    assert total < lambda_package.BUDGET_BYTES, lambda_package.report(zip_path)


def test_lambda_package_leaves_out_what_the_lambda_runtime_provides(packaged):
    _, per_module = lambda_package.sizes(packaged / "deployment.zip")
    assert not set(per_module) & lambda_package.RUNTIME_PROVIDED
    assert {"app", "chalicelib", "pynamodb"} <= set(per_module)


# --- static checks ---------------------------------------------------------------------------

def test_merged_template_passes_cfn_lint(packaged):
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(packaged / "sam.json")],
                            capture_output=True, text=True)
    assert result.returncode & 2 == 0, result.stdout + result.stderr  # bit 2 = errors (4/8: warnings/info)


def test_sam_expanded_template_passes_cfn_lint(cfn, tmp_path):
    path = tmp_path / "expanded.json"
    path.write_text(json.dumps(cfn))
    result = subprocess.run([str(Path(sys.executable).parent / "cfn-lint"), str(path)], capture_output=True, text=True)
    assert result.returncode & 2 == 0, result.stdout + result.stderr


@pytest.mark.parametrize("asl_file", ASL_FILES, ids=lambda p: p.name)
def test_asl_file_passes_the_states_language_validator(asl_file):
    validator = str(ASL_VALIDATOR) if ASL_VALIDATOR.exists() else shutil.which("asl-validator")
    if validator is None:
        pytest.skip("asl-validator not installed (scripts/bootstrap installs it when npm is present)")
    result = subprocess.run([validator, "--json-path", str(asl_file)], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_state_machine_in_the_stack_is_in_the_template(sam):
    for machine in STACK.state_machines:
        resource = sam["Resources"][compute.machine_id(machine)]
        assert resource["Properties"]["StateMachineName"] == machine.name


# --- least privilege -------------------------------------------------------------------------

def test_no_role_allows_wildcard_actions(cfn):
    for role, statement in _policies(cfn):
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        assert not [a for a in actions if a == "*" or a.endswith(":*")], (role, statement)


def test_only_unscopable_actions_use_a_wildcard_resource(cfn):
    for role, statement in _policies(cfn):
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if "*" in resources:
            assert set(statement["Action"]) <= iam.UNSCOPED_ACTIONS, (role, statement)


def test_each_function_family_runs_under_its_own_role(sam):
    import app

    roles = {}
    for function in discover(app.app):
        roles[function.family] = sam["Resources"][function.cfn_name]["Properties"]["Role"]["Fn::GetAtt"][0]
    assert len(set(roles.values())) == len(roles)
    assert {iam.role_id(f) for f in ("api", "dispatch")} <= set(sam["Resources"])


def test_every_queue_of_the_stack_is_consumed_by_its_handler_in_the_app():
    import app

    consumers = {f.queue: f.name for f in discover(app.app) if f.queue}
    assert {q.short: q.handler for q in STACK.queues} == consumers


def test_every_role_family_declares_grants_that_exist():
    families = [iam.API, *(q.short for q in STACK.queues), "runner"]
    assert set(families) == set(iam.NEEDS), "each queue's consumers need their own NEEDS entry (infra.iam)"
    assert {need for needs in iam.NEEDS.values() for need in needs} <= set(iam.GRANTS)


def test_queue_consumers_may_only_read_their_own_queue(sam):
    assert STACK.queues
    for family in [q.short for q in STACK.queues]:
        statements = sam["Resources"][iam.role_id(family)]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
        read = [s for s in statements if "sqs:ReceiveMessage" in s["Action"]]
        assert [s["Resource"] for s in read] == [[{"Fn::GetAtt": [storage.queue_id(family), "Arn"]}]]
    api = sam["Resources"][iam.role_id("api")]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    assert not [s for s in api if "sqs:ReceiveMessage" in s["Action"]]


def test_state_machine_role_may_send_only_to_the_queues_its_asl_names(sam):
    statements = sam["Resources"]["StateMachineRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    named = {short for m in STACK.state_machines for _, short in m.queue_urls} | {STACK.WORKFLOW_QUEUE}
    assert statements[0]["Action"] == ["sqs:SendMessage"]
    assert statements[0]["Resource"] == [{"Fn::GetAtt": [storage.queue_id(q), "Arn"]} for q in sorted(named)]


def test_scheduler_role_may_only_send_to_the_launch_queue_and_its_dead_letter_queue(cfn):
    statements = _role_statements(cfn, iam.SCHEDULER_ROLE)
    assert [s["Action"] for s in statements] == [["sqs:SendMessage"]]
    assert statements[0]["Resource"] == [{"Fn::GetAtt": [storage.queue_id(STACK.LAUNCH_QUEUE), "Arn"]},
                                         {"Fn::GetAtt": [storage.dlq_id(STACK.LAUNCH_QUEUE), "Arn"]}]
    assert "Condition" not in statements[0]


def test_only_eventbridge_scheduler_of_this_account_may_assume_the_scheduler_role(cfn):
    trust = cfn["Resources"][iam.SCHEDULER_ROLE]["Properties"]["AssumeRolePolicyDocument"]["Statement"]
    assert trust == [{"Effect": "Allow", "Principal": {"Service": "scheduler.amazonaws.com"},
                      "Action": "sts:AssumeRole",
                      "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}}}]


def test_schedule_group_is_in_the_template_with_the_stacks_group_name(sam):
    groups = _resources_of(sam, "AWS::Scheduler::ScheduleGroup")
    assert {name: g["Properties"]["Name"] for name, g in groups.items()} == {"ScheduleGroup": STACK.schedule_group}
    assert sam["Outputs"]["ScheduleGroupName"]["Value"] == {"Ref": "ScheduleGroup"}


def test_api_and_launch_roles_may_manage_schedules_only_in_the_stacks_group(cfn):
    group_schedules = {"Fn::Sub": "arn:${AWS::Partition}:scheduler:${AWS::Region}:${AWS::AccountId}:"
                                  f"schedule/{STACK.schedule_group}/*"}
    for role in SCHEDULE_ROLES:
        scheduler = [s for s in _role_statements(cfn, role) if any(a.startswith("scheduler:") for a in s["Action"])]
        assert {a for s in scheduler for a in s["Action"]} == SCHEDULE_ACTIONS, role
        assert all(_listed(s["Resource"]) == [group_schedules] for s in scheduler), (role, scheduler)


def test_api_and_launch_roles_may_pass_only_the_scheduler_role_and_only_to_scheduler(cfn):
    for role in SCHEDULE_ROLES:
        passes = [s for s in _role_statements(cfn, role) if "iam:PassRole" in s["Action"]]
        to_scheduler = [s for s in passes if "scheduler.amazonaws.com" in json.dumps(s.get("Condition"))]
        assert [(s["Action"], s["Resource"], s["Condition"]) for s in to_scheduler] == [
            (["iam:PassRole"], [SCHEDULER_ROLE_ARN], {"StringEquals": {"iam:PassedToService": "scheduler.amazonaws.com"}})]
        # and the Scheduler role goes to no other service
        assert [s for s in passes if SCHEDULER_ROLE_ARN in _listed(s["Resource"])] == to_scheduler, role


def test_no_other_role_may_pass_the_scheduler_role_or_use_eventbridge_scheduler(cfn):
    for role, statement in _policies(cfn):
        if role in SCHEDULE_ROLES:
            continue
        actions = _listed(statement["Action"])
        assert not [a for a in actions if a.startswith("scheduler:")], (role, statement)
        if "iam:PassRole" in actions:
            assert iam.SCHEDULER_ROLE not in json.dumps(statement["Resource"]), (role, statement)
            assert "scheduler.amazonaws.com" not in json.dumps(statement.get("Condition")), (role, statement)


def test_event_bus_and_job_events_rule_have_the_stacks_names(sam):
    buses = _resources_of(sam, "AWS::Events::EventBus")
    rules = _resources_of(sam, "AWS::Events::Rule")
    assert {name: b["Properties"]["Name"] for name, b in buses.items()} == {storage.EVENT_BUS: STACK.event_bus}
    assert {name: r["Properties"]["Name"] for name, r in rules.items()} == {storage.JOB_EVENTS_RULE: STACK.job_events_rule}
    assert rules[storage.JOB_EVENTS_RULE]["Properties"]["EventBusName"] == {"Fn::GetAtt": [storage.EVENT_BUS, "Name"]}
    assert "DeletionPolicy" not in buses[storage.EVENT_BUS]  # it holds no data


def test_job_events_rule_matches_the_stacks_job_event_pattern(sam):
    rule = sam["Resources"][storage.JOB_EVENTS_RULE]["Properties"]
    assert rule["EventPattern"] == STACK.job_event_pattern()
    assert rule["EventPattern"] == {"source": [STACK.EVENT_SOURCE], "detail-type": [STACK.JOB_EVENT]}
    assert rule["State"] == "ENABLED"


def test_job_events_rule_sends_only_to_the_notify_queue(sam):
    targets = sam["Resources"][storage.JOB_EVENTS_RULE]["Properties"]["Targets"]
    assert [(t["Id"], t["Arn"]) for t in targets] == [
        (STACK.JOB_EVENTS_TARGET, {"Fn::GetAtt": [storage.queue_id(STACK.NOTIFY_QUEUE), "Arn"]})]
    # what EventBridge cannot deliver waits in the notify queue's DLQ (a redrive handles it as usual)
    assert targets[0]["DeadLetterConfig"] == {"Arn": {"Fn::GetAtt": [storage.dlq_id(STACK.NOTIFY_QUEUE), "Arn"]}}


def test_only_the_job_events_rule_may_send_to_the_notify_queue(cfn):
    rule_arn = {"Fn::GetAtt": [storage.JOB_EVENTS_RULE, "Arn"]}
    notify_queues = {storage.queue_id(STACK.NOTIFY_QUEUE), storage.dlq_id(STACK.NOTIFY_QUEUE)}
    policies = _resources_of(cfn, "AWS::SQS::QueuePolicy").values()
    by_queue = {q["Ref"]: p["Properties"]["PolicyDocument"]["Statement"] for p in policies for q in p["Properties"]["Queues"]}
    # the rule's target and its dead-letter queue have a policy, and no other queue has one
    assert set(by_queue) == notify_queues
    for queue, statements in by_queue.items():
        assert [(s["Effect"], s["Principal"], s["Action"], s["Resource"], s["Condition"]) for s in statements] == [
            ("Allow", {"Service": "events.amazonaws.com"}, "sqs:SendMessage", {"Fn::GetAtt": [queue, "Arn"]},
             {"ArnEquals": {"aws:SourceArn": rule_arn}})], queue


# --- job events and notifications: who may do what -----------------------------------------

def test_job_writing_families_may_put_events_only_on_the_event_bus(cfn):
    for role in JOB_EVENT_ROLES:
        puts = [s for s in _role_statements(cfn, role) if "events:PutEvents" in _listed(s["Action"])]
        assert [(s["Action"], _listed(s["Resource"])) for s in puts] == [(["events:PutEvents"], [EVENT_BUS_ARN])], role


def test_no_other_role_may_put_events(cfn):
    # the notify role least of all: an event it put could come back to it
    for role, statement in _policies(cfn):
        if role not in JOB_EVENT_ROLES:
            assert not [a for a in _listed(statement["Action"]) if a.startswith("events:")], (role, statement)


def test_only_the_notify_role_may_publish_to_sns_and_only_to_the_accounts_topics(cfn):
    account_topics = {"Fn::Sub": "arn:${AWS::Partition}:sns:${AWS::Region}:${AWS::AccountId}:*"}
    publishing = {}
    for role, statement in _policies(cfn):
        if [a for a in _listed(statement["Action"]) if a.startswith("sns:")]:
            publishing.setdefault(role, []).append((statement["Action"], _listed(statement["Resource"])))
    assert publishing == {NOTIFY_ROLE: [(["sns:Publish"], [account_topics])]}


def test_notify_role_may_decrypt_secrets_but_not_encrypt_them(cfn):
    kms = [s for s in _role_statements(cfn, NOTIFY_ROLE) if any(a.startswith("kms:") for a in _listed(s["Action"]))]
    assert [(s["Action"], s["Resource"]) for s in kms] == [(["kms:Decrypt"], [{"Fn::GetAtt": ["SecretsKey", "Arn"]}])]


# --- wiring the code relies on ---------------------------------------------------------------

def test_functions_name_the_launch_queue_its_dead_letter_queue_and_the_scheduler_role(sam):
    expected = {STACK.LAUNCH_QUEUE_ARN_ENV: {"Fn::GetAtt": [storage.queue_id(STACK.LAUNCH_QUEUE), "Arn"]},
                STACK.LAUNCH_DLQ_ARN_ENV: {"Fn::GetAtt": [storage.dlq_id(STACK.LAUNCH_QUEUE), "Arn"]},
                STACK.SCHEDULER_ROLE_ARN_ENV: SCHEDULER_ROLE_ARN}
    functions = _resources_of(sam, "AWS::Serverless::Function")
    assert functions
    for name, function in functions.items():
        variables = function["Properties"]["Environment"]["Variables"]
        assert {k: variables.get(k) for k in expected} == expected, name


def test_local_stack_provisions_the_schedule_group_and_exports_what_the_template_sets():
    import os

    from chalicelib.local import provision

    with mock_aws():
        aws.reset()
        try:
            provision.provision()
            provision.provision()  # every start provisions again
            groups = aws.client("scheduler").list_schedule_groups()["ScheduleGroups"]
            sqs = aws.client("sqs")
            queue_arns = {short: sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"],
                                                          AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
                          for short, name in (("queue", STACK.queue(STACK.LAUNCH_QUEUE).name),
                                              ("dlq", STACK.queue(STACK.LAUNCH_QUEUE).dlq_name))}
        finally:
            aws.reset()
    assert [g["Name"] for g in groups].count(STACK.schedule_group) == 1
    assert os.environ[STACK.LAUNCH_QUEUE_ARN_ENV] == queue_arns["queue"]
    assert os.environ[STACK.LAUNCH_DLQ_ARN_ENV] == queue_arns["dlq"]
    assert os.environ[STACK.SCHEDULER_ROLE_ARN_ENV].startswith("arn:aws:iam::")


def _put_on_bus(detail_type: str, detail: dict) -> dict:
    return aws.client("events").put_events(Entries=[{
        "EventBusName": STACK.event_bus, "Source": STACK.EVENT_SOURCE, "DetailType": detail_type,
        "Detail": json.dumps(detail)}])


def _notify_queue_messages() -> list[dict]:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=STACK.queue(STACK.NOTIFY_QUEUE).name)["QueueUrl"]
    return sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])


def test_local_stack_delivers_a_job_event_put_on_the_bus_to_the_notify_queue(aws_mock):
    detail = {"job": 7, "status": "successful"}
    assert _put_on_bus(STACK.JOB_EVENT, detail)["FailedEntryCount"] == 0
    events = [json.loads(m["Body"]) for m in _notify_queue_messages()]
    assert [(e["source"], e["detail-type"], e["detail"]) for e in events] == [(STACK.EVENT_SOURCE, STACK.JOB_EVENT, detail)]


def test_local_stack_does_not_deliver_other_detail_types_to_the_notify_queue(aws_mock):
    assert _put_on_bus("Template Changed", {"template": 1})["FailedEntryCount"] == 0
    assert _notify_queue_messages() == []


def test_provisioning_again_leaves_one_job_events_rule_with_one_target(aws_mock):
    from chalicelib.local import provision

    provision.provision()  # the fixture provisioned once already; every local start provisions again
    events = aws.client("events")
    rules = events.list_rules(EventBusName=STACK.event_bus)["Rules"]
    targets = events.list_targets_by_rule(Rule=STACK.job_events_rule, EventBusName=STACK.event_bus)["Targets"]
    buses = [b["Name"] for b in events.list_event_buses()["EventBuses"]]
    assert buses.count(STACK.event_bus) == 1
    assert [r["Name"] for r in rules] == [STACK.job_events_rule]
    assert [(t["Id"], t["Arn"].rsplit(":", 1)[1]) for t in targets] == [
        (STACK.JOB_EVENTS_TARGET, STACK.queue(STACK.NOTIFY_QUEUE).name)]


def test_every_sqs_handler_reports_batch_item_failures(sam):
    import app

    handlers = [f for f in discover(app.app) if f.queue]
    assert handlers, "app.py has SQS handlers"
    for function in handlers:
        event = sam["Resources"][function.cfn_name]["Properties"]["Events"][function.event_cfn_name]
        assert event["Properties"]["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_sqs_handler_timeout_is_below_its_queue_visibility_timeout(sam):
    import app

    for function in discover(app.app):
        if function.queue:
            timeout = sam["Resources"][function.cfn_name]["Properties"]["Timeout"]
            assert timeout < STACK.queue(function.queue).visibility_timeout, function.name


def test_functions_get_every_setting_the_code_reads(sam):
    read = set()
    for path in [ROOT / "app.py", *(ROOT / "chalicelib").rglob("*.py")]:
        if "local" in path.relative_to(ROOT).parts:
            continue
        read |= set(re.findall(r"""(?:env|environ\.get|getenv|environ\[)\(?\s*["'](OPSGRAT_[A-Z0-9_]+)""",
                               path.read_text()))
    variables = sam["Resources"]["APIHandler"]["Properties"]["Environment"]["Variables"]
    assert read - OPTIONAL_ENV - set(variables) == set()


def test_artifact_lifecycle_rule_covers_the_job_archive_keys(sam):
    from chalicelib.services import joblogs

    rules = sam["Resources"]["ArtifactsBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    expiring = [r for r in rules if r.get("ExpirationInDays") == {"Ref": "KeepDays"}]
    assert [r["Prefix"] for r in expiring] == [storage.JOB_ARCHIVE_PREFIX]
    assert joblogs.archive_key(7, "stdout.txt").startswith(storage.JOB_ARCHIVE_PREFIX)


def test_runner_container_is_the_one_the_ecs_backend_overrides(sam):
    import inspect

    from chalicelib.services import runners

    container = sam["Resources"]["RunnerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]
    assert container["Name"] == compute.RUNNER_CONTAINER
    assert f'"name": "{compute.RUNNER_CONTAINER}"' in inspect.getsource(runners)
    assert container["Image"] == {"Ref": "RunnerImage"}


def test_only_the_dispatch_role_registers_task_definitions_and_it_runs_and_passes_only_the_runners(cfn):
    """Execution environments' images (`runners.ImageTaskDefinitions`): the dispatch role registers
    copies of the runner's task definition (unscoped actions), runs only the runner's families and
    passes only the runner's two roles, to ECS tasks alone."""
    dispatch = iam.role_id("dispatch")
    for role, statement in _policies(cfn):
        actions = set(_listed(statement["Action"]))
        if {"ecs:RegisterTaskDefinition", "ecs:DescribeTaskDefinition"} & actions:
            assert role == dispatch, (role, statement)
    statements = _role_statements(cfn, dispatch)
    run = [s for s in statements if "ecs:RunTask" in _listed(s["Action"])]
    assert len(run) == 1
    family = compute.task_family()
    assert {json.dumps(r).split("task-definition/")[1].split('"')[0] for r in _listed(run[0]["Resource"])} == \
        {f"{family}:*", f"{family}-*:*"}
    passes = [s for s in statements if "iam:PassRole" in _listed(s["Action"])]
    assert [(s["Resource"], s["Condition"]) for s in passes] == [
        ([{"Fn::GetAtt": ["RunnerTaskRole", "Arn"]}, {"Fn::GetAtt": ["RunnerExecutionRole", "Arn"]}],
         {"StringEquals": {"iam:PassedToService": "ecs-tasks.amazonaws.com"}})]


# --- the web console behind CloudFront (infra.console) ---------------------------------------

def _distribution(template: dict) -> dict:
    return template["Resources"][console.DISTRIBUTION]["Properties"]["DistributionConfig"]


def _behavior(template: dict, pattern: str) -> dict:
    return next(b for b in _distribution(template)["CacheBehaviors"] if b["PathPattern"] == pattern)


def test_console_distribution_serves_the_root_from_the_buckets_console_index(cfn):
    config = _distribution(cfn)
    assert config["DefaultRootObject"] == "console/index.html"
    assert config["DefaultCacheBehavior"]["TargetOriginId"] == console.BUCKET_ORIGIN
    assert _behavior(cfn, "/console/*")["TargetOriginId"] == console.BUCKET_ORIGIN


def test_console_bucket_origin_is_the_artifacts_bucket_read_through_origin_access_control(cfn):
    origin = next(o for o in _distribution(cfn)["Origins"] if o["Id"] == console.BUCKET_ORIGIN)
    assert origin["DomainName"] == {"Fn::GetAtt": ["ArtifactsBucket", "RegionalDomainName"]}
    assert origin["OriginAccessControlId"] == {"Fn::GetAtt": [console.ORIGIN_ACCESS_CONTROL, "Id"]}
    assert "OriginPath" not in origin  # the keys are the paths: /console/app.js is console/app.js
    oac = cfn["Resources"][console.ORIGIN_ACCESS_CONTROL]["Properties"]["OriginAccessControlConfig"]
    assert (oac["OriginAccessControlOriginType"], oac["SigningBehavior"]) == ("s3", "always")


def test_artifacts_bucket_stays_private(sam):
    block = sam["Resources"]["ArtifactsBucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert all(block.values()) and len(block) == 4


def test_bucket_policy_lets_only_the_console_distribution_read_only_console_objects(cfn):
    statements = cfn["Resources"]["ArtifactsBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert [(s["Principal"], s["Action"], s["Resource"]) for s in allows] == [
        ({"Service": "cloudfront.amazonaws.com"}, "s3:GetObject", {"Fn::Sub": "${ArtifactsBucket.Arn}/console/*"})]
    source = allows[0]["Condition"]["StringEquals"]["AWS:SourceArn"]
    assert source == {"Fn::Sub": "arn:${AWS::Partition}:cloudfront::${AWS::AccountId}:distribution/"
                                 "${" + console.DISTRIBUTION + "}"}
    assert [s["Sid"] for s in statements if s["Effect"] == "Deny"] == ["TLSOnly"]  # still there


def test_api_behaviour_reaches_the_api_stage_uncached_with_every_method_and_the_viewers_headers(cfn):
    api = _behavior(cfn, "/api/*")
    assert api["TargetOriginId"] == console.API_ORIGIN
    assert set(api["AllowedMethods"]) == {"GET", "HEAD", "OPTIONS", "PUT", "PATCH", "POST", "DELETE"}
    assert api["CachePolicyId"] == console.CACHING_DISABLED  # managed CachingDisabled
    # managed AllViewerExceptHostHeader: Authorization, the query string, everything but Host
    assert api["OriginRequestPolicyId"] == console.ALL_VIEWER_EXCEPT_HOST_HEADER
    origin = next(o for o in _distribution(cfn)["Origins"] if o["Id"] == console.API_ORIGIN)
    assert origin["DomainName"] == {"Fn::Sub": "${RestAPI}.execute-api.${AWS::Region}.${AWS::URLSuffix}"}
    assert origin["CustomOriginConfig"]["OriginProtocolPolicy"] == "https-only"


def test_api_origin_path_is_the_stage_chalice_deploys_the_api_to(sam):
    stage = sam["Resources"][console.API]["Properties"]["StageName"]
    origin = next(o for o in _distribution(sam)["Origins"] if o["Id"] == console.API_ORIGIN)
    assert origin["OriginPath"] == f"/{stage}"


def test_every_console_behaviour_is_https_only(cfn):
    config = _distribution(cfn)
    for behavior in [config["DefaultCacheBehavior"], *config["CacheBehaviors"]]:
        assert behavior["ViewerProtocolPolicy"] == "redirect-to-https", behavior


def test_console_responses_carry_the_csp_the_local_stack_sends(cfn):
    from chalicelib.local import console as local_console

    policy = cfn["Resources"][console.RESPONSE_HEADERS]["Properties"]["ResponseHeadersPolicyConfig"]
    headers = policy["SecurityHeadersConfig"]
    assert headers["ContentSecurityPolicy"]["ContentSecurityPolicy"] == \
        local_console.PAGE_HEADERS["Content-Security-Policy"] == STACK.CONSOLE_CSP
    assert headers["ContentTypeOptions"]["Override"] is True
    config = _distribution(cfn)
    for behavior in (config["DefaultCacheBehavior"], _behavior(cfn, "/console/*")):
        assert behavior["ResponseHeadersPolicyId"] == {"Ref": console.RESPONSE_HEADERS}


def test_console_url_is_a_stack_output(sam):
    assert sam["Outputs"]["ConsoleURL"]["Value"] == {"Fn::Sub": "https://${ConsoleDistribution.DomainName}/"}
    assert sam["Outputs"]["ConsoleDistributionId"]["Value"] == {"Ref": console.DISTRIBUTION}


def _console_files(root: Path) -> None:
    (root / "lib").mkdir(parents=True)
    (root / "index.html").write_text("<!doctype html><title>OpsGrat</title>")
    (root / "app.js").write_text("export {};")
    (root / "style.css").write_text("body{}")
    (root / "lib" / "api.js").write_text("export {};")
    (root / ".editor.swp").write_text("not for upload")


def test_console_upload_puts_the_files_under_console_with_their_content_types(aws_mock, tmp_path):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="artifacts")
    _console_files(tmp_path)
    console.upload(s3, "artifacts", tmp_path)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="artifacts")["Contents"]}
    assert keys == {"console/index.html", "console/app.js", "console/style.css", "console/lib/api.js"}
    heads = {k: s3.head_object(Bucket="artifacts", Key=k) for k in keys}
    assert {k: h["ContentType"] for k, h in heads.items()} == {
        "console/index.html": "text/html; charset=utf-8", "console/app.js": "text/javascript; charset=utf-8",
        "console/style.css": "text/css; charset=utf-8", "console/lib/api.js": "text/javascript; charset=utf-8"}
    assert {h["CacheControl"] for h in heads.values()} == {"no-cache"}


def test_console_upload_removes_stale_console_objects_and_nothing_else(aws_mock, tmp_path):
    s3 = aws.client("s3")
    s3.create_bucket(Bucket="artifacts")
    for key in ("console/old.js", "jobs/7/stdout.txt", "projects/1/archive.tar.gz"):
        s3.put_object(Bucket="artifacts", Key=key, Body=b"x")
    _console_files(tmp_path)
    done = console.upload(s3, "artifacts", tmp_path)
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket="artifacts")["Contents"]}
    assert done["deleted"] == ["console/old.js"]
    assert "console/old.js" not in keys and {"jobs/7/stdout.txt", "projects/1/archive.tar.gz"} <= keys


# --- CloudFormation in moto ------------------------------------------------------------------

def test_template_deploys_into_moto_cloudformation(deployed):
    print("\nskipped in moto:", json.dumps(deployed["stripped"], indent=1, sort_keys=True))
    assert deployed["stack"]["StackStatus"] == "CREATE_COMPLETE", deployed["stack"].get("StackStatusReason")
    assert set(deployed["stripped"].values()) == MOTO_SKIPPED


def test_deployed_tables_have_the_models_keys_and_indexes(deployed):
    dynamodb = boto3.client("dynamodb")
    for model in STACK.tables:
        table = dynamodb.describe_table(TableName=model.Meta.table_name)["Table"]
        schema = model._get_schema()
        assert {k["AttributeName"]: k["KeyType"] for k in table["KeySchema"]} == \
            {k["AttributeName"]: k["KeyType"] for k in schema["key_schema"]}
        assert sorted(i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])) == \
            sorted(i["index_name"] for i in schema["global_secondary_indexes"])
        assert table["BillingModeSummary"]["BillingMode"] == "PAY_PER_REQUEST"


def test_tokens_table_has_the_by_user_index_that_revocation_queries(sam):
    from chalicelib.models import AuthToken

    props = sam["Resources"][storage.table_id(AuthToken)]["Properties"]
    indexes = {i["IndexName"]: i for i in props.get("GlobalSecondaryIndexes", [])}
    index = indexes[AuthToken.by_user.Meta.index_name]
    assert index["KeySchema"] == [{"AttributeName": "user_id", "KeyType": "HASH"},
                                  {"AttributeName": "created", "KeyType": "RANGE"}]


def test_tables_have_recovery_encryption_and_the_models_ttl(sam):
    # checked on the template: moto's CloudFormation ignores these three properties
    for model in STACK.tables:
        props = sam["Resources"][storage.table_id(model)]["Properties"]
        assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
        assert props["SSESpecification"] == {"SSEEnabled": True}
        ttl = [a.attr_name for a in model.get_attributes().values() if type(a).__name__ == "TTLAttribute"]
        assert props.get("TimeToLiveSpecification") == ({"AttributeName": ttl[0], "Enabled": True} if ttl else None)


def test_deployed_queues_have_dead_letter_queues(deployed):
    sqs = boto3.client("sqs")
    for queue in STACK.queues:
        url = sqs.get_queue_url(QueueName=queue.name)["QueueUrl"]
        redrive = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                             ["Attributes"]["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(":" + queue.dlq_name)


def test_deployed_state_machine_has_the_queue_url_filled_in(deployed):
    sfn = boto3.client("stepfunctions")
    for machine in STACK.state_machines:
        arn = deployed["outputs"][compute.machine_id(machine) + "Arn"]
        definition = sfn.describe_state_machine(stateMachineArn=arn)["definition"]
        assert "${" not in definition
        for _, short in machine.queue_urls:
            assert boto3.client("sqs").get_queue_url(QueueName=STACK.queue(short).name)["QueueUrl"] in definition


def test_deployed_functions_have_the_settings_and_sqs_event_sources(deployed):
    lam = boto3.client("lambda")
    config = lam.get_function_configuration(FunctionName=iam.function_name("api_handler"))
    variables = config["Environment"]["Variables"]
    assert variables["OPSGRAT_BUCKET"] == deployed["outputs"]["ArtifactsBucketName"]
    assert variables["OPSGRAT_RUNNER_BACKEND"] == "ecs"
    mappings = lam.list_event_source_mappings()["EventSourceMappings"]
    assert {m["EventSourceArn"].rsplit(":", 1)[1] for m in mappings} >= {STACK.queue("dispatch").name}


def _deployed_scheduler_role(deployed) -> dict:
    resource = boto3.client("cloudformation").describe_stack_resource(
        StackName=deployed["stack"]["StackName"], LogicalResourceId=iam.SCHEDULER_ROLE)["StackResourceDetail"]
    return boto3.client("iam").get_role(RoleName=resource["PhysicalResourceId"])["Role"]


def test_deployed_functions_name_the_deployed_launch_queues_and_scheduler_role(deployed):
    sqs = boto3.client("sqs")
    launch = STACK.queue(STACK.LAUNCH_QUEUE)

    def queue_arn(name: str) -> str:
        url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
        return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]

    config = boto3.client("lambda").get_function_configuration(FunctionName=iam.function_name("api_handler"))
    variables = config["Environment"]["Variables"]
    assert variables[STACK.LAUNCH_QUEUE_ARN_ENV] == queue_arn(launch.name)
    assert variables[STACK.LAUNCH_DLQ_ARN_ENV] == queue_arn(launch.dlq_name)
    assert variables[STACK.SCHEDULER_ROLE_ARN_ENV] == _deployed_scheduler_role(deployed)["Arn"]


def test_deployed_scheduler_role_trusts_only_scheduler_of_the_stacks_account(deployed):
    role = _deployed_scheduler_role(deployed)
    document = role["AssumeRolePolicyDocument"]
    trust = json.loads(document) if isinstance(document, str) else document
    account = boto3.client("sts").get_caller_identity()["Account"]
    assert [(s["Principal"], s["Condition"]) for s in trust["Statement"]] == [
        ({"Service": "scheduler.amazonaws.com"}, {"StringEquals": {"aws:SourceAccount": account}})]


def test_deployed_bus_has_the_job_events_rule_sending_to_the_deployed_notify_queue(deployed):
    events = boto3.client("events")
    bus = events.describe_event_bus(Name=STACK.event_bus)
    assert deployed["outputs"]["EventBusName"] == bus["Name"] == STACK.event_bus
    rules = events.list_rules(EventBusName=STACK.event_bus)["Rules"]
    assert [(r["Name"], json.loads(r["EventPattern"])) for r in rules] == [(STACK.job_events_rule, STACK.job_event_pattern())]
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=STACK.queue(STACK.NOTIFY_QUEUE).name)["QueueUrl"]
    notify_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    targets = events.list_targets_by_rule(Rule=STACK.job_events_rule, EventBusName=STACK.event_bus)["Targets"]
    assert [(t["Id"], t["Arn"]) for t in targets] == [(STACK.JOB_EVENTS_TARGET, notify_arn)]


def test_create_superuser_script_prints_a_token_that_the_api_accepts(deployed):
    import chalicelib.services.catalog  # noqa: F401 - registers the families
    from chalicelib.services import auth

    spec = importlib.util.spec_from_file_location("create_superuser", ROOT / "scripts" / "create_superuser.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    out = io.StringIO()
    with redirect_stdout(out):
        assert script.main(["--username", "operator"]) == 0
    token = out.getvalue().strip().splitlines()[-1]
    principal = auth.authenticate(f"Token {token}")
    assert principal.user["username"] == "operator" and principal.user["superuser"] == 1


def test_the_runner_role_reaches_only_the_records_and_counters_of_its_families(sam):
    from chalicelib.models import AuthToken, LoginFailures
    from chalicelib.services import catalog, resources  # noqa: F401 - importing catalog registers every family

    statements = sam["Resources"]["RunnerTaskRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    dynamo = [s for s in statements if any(a.startswith("dynamodb:") for a in s["Action"])]
    assert len(dynamo) == 1
    named = json.dumps(dynamo[0]["Resource"])
    assert storage.table_id(AuthToken) not in named and storage.table_id(LoginFailures) not in named
    keys = dynamo[0]["Condition"]["ForAllValues:StringLike"]["dynamodb:LeadingKeys"]
    assert set(iam.DASHBOARD_KEYS) <= set(keys)  # a finishing job adds to the dashboard's figures
    families = {key.split("|")[0] if not key.startswith(("seq|", "count|", "uniq|")) else key.split("|")[1]
                for key in keys if key not in iam.DASHBOARD_KEYS}
    assert families == set(iam.RUNNER_FAMILIES)
    registered = {r.family for r in resources.all_resources()}
    assert families <= registered and not {"user", "template"} & families
    assert not any(family.startswith("grant.") for family in families)

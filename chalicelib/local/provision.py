"""Create every resource of `chalicelib.stack.STACK` in the current AWS endpoint (moto)."""
from __future__ import annotations

import json
import os

from chalicelib import aws
from chalicelib.stack import STACK, Stack

#: the Scheduler role schedules name; moto neither checks nor assumes roles
LOCAL_SCHEDULER_ROLE_ARN = "arn:aws:iam::123456789012:role/opsgrat-local-scheduler"


def provision(stack: Stack = STACK) -> dict:
    """Idempotently create every resource, the event bus and its job events rule included; exports
    the ARNs code finds in the environment (state machines, the launch queue and its DLQ, the
    Scheduler role). Returns queue URLs by short name."""
    for model in stack.tables:
        if not model.exists():
            model.create_table(wait=True)
    sqs = aws.client("sqs")
    urls = {}
    for queue in stack.queues:
        dlq_url = sqs.create_queue(QueueName=queue.dlq_name)["QueueUrl"]
        dlq_arn = sqs.get_queue_attributes(QueueUrl=dlq_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        urls[queue.short] = sqs.create_queue(QueueName=queue.name, Attributes={
            "VisibilityTimeout": str(queue.visibility_timeout),
            "RedrivePolicy": json.dumps({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": queue.max_receive_count}),
        })["QueueUrl"]
        if queue.short == stack.LAUNCH_QUEUE:
            os.environ[stack.LAUNCH_DLQ_ARN_ENV] = dlq_arn
            os.environ[stack.LAUNCH_QUEUE_ARN_ENV] = sqs.get_queue_attributes(
                QueueUrl=urls[queue.short], AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    _schedule_group(stack)
    _job_events(stack)
    s3 = aws.client("s3")
    existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
    if stack.bucket not in existing:
        s3.create_bucket(Bucket=stack.bucket)
    kms = aws.client("kms")
    aliases = {a["AliasName"] for a in kms.list_aliases()["Aliases"]}
    if stack.kms_alias not in aliases:
        key_id = kms.create_key(Description="OpsGrat secrets")["KeyMetadata"]["KeyId"]
        kms.create_alias(AliasName=stack.kms_alias, TargetKeyId=key_id)
    logs = aws.client("logs")
    if not logs.describe_log_groups(logGroupNamePrefix=stack.log_group)["logGroups"]:
        logs.create_log_group(logGroupName=stack.log_group)
    sfn = aws.client("stepfunctions")
    existing_machines = {m["name"]: m["stateMachineArn"] for m in sfn.list_state_machines()["stateMachines"]}
    for machine in stack.state_machines:
        arn = existing_machines.get(machine.name) or sfn.create_state_machine(
            name=machine.name, definition=machine.render(urls),
            roleArn="arn:aws:iam::123456789012:role/opsgrat-local-states")["stateMachineArn"]
        if machine.arn_env:
            os.environ[machine.arn_env] = arn
    return urls


def _queue_arn(name: str) -> str:
    sqs = aws.client("sqs")
    url = sqs.get_queue_url(QueueName=name)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def _job_events(stack: Stack) -> None:
    """The event bus, and its rule that sends job state events to the notify queue (moto delivers
    `put_events` to SQS targets), as the template makes them. `put_rule` and `put_targets` replace
    the rule and the target of the same name and Id, so every start leaves one rule with one
    target. moto evaluates no SQS queue policy, so the notify queue's (only this rule may send)
    is the template's alone."""
    events = aws.client("events")
    buses = events.list_event_buses(NamePrefix=stack.event_bus)["EventBuses"]
    if stack.event_bus not in {b["Name"] for b in buses}:
        events.create_event_bus(Name=stack.event_bus)
    events.put_rule(Name=stack.job_events_rule, EventBusName=stack.event_bus, State="ENABLED",
                    EventPattern=json.dumps(stack.job_event_pattern()))
    notify = stack.queue(stack.NOTIFY_QUEUE)
    events.put_targets(Rule=stack.job_events_rule, EventBusName=stack.event_bus, Targets=[
        {"Id": stack.JOB_EVENTS_TARGET, "Arn": _queue_arn(notify.name), "DeadLetterConfig": {"Arn": _queue_arn(notify.dlq_name)}}])


def _schedule_group(stack: Stack) -> None:
    """The EventBridge Scheduler group the schedules' mirrors go in, and the role they name."""
    scheduler = aws.client("scheduler")
    groups = scheduler.list_schedule_groups(NamePrefix=stack.schedule_group)["ScheduleGroups"]
    if stack.schedule_group not in {g["Name"] for g in groups}:
        scheduler.create_schedule_group(Name=stack.schedule_group)
    os.environ[stack.SCHEDULER_ROLE_ARN_ENV] = LOCAL_SCHEDULER_ROLE_ARN

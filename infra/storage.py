"""Where data and messages live: tables, queues, the artifacts bucket, the KMS key, log groups,
the EventBridge Scheduler group that holds the schedules' mirrors, and the event bus whose rule
sends job state events to the notify queue.

Tables and data stores are `Retain`ed: deleting the stack must never delete an installation's
jobs, credentials or the key that decrypts them (the README's teardown removes them explicitly).
"""
from __future__ import annotations

from pynamodb.attributes import TTLAttribute

from chalicelib import config
from chalicelib.stack import STACK
from infra import console
from infra.cfn import arn, logical, ref, sub

#: S3 keys under which the runner archives job output (`chalicelib.services.joblogs.archive_key`);
#: the lifecycle rule expires them after KeepDays
JOB_ARCHIVE_PREFIX = "jobs/"
RETAIN = {"DeletionPolicy": "Retain", "UpdateReplacePolicy": "Retain"}


def table_id(model) -> str:
    return model.__name__ + "Table"


def queue_id(short: str) -> str:
    return logical(short, "Queue")


def dlq_id(short: str) -> str:
    return logical(short, "DeadLetterQueue")


def table(model) -> dict:
    """A DynamoDB table from the PynamoDB model's own schema (the data `create_table` sends)."""
    schema = model._get_schema()
    definitions = {d["AttributeName"]: d["AttributeType"] for d in schema["attribute_definitions"]}
    props: dict = {
        "TableName": model.Meta.table_name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [{"AttributeName": n, "AttributeType": t} for n, t in sorted(definitions.items())],
        "KeySchema": _keys(schema["key_schema"]),
        "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
        "SSESpecification": {"SSEEnabled": True},
    }
    gsis = [_index(i) for i in schema["global_secondary_indexes"]]
    if gsis:
        props["GlobalSecondaryIndexes"] = gsis
    lsis = [_index(i) for i in schema["local_secondary_indexes"]]
    if lsis:
        props["LocalSecondaryIndexes"] = lsis
    ttl = [name for name, attr in model.get_attributes().items() if isinstance(attr, TTLAttribute)]
    if ttl:
        props["TimeToLiveSpecification"] = {"AttributeName": model.get_attributes()[ttl[0]].attr_name, "Enabled": True}
    return {"Type": "AWS::DynamoDB::Table", **RETAIN, "Properties": props}


def _keys(key_schema: list[dict]) -> list[dict]:
    # PynamoDB lists index keys in attribute order; CloudFormation wants HASH first
    ordered = sorted(key_schema, key=lambda k: k["KeyType"] != "HASH")
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in ordered]


def _index(index: dict) -> dict:
    projection = {"ProjectionType": index["projection"]["ProjectionType"]}
    if index["projection"].get("NonKeyAttributes"):
        projection["NonKeyAttributes"] = index["projection"]["NonKeyAttributes"]
    return {"IndexName": index["index_name"], "KeySchema": _keys(index["key_schema"]), "Projection": projection}


def queues() -> dict:
    out = {}
    for q in STACK.queues:
        out[dlq_id(q.short)] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": q.dlq_name, "MessageRetentionPeriod": 14 * 24 * 3600, "SqsManagedSseEnabled": True}}
        out[queue_id(q.short)] = {"Type": "AWS::SQS::Queue", "Properties": {
            "QueueName": q.name, "VisibilityTimeout": q.visibility_timeout, "SqsManagedSseEnabled": True,
            "RedrivePolicy": {"deadLetterTargetArn": arn(dlq_id(q.short)), "maxReceiveCount": q.max_receive_count},
        }}
    return out


def bucket_name() -> dict:
    """S3 names are global: the account and region make the installation's bucket name unique."""
    return sub(f"{config.resource_name('artifacts')}-${{AWS::AccountId}}-${{AWS::Region}}")


def artifacts() -> dict:
    return {
        "ArtifactsBucket": {"Type": "AWS::S3::Bucket", **RETAIN, "Properties": {
            "BucketName": bucket_name(),
            "BucketEncryption": {"ServerSideEncryptionConfiguration": [
                {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}, "BucketKeyEnabled": True}]},
            "PublicAccessBlockConfiguration": {"BlockPublicAcls": True, "BlockPublicPolicy": True,
                                               "IgnorePublicAcls": True, "RestrictPublicBuckets": True},
            "OwnershipControls": {"Rules": [{"ObjectOwnership": "BucketOwnerEnforced"}]},
            "LifecycleConfiguration": {"Rules": [
                {"Id": "expire-job-output", "Status": "Enabled", "Prefix": JOB_ARCHIVE_PREFIX,
                 "ExpirationInDays": ref("KeepDays")},
                {"Id": "abort-incomplete-uploads", "Status": "Enabled",
                 "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 1}},
            ]},
        }},
        "ArtifactsBucketPolicy": {"Type": "AWS::S3::BucketPolicy", "Properties": {
            "Bucket": ref("ArtifactsBucket"),
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "TLSOnly", "Effect": "Deny", "Principal": "*", "Action": "s3:*",
                "Resource": [arn("ArtifactsBucket"), sub("${ArtifactsBucket.Arn}/*")],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}}},
                # the console's CloudFront distribution may read `console/*` only (infra.console)
                console.bucket_read_statement()]},
        }},
    }


def key() -> dict:
    """The secrets key. Its policy only delegates to IAM (administration + use by the account's
    IAM policies); which principal may encrypt or decrypt is decided by the roles in `infra.iam`."""
    root = sub("arn:${AWS::Partition}:iam::${AWS::AccountId}:root")
    admin = ["kms:CancelKeyDeletion", "kms:Create*", "kms:Delete*", "kms:Describe*", "kms:Disable*", "kms:Enable*",
             "kms:Get*", "kms:List*", "kms:Put*", "kms:Revoke*", "kms:ScheduleKeyDeletion", "kms:TagResource",
             "kms:UntagResource", "kms:Update*"]
    use = ["kms:Decrypt", "kms:DescribeKey", "kms:Encrypt", "kms:GenerateDataKey*", "kms:ReEncrypt*"]
    return {
        "SecretsKey": {"Type": "AWS::KMS::Key", **RETAIN, "Properties": {
            "Description": f"{STACK.kms_alias}: credential and channel secrets of OpsGrat",
            "EnableKeyRotation": True,
            "KeyPolicy": {"Version": "2012-10-17", "Statement": [
                {"Sid": "AccountAdministers", "Effect": "Allow", "Principal": {"AWS": root}, "Action": admin,
                 "Resource": "*"},
                {"Sid": "IamPoliciesGrantUse", "Effect": "Allow", "Principal": {"AWS": root}, "Action": use,
                 "Resource": "*"},
            ]},
        }},
        "SecretsKeyAlias": {"Type": "AWS::KMS::Alias", "Properties": {
            "AliasName": STACK.kms_alias, "TargetKeyId": ref("SecretsKey")}},
    }


def runner_log_group_name() -> str:
    """The runner container's own stdout/stderr (job output goes to `STACK.log_group`)."""
    return f"/{config.prefix()}/runner"


def log_groups() -> dict:
    return {
        "JobLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": STACK.log_group, "RetentionInDays": ref("LogRetentionDays")}},
        "RunnerLogGroup": {"Type": "AWS::Logs::LogGroup", "Properties": {
            "LogGroupName": runner_log_group_name(), "RetentionInDays": ref("LogRetentionDays")}},
    }


def schedule_group() -> dict:
    """The group `chalicelib.services.schedules.mirror` creates each schedule's EventBridge
    schedules in, so that the API and launch roles can be scoped to it (`infra.iam`).

    Not retained: its schedules are a mirror of the schedule records (which the Retained tables
    keep), and once the stack is gone they would only fire into a deleted launch queue.
    """
    return {"ScheduleGroup": {"Type": "AWS::Scheduler::ScheduleGroup", "Properties": {"Name": STACK.schedule_group}}}


#: logical ids of the job events' bus, its rule and what lets the rule send to the notify queue
EVENT_BUS = "EventBus"
JOB_EVENTS_RULE = "JobEventsRule"


def event_bus() -> dict:
    """The bus the code that moves jobs puts their state events on (`STACK.event_bus`).

    Not retained: it holds no data (an event lives only until its rule delivers it), and the
    roles that may put events on it are scoped to its ARN (`infra.iam`).
    """
    return {EVENT_BUS: {"Type": "AWS::Events::EventBus", "Properties": {"Name": STACK.event_bus}}}


def job_events_rule() -> dict:
    """The bus's rule that sends job state events (`STACK.job_event_pattern()`) to the notify queue.

    What EventBridge cannot deliver goes to the notify queue's dead-letter queue, the one its
    consumer's failures end up in too: a redrive to the notify queue handles both the same way.
    The rule names its bus by `GetAtt Name` (moto's CloudFormation resolves a bus's `Ref` to no
    name, so the deploy test could not create the rule).
    """
    notify = STACK.NOTIFY_QUEUE
    return {JOB_EVENTS_RULE: {"Type": "AWS::Events::Rule", "Properties": {
        "Name": STACK.job_events_rule,
        "Description": "OpsGrat job state changes -> the notify queue",
        "EventBusName": {"Fn::GetAtt": [EVENT_BUS, "Name"]},
        "EventPattern": STACK.job_event_pattern(),
        "State": "ENABLED",
        "Targets": [{"Id": STACK.JOB_EVENTS_TARGET, "Arn": arn(queue_id(notify)),
                     "DeadLetterConfig": {"Arn": arn(dlq_id(notify))}}],
    }}}


def queue_policy_id(queue_logical_id: str) -> str:
    return queue_logical_id + "Policy"


def notify_queue_policies() -> dict:
    """EventBridge delivers to SQS with the queue's resource policy, not a role: the notify queue
    (the rule's target) and its DLQ (the target's DeadLetterConfig) admit `events.amazonaws.com`,
    and only on behalf of the job events rule (`aws:SourceArn`), so no other rule, bus or account
    can put messages on them."""
    out = {}
    for queue in (queue_id(STACK.NOTIFY_QUEUE), dlq_id(STACK.NOTIFY_QUEUE)):
        out[queue_policy_id(queue)] = {"Type": "AWS::SQS::QueuePolicy", "Properties": {
            "Queues": [ref(queue)],
            "PolicyDocument": {"Version": "2012-10-17", "Statement": [{
                "Sid": "JobEventsRuleSends", "Effect": "Allow", "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sqs:SendMessage", "Resource": arn(queue),
                "Condition": {"ArnEquals": {"aws:SourceArn": arn(JOB_EVENTS_RULE)}}}]},
        }}
    return out


def job_events() -> dict:
    return {**event_bus(), **job_events_rule(), **notify_queue_policies()}


def resources() -> dict:
    out = {table_id(model): table(model) for model in STACK.tables}
    for part in (queues(), artifacts(), key(), log_groups(), schedule_group(), job_events()):
        out.update(part)
    return out

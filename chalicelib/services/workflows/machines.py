"""One Step Functions state machine per workflow template, deployed when its graph changes.

The template record remembers what it deployed (`state_machine`: name, ARN, digest of the graph
it was compiled from), so an edit that leaves the compiled shape alone (a node moved on the
canvas, its options changed) deploys nothing. A running execution keeps the definition it
started with, and its job keeps the graph it started with (its snapshot), so an edit during a
run changes neither. A relaunch of an older snapshot whose shape the template no longer has
gets a machine of its own, named after the digest, deleted with the template.
"""
from __future__ import annotations

import functools
import json
import re
import time

from aws_lambda_powertools import Logger

from chalicelib import aws, config
from chalicelib.services import store
from chalicelib.services.errors import Conflict
from chalicelib.services.resources import get
from chalicelib.services.workflows.compiler import compile_graph, count_states
from chalicelib.services.workflows.graph import Graph

logger = Logger(service="opsgrat-workflow")

#: Step Functions' limit on a state machine's name
MAX_NAME = 80
LOCAL_STATES_ROLE = "arn:aws:iam::123456789012:role/opsgrat-local-states"


@functools.cache
def _queue_url(name: str) -> str:
    return aws.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def queue_url() -> str:
    from chalicelib.stack import STACK

    return _queue_url(STACK.queue("workflow").name)


def machine_prefix() -> str:
    """Every workflow machine's name starts with this (the IAM policies name `<prefix>-wf-*`)."""
    return config.resource_name("wf")


def machine_name(template: dict, digest: str = "") -> str:
    """`<prefix>-wf-<id>-<template name>`: the AWS console lists the user's workflows by name."""
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", str(template.get("name") or "")).strip("-")
    head = f"{machine_prefix()}-{template['id']}"
    if digest:
        head += f"-{digest[:12]}"
    return f"{head}-{slug}"[:MAX_NAME].rstrip("-") if slug else head


def load_graph(template_id: int) -> Graph:
    """The template's graph as stored now: two index queries."""
    from chalicelib.services.catalog.workflow import graph_records  # the declarations import this module

    return Graph.from_records(*graph_records(template_id))


def definition(template: dict, graph: Graph) -> dict:
    return compile_graph(graph, queue_url(), comment=f"OpsGrat workflow {template['id']}: {template.get('name', '')}")


def _role_arn() -> str:
    return config.env("OPSGRAT_STATES_ROLE_ARN") or LOCAL_STATES_ROLE


def _deploy(name: str, arn: str | None, body: dict) -> str:
    sfn = aws.client("stepfunctions")
    text = json.dumps(body, ensure_ascii=False)
    if arn:
        try:
            sfn.update_state_machine(stateMachineArn=arn, definition=text)
            return arn
        except sfn.exceptions.StateMachineDoesNotExist:
            pass
    try:
        return sfn.create_state_machine(name=name, definition=text, roleArn=_role_arn())["stateMachineArn"]
    except sfn.exceptions.StateMachineAlreadyExists:
        existing = _arn_of(name)
        sfn.update_state_machine(stateMachineArn=existing, definition=text)
        return existing


def _arn_of(name: str) -> str:
    account_region = aws.client("sts").get_caller_identity()["Account"], config.region()
    return f"arn:aws:states:{account_region[1]}:{account_region[0]}:stateMachine:{name}"


def _save(template_id: int, change) -> dict | None:
    """Apply `change(record)` to the template with optimistic locking (the API may edit it meanwhile)."""
    for attempt in range(10):
        rec = store.get("template", template_id)
        if rec is None:
            return None
        new = dict(rec)
        change(new)
        try:
            return store.update(get("template"), rec, new)
        except Conflict:
            time.sleep(0.005 * (attempt + 1))
    raise Conflict(f"template {template_id} is being changed by too many writers")


def deploy(template: dict, graph: Graph | None = None) -> dict:
    """Make the template's machine match its graph; returns {name, arn, digest}."""
    graph = graph if graph is not None else load_graph(template["id"])
    digest = graph.digest()
    current = template.get("state_machine") or {}
    name = machine_name(template)
    if current.get("digest") == digest and current.get("name") == name and current.get("arn"):
        return current
    arn = _deploy(name, current.get("arn") if current.get("name") == name else None, definition(template, graph))
    if current.get("arn") and current.get("name") != name:  # renamed: the old name goes
        _delete(current["arn"])
    deployed = {"name": name, "arn": arn, "digest": digest}
    _save(template["id"], lambda rec: rec.update(state_machine=deployed))
    return deployed


def graph_changed(template_id: int) -> None:
    """The template's nodes or lines (or its name) changed: redeploy when the compiled shape moved.

    Best effort: the edit is stored already, and a launch deploys what it runs anyway
    (`machine_for`), so a failed deploy (throttling, say) only costs the next launch the time."""
    template = store.get("template", template_id)
    if template is None or template.get("template_type") != "workflow":
        return
    try:
        deploy(template)
    except Exception:  # noqa: BLE001 - see above
        logger.exception("workflow machine not deployed", extra={"template": template_id})


def machine_for(template: dict, graph: Graph, current: bool) -> str:
    """The ARN of a machine compiled from `graph` for this template: its own machine when `graph`
    is the template's graph as stored now (`current`) or as last deployed, else a machine of
    that snapshot's own (a relaunch of a run from before an edit)."""
    if current:
        return deploy(template, graph)["arn"]
    digest = graph.digest()
    deployed = template.get("state_machine") or {}
    if deployed.get("digest") == digest and deployed.get("name") == machine_name(template):
        return deployed["arn"]
    name = machine_name(template, digest)
    arn = _deploy(name, None, definition(template, graph))
    if arn not in (template.get("snapshot_machines") or []):
        _save(template["id"], lambda rec: rec.update(snapshot_machines=[*(rec.get("snapshot_machines") or []), arn]))
    return arn


def _delete(arn: str) -> None:
    try:
        aws.client("stepfunctions").delete_state_machine(stateMachineArn=arn)
    except Exception:  # noqa: BLE001 - already gone
        pass


def template_deleted(template: dict) -> None:
    """Remove every machine deployed for a deleted workflow template."""
    for arn in [(template.get("state_machine") or {}).get("arn"), *(template.get("snapshot_machines") or [])]:
        if arn:
            _delete(arn)


def describe(template: dict, graph: Graph) -> dict:
    """The template's graph as compiled: what `GET /api/template/template/{id}/workflow/` shows."""
    body = definition(template, graph)
    deployed = template.get("state_machine") or {}
    return {"name": deployed.get("name") or machine_name(template), "arn": deployed.get("arn"),
            "digest": graph.digest(), "deployed": deployed.get("digest") == graph.digest(),
            "states": count_states(body), "definition": body}

"""Tiny CloudFormation helpers: intrinsic functions, ARNs and logical ids, spelled once."""
from __future__ import annotations

import re
from typing import Any


def ref(name: str) -> dict:
    return {"Ref": name}


def arn(name: str) -> dict:
    return {"Fn::GetAtt": [name, "Arn"]}


def sub(text: str, variables: dict | None = None) -> dict:
    return {"Fn::Sub": [text, variables] if variables else text}


def logical(short: str, suffix: str = "") -> str:
    """`run-job` + `StateMachine` -> `RunJobStateMachine` (CloudFormation logical ids are alphanumeric)."""
    return "".join(part[:1].upper() + part[1:] for part in re.split(r"[^A-Za-z0-9]+", short) if part) + suffix


def service_arn(service: str, resource: str) -> dict:
    """An ARN in this stack's partition, region and account, e.g. `service_arn("logs", "log-group:/x:*")`."""
    return sub(f"arn:${{AWS::Partition}}:{service}:${{AWS::Region}}:${{AWS::AccountId}}:{resource}")


def statement(actions: list[str], resources: list[Any], sid: str = "", **condition: Any) -> dict:
    out: dict[str, Any] = {"Effect": "Allow", "Action": sorted(actions), "Resource": resources}
    if sid:
        out["Sid"] = sid
    if condition:
        out["Condition"] = condition
    return out


def assume_role(service: str, **condition: Any) -> dict:
    stmt: dict[str, Any] = {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        stmt["Condition"] = condition
    return {"Version": "2012-10-17", "Statement": [stmt]}

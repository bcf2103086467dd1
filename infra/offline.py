"""Checks of the packaged template that need no AWS account: SAM → plain CloudFormation, and a
copy that moto's CloudFormation can create (resource types moto does not implement are removed,
and references to them replaced by inert strings, so the rest still deploys for real)."""
from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from typing import Any


def translate(sam_template: dict, code_uri: str) -> dict:
    """Expand the `AWS::Serverless-2016-10-31` transform locally, as CloudFormation would.

    `code_uri` (an `s3://bucket/key`) replaces Chalice's local `./deployment.zip`, which is what
    `aws cloudformation package` does before a real deploy. Needs AWS_DEFAULT_REGION.
    """
    from samtranslator.translator.transform import transform

    template = copy.deepcopy(sam_template)
    for resource in template["Resources"].values():
        if resource["Type"] == "AWS::Serverless::Function":
            resource["Properties"]["CodeUri"] = code_uri

    class NoManagedPolicies:
        """The template names no AWS managed policies, so there is nothing to look up in IAM."""

        def load(self) -> dict:
            return {}

    return transform(template, {}, NoManagedPolicies())


def strip_unsupported(template: dict, supported: Callable[[str], bool]) -> tuple[dict, dict[str, str]]:
    """A copy without the resources whose type is not `supported`; returns it and {logical id: type}."""
    out = copy.deepcopy(template)
    stripped = {name: r["Type"] for name, r in out["Resources"].items() if not supported(r["Type"])}
    for name in stripped:
        del out["Resources"][name]
    for resource in out["Resources"].values():
        depends = resource.get("DependsOn")
        if depends:
            depends = [depends] if isinstance(depends, str) else depends
            resource["DependsOn"] = [d for d in depends if d not in stripped]
            if not resource["DependsOn"]:
                del resource["DependsOn"]
    out["Outputs"] = {k: v for k, v in out.get("Outputs", {}).items() if not _mentions(v, stripped)}
    return _replace_refs(out, set(stripped)), stripped


def _mentions(value: Any, names) -> bool:
    text = json.dumps(value)
    return any(f'"{n}"' in text or "${" + n in text for n in names)


def _replace_refs(value: Any, stripped: set[str]) -> Any:
    if isinstance(value, dict):
        if set(value) == {"Ref"} and value["Ref"] in stripped:
            return f"stripped-{value['Ref']}"
        if set(value) == {"Fn::GetAtt"} and value["Fn::GetAtt"][0] in stripped:
            return f"arn:aws:iam::123456789012:role/stripped-{value['Fn::GetAtt'][0]}"
        if set(value) == {"Fn::Sub"}:
            return {"Fn::Sub": _replace_sub(value["Fn::Sub"], stripped)}
        return {k: _replace_refs(v, stripped) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_refs(v, stripped) for v in value]
    return value


def _replace_sub(body: Any, stripped: set[str]) -> Any:
    def fix(text: str) -> str:
        return re.sub(r"\$\{([A-Za-z0-9]+)(\.[A-Za-z0-9.]+)?\}",
                      lambda m: f"stripped-{m.group(1)}" if m.group(1) in stripped else m.group(0), text)

    if isinstance(body, str):
        return fix(body)
    return [fix(body[0]), _replace_refs(body[1], stripped)]


#: types moto's CloudFormation knows but cannot create from this template, and why
MOTO_GAPS = {
    "AWS::ApiGateway::Deployment": "moto ignores the RestApi's swagger Body, so the deployment finds no methods",
}


def moto_supports(resource_type: str) -> bool:
    from moto.cloudformation.parsing import resource_class_from_type

    return resource_type not in MOTO_GAPS and resource_class_from_type(resource_type) is not None


def moto_compat(template: dict) -> list[str]:
    """Fill in what moto needs but AWS derives itself; returns a note per change (for the report).

    * `AWS::ApiGateway::RestApi` from a SAM `DefinitionBody` has no `Name` (AWS takes the
      swagger `info.title`); moto requires it.
    """
    notes = []
    for name, resource in template["Resources"].items():
        props = resource.setdefault("Properties", {})
        if resource["Type"] == "AWS::ApiGateway::RestApi" and "Name" not in props:
            props["Name"] = props.get("Body", {}).get("info", {}).get("title", name)
            notes.append(f"{name}: Name set from the swagger title")
    return notes

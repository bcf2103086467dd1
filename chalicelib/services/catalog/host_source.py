"""Host sources (spec §3.14): where an inventory's dynamic hosts and groups come from.

Types: `script` (an inventory script printing Ansible dynamic-inventory JSON), `restapi` (an HTTP
endpoint returning that JSON or a JSON host list), `file` (an inventory file inside a project's
checkout) and `aws_ec2` (EC2 instances in some regions, read with an `aws` credential). The
declaration only checks that each type has what it needs; fetching and merging live in
`chalicelib.services.host_sources`, and `state`/`last_sync_*` are recorded by a sync.
"""
from __future__ import annotations

import posixpath
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from chalicelib.services import store
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Int, JsonValue, Label, Ref, Str, Text, Yaml
from chalicelib.services.resources import Access, Resource, register

SOURCE_TYPES = {"script": "Custom script", "restapi": "Rest Api", "file": "Project file", "aws_ec2": "Amazon EC2"}
METHODS = ("get", "post")
STATES = {"": "Never synced", "successful": "Successful", "failed": "Failed"}
#: e.g. us-east-1, eu-central-2, us-gov-west-1, ap-southeast-3
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d")

#: fields each type uses; others must stay empty so that a record says what it does
TYPE_FIELDS = {
    "script": {"source_script"},
    "restapi": {"url", "method", "header", "params"},
    "file": {"project", "host_file"},
    "aws_ec2": {"regions", "credential"},
}
TYPED_FIELDS = sorted(set().union(*TYPE_FIELDS.values()))


@dataclass
class LowerStr(Str):
    """The spec's examples use lower-case methods ("post"); GET/POST are accepted and lowered."""

    def parse(self, value: Any) -> Any:
        return super().parse(value.strip().lower() if isinstance(value, str) else value)


def region_list(text: str) -> list[str]:
    return [r.strip() for r in re.split(r"[,\s]+", text or "") if r.strip()]


def _require(data: dict, name: str, kind: str) -> None:
    if data.get(name) in (None, ""):
        raise ValidationError(name, f"required for {kind} host sources")


def _validate(change) -> None:
    data = change.data
    kind = data["source_type"]
    type_changed = change.existing is not None and change.existing.get("source_type") != kind
    for name in TYPED_FIELDS:
        if name in TYPE_FIELDS[kind]:
            continue
        if name in change.changed and data.get(name) not in (None, ""):
            raise ValidationError(name, f"not used by {kind} host sources")
        if type_changed:
            data[name] = None if name in ("project", "credential") else ""
    if kind == "script":
        _require(data, "source_script", kind)
        if not data["source_script"].startswith("#!"):
            raise ValidationError("source_script", 'an inventory script starts with an interpreter line such as "#!/bin/sh"')
    elif kind == "restapi":
        _require(data, "url", kind)
        try:
            parts = urlsplit(data["url"])
        except ValueError as exc:  # e.g. an unclosed "[" of an IPv6 host
            raise ValidationError("url", f"not a valid URL: {exc}") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValidationError("url", "expected an http:// or https:// URL")
        if parts.password:
            raise ValidationError("url", "do not put a password in the URL; send it in a header")
        data["method"] = data.get("method") or "get"
    elif kind == "file":
        _require(data, "project", kind)
        _require(data, "host_file", kind)
        path = data["host_file"].replace("\\", "/")
        if path.startswith("/") or ".." in posixpath.normpath(path).split("/"):
            raise ValidationError("host_file", "must be a relative path inside the project")
        data["host_file"] = posixpath.normpath(path)
    elif kind == "aws_ec2":
        _require(data, "credential", kind)
        cred = store.get("credential", data["credential"])
        if cred is None or cred.get("type") != "aws":
            raise ValidationError("credential", f"must be an aws credential, not {cred.get('type') if cred else 'missing'}")
        regions = region_list(data.get("regions", ""))
        if not regions:
            raise ValidationError("regions", "give at least one region, e.g. us-east-1")
        for region in regions:
            if not _REGION.fullmatch(region):
                raise ValidationError("regions", f'"{region}" is not an AWS region name')
        data["regions"] = ",".join(regions)


HOST_SOURCES = register(Resource(
    family="host_source", path="/api/project/host/source", title="Host sources",
    description="Dynamic sources of an inventory's hosts and groups: script, restapi, file (in a project) or "
                "aws_ec2. A sync creates, updates and removes only the hosts and groups the source owns "
                "(their host_source field); deleting the source removes them.",
    access=Access.parent("inventory", "inventory"),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Name."),
        Str("description", max_length=1024, description="Description."),
        Ref("inventory", family="inventory", required=True, on_delete="cascade", aliases=("inventory_id",),
            description="The inventory this source fills."),
        Str("source_type", required=True, blank=False, choices=tuple(SOURCE_TYPES),
            description="script, restapi, file or aws_ec2."),
        Ref("project", family="project", needs="execute", aliases=("project_id",),
            description="file: the project whose checkout holds host_file; needs execute (use) on it."),
        Str("host_file", max_length=1024, description="file: inventory file path relative to the project root."),
        Str("url", max_length=2048, description="restapi: http(s) URL returning inventory JSON or a JSON host list."),
        LowerStr("method", choices=METHODS, description="restapi: HTTP method (get or post; default get)."),
        Yaml("header", secret=True, description="restapi: request headers as a YAML/JSON mapping. Write-only "
                                                "(headers carry tokens): shown as \"$encrypted$\"."),
        Yaml("params", description="restapi: parameters as a YAML/JSON mapping (query string for get, JSON body for post)."),
        Text("source_script", max_length=1_000_000,
             description="script: an executable inventory script (with a #! line) that prints dynamic-inventory JSON for --list."),
        Str("regions", max_length=1024, description="aws_ec2: comma-separated region names."),
        Ref("credential", family="credential", needs="execute", on_delete="protect", aliases=("credential_id",),
            description="aws_ec2: an aws credential; needs execute (use) on it."),
        Str("state", read_only=True, description="Result of the last sync: successful or failed (empty: never)."),
        Int("last_sync_time", read_only=True, default=None, description="End of the last sync (epoch seconds)."),
        JsonValue("last_sync_summary", read_only=True, default=None, kind=dict,
                  description="Counts of hosts and groups created/updated/removed by the last sync, or its error."),
    ],
    labels=[Label("source_type_name", "source_type", choices=SOURCE_TYPES),
            Label("inventory_name", "inventory", family="inventory"),
            Label("state_name", "state", choices=STATES)],
    search=("name", "description"), filters=("inventory", "source_type", "state"), ordering=("name",),
    indexes=("inventory", "credential"), validate=_validate,
))

"""The installation's resource families, read from its OpenAPI document.

Each record schema carries `x-opsgrat` (family, natural key, references, secrets, whether clients
may write it); with the list, item and input schemas that gives every generated command. The
families are cached per URL with the document's ETag and revalidated with If-None-Match, so a
warm start parses a few kilobytes, not the whole document.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from opsgrat_cli.config import cache_dir

DOCUMENT = "/api/openapi.json"
#: list parameters every family has; the others are its filters
_PAGING = {"offset", "limit", "ordering", "search"}


@dataclass
class InputField:
    name: str
    #: JSON Schema type without null: string, integer, number, boolean, array, object, or "" (any)
    kind: str
    required: bool = False
    description: str = ""
    choices: list = field(default_factory=list)
    #: the family this field names a record of (a reference, given as an id or by name)
    ref: str = ""


@dataclass
class Family:
    family: str
    #: the command: the family with "-" for "_" and "."
    command: str
    title: str
    path: str
    item_path: str = ""
    key: list[str] = field(default_factory=list)
    refs: dict[str, str] = field(default_factory=dict)
    secrets: list[str] = field(default_factory=list)
    singleton: bool = False
    read_only: bool = False
    updatable: bool = True
    can_create: bool = False
    can_update: bool = False
    can_delete: bool = False
    searchable: bool = False
    filters: dict[str, str] = field(default_factory=dict)
    inputs: list[InputField] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    description: str = ""

    def item(self, record_id: int | str) -> str:
        return self.item_path.replace("{id}", str(record_id))

    def input(self, name: str) -> InputField | None:
        return next((f for f in self.inputs if f.name == name), None)


def _kind(schema: dict) -> str:
    kinds = schema.get("type", "")
    if isinstance(kinds, list):
        kinds = [k for k in kinds if k != "null"]
        kinds = kinds[0] if len(kinds) == 1 else ""
    return kinds


def _schema_of(ref: dict, schemas: dict) -> dict:
    return schemas.get(ref.get("$ref", "").rsplit("/", 1)[-1], {})


def families_of(doc: dict) -> list[Family]:
    """Every family that has a list route in the document, in the document's order."""
    schemas = doc.get("components", {}).get("schemas", {})
    paths = doc.get("paths", {})
    out: list[Family] = []
    seen: set[str] = set()
    for path, ops in paths.items():
        if "{" in path or "get" not in ops:
            continue
        ok = ops["get"].get("responses", {}).get("200", {})
        page = ok.get("content", {}).get("application/json", {}).get("schema", {})
        items = page.get("properties", {}).get("results", {}).get("items", {})
        record = _schema_of(items, schemas)
        facts = record.get("x-opsgrat")
        if not facts:
            continue
        item_path = path + "{id}/" if path + "{id}/" in paths else ""
        item_ops = paths.get(item_path, {})
        fam = Family(
            family=facts["family"], command=facts["family"].replace("_", "-").replace(".", "-"),
            title=ops["get"].get("summary", "").removeprefix("List "), path=path, item_path=item_path,
            key=list(facts.get("key", [])), refs=dict(facts.get("refs", {})), secrets=list(facts.get("secrets", [])),
            singleton=bool(facts.get("singleton")), read_only=bool(facts.get("read_only")),
            updatable=bool(facts.get("updatable", True)), can_create="post" in ops,
            can_update="patch" in item_ops, can_delete="delete" in item_ops,
            columns=list(record.get("properties", {})), description=record.get("description", ""))
        for param in ops["get"].get("parameters", []):
            if param.get("name") == "search":
                fam.searchable = True
            elif param.get("in") == "query" and param.get("name") not in _PAGING:
                fam.filters[param["name"]] = _kind(param.get("schema", {}))
        if "post" in ops:
            body = ops["post"]["requestBody"]["content"]["application/json"]["schema"]
            schema = _schema_of(body, schemas)
            required = set(schema.get("required", []))
            for name, prop in schema.get("properties", {}).items():
                fam.inputs.append(InputField(name=name, kind=_kind(prop), required=name in required,
                                             description=prop.get("description", ""),
                                             choices=list(prop.get("enum", [])), ref=fam.refs.get(name, "")))
        if fam.family not in seen:  # a family listed twice (templates under run/) keeps its own path
            seen.add(fam.family)
            out.append(fam)
    return out


class Spec:
    """The families by command name and by family name."""

    def __init__(self, families: list[Family], etag: str = ""):
        self.families = families
        self.etag = etag
        self.by_command = {f.command: f for f in families}
        self.by_family = {f.family: f for f in families}

    def family(self, name: str) -> Family:
        """By family (`host_source`) or command (`host-source`) name."""
        found = self.by_family.get(name) or self.by_command.get(name)
        if found is None:
            from opsgrat_cli.errors import CliError

            raise CliError(f"no resource family {name!r}; `opsgrat --help` lists them")
        return found


def _cache_file(url: str) -> Path:
    return cache_dir() / f"spec-{hashlib.sha256(url.encode()).hexdigest()[:16]}.json"


def cached(url: str) -> Spec | None:
    """The families last seen at `url`, without asking the installation (for `--help`)."""
    try:
        data = json.loads(_cache_file(url).read_text())
        return Spec([_family(f) for f in data["families"]], data.get("etag", ""))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _family(data: dict) -> Family:
    data = dict(data)
    data["inputs"] = [InputField(**f) for f in data.get("inputs", [])]
    return Family(**data)


def load(client) -> Spec:
    """The families at the client's URL: the cache when the document's ETag still matches (a
    304), else the document fetched and the cache rewritten."""
    spec = cached(client.url)
    headers = {"If-None-Match": spec.etag} if spec and spec.etag else None
    response = client.send("GET", DOCUMENT, headers=headers)
    if response.status_code == 304 and spec is not None:
        return spec
    doc: Any = response.json()
    spec = Spec(families_of(doc), response.headers.get("ETag", ""))
    _store(client.url, spec)
    return spec


def _store(url: str, spec: Spec) -> None:
    path = _cache_file(url)
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps({"etag": spec.etag, "families": [asdict(f) for f in spec.families]}))
        os.replace(tmp, path)
    except OSError:
        pass  # a cache that cannot be written only costs the next start a download

"""What a source says, as data: `InventoryData`, and the readers of the formats sources print.

Dynamic-inventory JSON (`--list` output, also what `ansible-inventory --list --export` prints),
JSON host lists (what a REST API typically answers), and Ansible's INI and YAML inventory files
(the subset both commonly use, for when Ansible is not installed). Pure functions: nothing here
touches the network, the disk beyond the file it is given, or the tables.
"""
from __future__ import annotations

import ast
import json
import re
import shlex
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from chalicelib.services.errors import ServiceError
from chalicelib.services.fields import load_mapping


class SourceError(ServiceError):
    """A source could not be read (script failed, HTTP error, unparseable output)."""

    status = 400


@dataclass
class GroupData:
    vars: dict = field(default_factory=dict)
    hosts: list[str] = field(default_factory=list)
    children: list[str] = field(default_factory=list)


@dataclass
class InventoryData:
    """What a source says: hostname -> vars, group name -> GroupData (insertion-ordered)."""

    hosts: dict[str, dict] = field(default_factory=dict)
    groups: dict[str, GroupData] = field(default_factory=dict)

    def add_host(self, name: str, variables: dict | None = None) -> None:
        self.hosts.setdefault(name, {}).update(variables or {})

    def group(self, name: str) -> GroupData:
        return self.groups.setdefault(name, GroupData())


def from_dynamic_json(data: Any) -> InventoryData:
    """Ansible dynamic-inventory JSON (`--list` output) or a JSON host list, as InventoryData.

    Host lists: ``["web1", {"hostname": "db1", "groups": ["db"], "vars": {...}}]`` (also accepted
    under a top-level ``"hosts"`` key); `name`/`host` may stand for `hostname`, `variables` for `vars`.
    """
    inv = InventoryData()
    if isinstance(data, dict) and isinstance(data.get("hosts"), list) and not isinstance(data.get("_meta"), dict):
        data = data["hosts"]
    if isinstance(data, list):
        for i, item in enumerate(data):
            if isinstance(item, str):
                inv.add_host(item)
                continue
            if not isinstance(item, dict):
                raise SourceError(f"host list item {i}: expected a name or an object")
            name = item.get("hostname") or item.get("name") or item.get("host")
            if not isinstance(name, str) or not name:
                raise SourceError(f"host list item {i}: no hostname")
            variables = item.get("vars", item.get("variables")) or {}
            if isinstance(variables, str):
                variables = load_mapping(variables, f"host {name} variables")
            if not isinstance(variables, dict):
                raise SourceError(f"host {name}: vars must be an object")
            inv.add_host(name, variables)
            for group in item.get("groups") or []:
                inv.group(str(group)).hosts.append(name)
        return inv
    if not isinstance(data, dict):
        raise SourceError("expected a JSON object (dynamic inventory) or a JSON list of hosts")
    meta = data.get("_meta") if isinstance(data.get("_meta"), dict) else {}
    for name, body in data.items():
        if name == "_meta":
            continue
        if isinstance(body, list):
            body = {"hosts": body}
        if body is None:
            body = {}
        if not isinstance(body, dict):
            raise SourceError(f"group {name}: expected an object or a list of hosts")
        hosts = body.get("hosts") or []
        host_items = hosts.items() if isinstance(hosts, dict) else ((h, None) for h in hosts)
        group = inv.group(name)
        for host, variables in host_items:
            inv.add_host(str(host), variables if isinstance(variables, dict) else None)
            group.hosts.append(str(host))
        children = body.get("children") or []
        group.children.extend(str(c) for c in (children.keys() if isinstance(children, dict) else children))
        if isinstance(body.get("vars"), dict):
            group.vars.update(body["vars"])
    for host, variables in (meta.get("hostvars") or {}).items():
        inv.add_host(str(host), variables if isinstance(variables, dict) else None)
    return inv


def _ini_value(raw: str) -> Any:
    """Values in INI inventories are Python literals when they parse as one, else strings (as Ansible)."""
    try:
        return ast.literal_eval(raw)
    except (ValueError, SyntaxError):
        return raw


def _expand_range(pattern: str) -> list[str]:
    """`web[01:03]` → web01..web03, `db-[a:c]` → db-a..db-c (Ansible host ranges; steps too)."""
    m = re.search(r"\[([0-9a-zA-Z]+):([0-9a-zA-Z]+)(?::(\d+))?\]", pattern)
    if not m:
        return [pattern]
    start, end, step = m.group(1), m.group(2), int(m.group(3) or 1)
    head, tail = pattern[:m.start()], pattern[m.end():]
    if start.isdigit() and end.isdigit():
        width = len(start) if start.startswith("0") else 0
        values = [str(i).zfill(width) for i in range(int(start), int(end) + 1, step)]
    elif len(start) == len(end) == 1:
        values = [chr(c) for c in range(ord(start), ord(end) + 1, step)]
    else:
        raise SourceError(f'invalid host range "{m.group(0)}"')
    return [name for value in values for name in _expand_range(head + value + tail)]


def _split_kv(text: str, where: str) -> dict:
    out = {}
    for token in shlex.split(text, comments=True):
        if "=" not in token:
            raise SourceError(f'{where}: expected key=value, got "{token}"')
        key, value = token.split("=", 1)
        out[key] = _ini_value(value)
    return out


def parse_ini(text: str) -> InventoryData:
    """Ansible's INI inventory format: hosts with key=value vars, [group], [group:vars], [group:children]."""
    inv = InventoryData()
    section, kind = "ungrouped", "hosts"
    for number, line in enumerate(text.splitlines(), 1):
        line = line.strip()
        if not line or line.startswith(("#", ";")):
            continue
        header = re.fullmatch(r"\[([^\]:]+)(?::(vars|children|hosts))?\]", line)
        if header:
            section, kind = header.group(1), header.group(2) or "hosts"
            if section != "all" or kind != "vars":
                inv.group(section)
            continue
        where = f"line {number}"
        if kind == "vars":
            key, sep, value = line.partition("=")
            if not sep:
                raise SourceError(f'{where}: expected key=value in [{section}:vars]')
            if section != "all":
                inv.group(section).vars[key.strip()] = _ini_value(value.strip())
        elif kind == "children":
            inv.group(line)
            inv.group(section).children.append(line)
        else:
            name, _, rest = line.partition(" ")
            variables = _split_kv(rest, where) if rest.strip() else {}
            for host in _expand_range(name):
                inv.add_host(host, variables)
                if section != "ungrouped":
                    inv.group(section).hosts.append(host)
    return inv


def parse_yaml_inventory(data: dict) -> InventoryData:
    """Ansible's YAML inventory format: groups with hosts (mapping), vars and children (nested)."""
    inv = InventoryData()

    def walk(name: str, body: Any) -> None:
        body = body or {}
        if not isinstance(body, dict):
            raise SourceError(f"group {name}: expected a mapping")
        group = inv.group(name) if name != "all" else None
        for host, variables in (body.get("hosts") or {}).items():
            for expanded in _expand_range(str(host)):
                inv.add_host(expanded, variables if isinstance(variables, dict) else None)
                if group is not None:
                    group.hosts.append(expanded)
        if group is not None and isinstance(body.get("vars"), dict):
            group.vars.update(body["vars"])
        for child, child_body in (body.get("children") or {}).items():
            if group is not None:
                group.children.append(str(child))
            walk(str(child), child_body)

    for name, body in data.items():
        walk(str(name), body)
    return inv


def parse_inventory_file(path: Path) -> InventoryData:
    """An INI or YAML inventory file, without Ansible (the subset both formats commonly use)."""
    text = path.read_text(encoding="utf-8")
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        data = None
    if isinstance(data, dict) and all(isinstance(v, dict) or v is None for v in data.values()):
        if "_meta" in data or any(isinstance(v, dict) and isinstance(v.get("hosts"), list) for v in data.values()):
            return from_dynamic_json(data)  # a saved --list JSON
        return parse_yaml_inventory(data)
    return parse_ini(text)


def parse_json(text: str, what: str) -> Any:
    """`text` as JSON, or a SourceError naming `what` printed it and where it stopped being JSON."""
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SourceError(f"{what} did not print JSON: {exc.msg} at line {exc.lineno}") from None

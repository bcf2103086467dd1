"""Host sources: fetch hosts and groups from a source, and merge them into the inventory.

`fetch(source)` reads one source into an `InventoryData` (hosts with their variables, groups with
their variables, hosts and children). `import_source(source_id, data)` merges that into the
source's inventory: it creates, updates and removes only the hosts, groups and links that the
source owns (their `host_source` is this source), and never touches hand-made ones; a name that
is already taken by a hand-made object is reported as skipped. `sync(source_id)` does both and
records the outcome on the source.

Where this runs matters: `script` and `file` sources run code from users (an inventory script,
inventory plugins), so their sync belongs in the runner container, not in the API Lambda. The
script gets a minimal environment: none of the caller's AWS credentials leak into it.
"""
from __future__ import annotations

import ast
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

import yaml

from chalicelib.services import crud, secrets, store
from chalicelib.services.catalog.credential import plaintext
from chalicelib.services.catalog.host_source import HOST_SOURCES, region_list
from chalicelib.services.catalog.inventory import (CHILDREN, GROUPS, HOSTS, MEMBERSHIPS, RESERVED_GROUPS,
                                                   check_group_name, clean_hostname)
from chalicelib.services.errors import NotFound, ServiceError, ValidationError
from chalicelib.services.fields import load_mapping
from chalicelib.services.inventory_render import parse_vars

FETCH_TIMEOUT = 120  # seconds for a script or an HTTP call
MAX_OUTPUT = 64 * 1024 * 1024


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


# ---------------------------------------------------------------- parsing


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
    import shlex

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


# ---------------------------------------------------------------- fetching


def _clean_env() -> dict:
    """The environment of a user's script: nothing of ours (AWS credentials, tokens) leaks into it."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return env


def _run(argv: list[str], what: str, cwd: str | None = None, env: dict | None = None) -> str:
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=FETCH_TIMEOUT, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        raise SourceError(f"{what} did not finish within {FETCH_TIMEOUT} s") from None
    except OSError as exc:
        raise SourceError(f"{what} could not start: {exc.strerror}") from None
    if proc.returncode != 0:
        tail = proc.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise SourceError(f"{what} exited with {proc.returncode}: {' | '.join(tail)[:500]}")
    if len(proc.stdout) > MAX_OUTPUT:
        raise SourceError(f"{what} printed more than {MAX_OUTPUT} bytes")
    return proc.stdout.decode("utf-8", "replace")


def _json(text: str, what: str) -> Any:
    try:
        return json.loads(text)
    except ValueError as exc:
        raise SourceError(f"{what} did not print JSON: {exc.msg} at line {exc.lineno}") from None


def fetch_script(script: str) -> InventoryData:
    """Run an inventory script with `--list` (and `--host <name>` when it gives no `_meta`)."""
    with tempfile.TemporaryDirectory(prefix="opsgrat-src-") as tmp:
        path = Path(tmp) / "inventory_script"
        path.write_text(script.replace("\r\n", "\n"), encoding="utf-8")
        path.chmod(0o700)
        env = _clean_env()
        data = _json(_run([str(path), "--list"], "the inventory script", cwd=tmp, env=env), "the inventory script")
        inv = from_dynamic_json(data)
        if isinstance(data, dict) and "_meta" not in data:
            for host in list(inv.hosts):
                variables = _json(_run([str(path), "--host", host], "the inventory script", cwd=tmp, env=env),
                                  f"the inventory script (--host {host})")
                if isinstance(variables, dict):
                    inv.add_host(host, variables)
        return inv


def fetch_restapi(url: str, method: str = "get", header: str = "", params: str = "") -> InventoryData:
    """Call the URL (params as query string for GET, JSON body for POST) and read its JSON."""
    headers = {str(k): str(v) for k, v in load_mapping(header, "header").items()}
    values = load_mapping(params, "params")
    body = None
    if (method or "get").lower() == "get":
        if values:
            url += ("&" if urllib.parse.urlsplit(url).query else "?") + urllib.parse.urlencode(values, doseq=True)
    else:
        body = json.dumps(values).encode()
        headers.setdefault("Content-Type", "application/json")
    headers.setdefault("Accept", "application/json")
    request = urllib.request.Request(url, data=body, headers=headers, method=(method or "get").upper())
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310 - http(s) only (validated)
            raw = response.read(MAX_OUTPUT + 1)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SourceError(f"{url} could not be read: {getattr(exc, 'reason', exc)}") from None
    if len(raw) > MAX_OUTPUT:
        raise SourceError(f"{url} answered more than {MAX_OUTPUT} bytes")
    return from_dynamic_json(_json(raw.decode("utf-8", "replace"), url))


def ansible_inventory_command() -> str | None:
    """`ansible-inventory` if Ansible is installed here (the runner image; the dev venv)."""
    beside = Path(sys.executable).parent / "ansible-inventory"
    return str(beside) if beside.exists() else shutil.which("ansible-inventory")


def fetch_file(project_dir: str | Path, host_file: str, use_ansible: bool | None = None) -> InventoryData:
    """Read an inventory file of a checked-out project, with `ansible-inventory` when available
    (every format and plugin Ansible knows) and the built-in INI/YAML reader otherwise."""
    root = Path(project_dir).resolve()
    path = (root / host_file).resolve()
    if root != path and root not in path.parents:
        raise SourceError(f"host_file {host_file} is outside the project")
    if not path.exists():
        raise SourceError(f"host_file {host_file} does not exist in the project")
    command = ansible_inventory_command() if use_ansible in (None, True) else None
    if use_ansible and command is None:
        raise SourceError("ansible-inventory is not installed here")
    if command is None:
        if not path.is_file():
            raise SourceError(f"host_file {host_file} is not a file")
        return parse_inventory_file(path)
    with tempfile.TemporaryDirectory(prefix="opsgrat-inv-") as tmp:
        env = {**_clean_env(), "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True", "ANSIBLE_LOCAL_TEMP": tmp, "HOME": tmp}
        out = _run([command, "-i", str(path), "--list", "--export"], "ansible-inventory", cwd=str(root), env=env)
    return from_dynamic_json(_json(out, "ansible-inventory"))


def _tag_group(key: str, value: str) -> str:
    return re.sub(r"[^A-Za-z0-9_]", "_", f"tag_{key}_{value}")


def fetch_aws_ec2(regions: Iterable[str], key_id: str, key_secret: str) -> InventoryData:
    """Running EC2 instances of the regions: hostname = instance id (stable across stop/start, when
    IPs and DNS names change), `ansible_host` = public IP or else private IP, `ec2_*` facts as
    vars; each tag `k=v` becomes group `tag_k_v`."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    inv = InventoryData()
    session = boto3.session.Session(aws_access_key_id=key_id, aws_secret_access_key=key_secret)
    for region in regions:
        try:
            _read_region(session, region, inv)
        except ClientError as exc:
            raise SourceError(f"EC2 {region}: {exc.response.get('Error', {}).get('Code', 'error')}") from None
        except BotoCoreError as exc:
            raise SourceError(f"EC2 {region}: {type(exc).__name__}") from None
    return inv


def _read_region(session, region: str, inv: InventoryData) -> None:
        ec2 = session.client("ec2", region_name=region)
        pages = ec2.get_paginator("describe_instances").paginate(
            Filters=[{"Name": "instance-state-name", "Values": ["running"]}])
        for page in pages:
            for reservation in page.get("Reservations", []):
                for instance in reservation.get("Instances", []):
                    tags = {t["Key"]: t.get("Value", "") for t in instance.get("Tags", [])}
                    name = instance["InstanceId"]
                    inv.add_host(name, {
                        "ansible_host": instance.get("PublicIpAddress") or instance.get("PrivateIpAddress") or "",
                        "ec2_instance_id": name,
                        "ec2_instance_type": instance.get("InstanceType", ""),
                        "ec2_region": region,
                        "ec2_placement": instance.get("Placement", {}).get("AvailabilityZone", ""),
                        "ec2_private_ip_address": instance.get("PrivateIpAddress", ""),
                        "ec2_public_ip_address": instance.get("PublicIpAddress", ""),
                        "ec2_public_dns_name": instance.get("PublicDnsName", ""),
                        "ec2_tags": tags,
                    })
                    for key, value in sorted(tags.items()):
                        inv.group(_tag_group(key, value)).hosts.append(name)


def fetch(source: dict, project_dir: str | Path | None = None) -> InventoryData:
    """Read one host-source record's data. `file` sources need the project's checkout directory."""
    kind = source["source_type"]
    if kind == "script":
        return fetch_script(source["source_script"])
    if kind == "restapi":
        header = secrets.decrypt(source.get("header") or "", HOST_SOURCES.family, "header")
        return fetch_restapi(source["url"], source.get("method") or "get", header, source.get("params") or "")
    if kind == "file":
        if project_dir is None:
            raise SourceError("a file host source needs its project checked out (sync it in the runner)")
        return fetch_file(project_dir, source["host_file"])
    if kind == "aws_ec2":
        cred = store.get("credential", source.get("credential") or 0)
        if cred is None or cred.get("type") != "aws":
            raise SourceError("the source's aws credential no longer exists")
        return fetch_aws_ec2(region_list(source.get("regions", "")), cred.get("key_id", ""), plaintext(cred, "key_secret"))
    raise SourceError(f"unknown source type {kind}")


# ---------------------------------------------------------------- merging


def _yaml_text(variables: dict) -> str:
    return yaml.safe_dump(variables, default_flow_style=False, sort_keys=True) if variables else ""


def _check(data: InventoryData) -> InventoryData:
    """Names usable in an inventory, group links without cycles; all before anything is written."""
    hosts = {}
    for name, variables in data.hosts.items():
        hosts[clean_hostname(name, "hostname")] = variables
    groups = {}
    for name, group in data.groups.items():
        if name in RESERVED_GROUPS:
            continue  # all/ungrouped are implicit; the source's `all` vars are not imported
        check_group_name(name, "group")
        groups[name] = group
    edges = {name: [c for c in g.children if c in groups] for name, g in groups.items()}
    state: dict[str, int] = {}

    def visit(node: str, trail: list[str]) -> None:  # colours: 1 = on the trail, 2 = done
        state[node] = 1
        for child in edges.get(node, ()):
            if state.get(child) == 1:
                cycle = trail[trail.index(child):] + [child] if child in trail else [node, child]
                raise ValidationError("group", f"the source's groups form a cycle: {' → '.join(cycle)}")
            if child not in state:
                visit(child, trail + [child])
        state[node] = 2

    for name in groups:
        if name not in state:
            visit(name, [name])
    return InventoryData(hosts=hosts, groups=groups)


def _tally() -> dict:
    return {"created": 0, "updated": 0, "removed": 0, "unchanged": 0, "skipped": []}


def import_source(source_id: int, data: InventoryData | dict | list) -> dict:
    """Merge `data` into the source's inventory; returns counts per kind of object.

    `data` is an `InventoryData`, or raw dynamic-inventory JSON / a JSON host list (as the
    runner gets from `ansible-inventory --list --export`).

    Owned = `host_source` is this source. Owned hosts/groups missing from `data` are removed (with
    their links); present ones are updated when their variables differ; new names are created as
    owned. A name held by a hand-made object, or another source's, is skipped and reported.
    Membership and child links are managed where both ends are owned by this source.
    """
    source = store.get(HOST_SOURCES.family, int(source_id))
    if source is None:
        raise NotFound(f"No host source with id {source_id}.")
    data = _check(data if isinstance(data, InventoryData) else from_dynamic_json(data))
    inventory_id = source["inventory"]
    summary = {"hosts": _tally(), "groups": _tally(), "memberships": _tally(), "children": _tally()}

    hosts = {h["hostname"]: h for h in store.scan_index(HOSTS, "inventory", inventory_id, ascending=True)}
    groups = {g["name"]: g for g in store.scan_index(GROUPS, "inventory", inventory_id, ascending=True)}
    owned_hosts = _merge(HOSTS, "hostname", hosts, data.hosts, source, inventory_id, summary["hosts"])
    owned_groups = _merge(GROUPS, "name", groups, {n: g.vars for n, g in data.groups.items()}, source,
                          inventory_id, summary["groups"])

    host_ids = {name: rec["id"] for name, rec in owned_hosts.items()}
    group_ids = {name: rec["id"] for name, rec in owned_groups.items()}
    wanted_members = {(group_ids[g], host_ids[h]) for g, body in data.groups.items() if g in group_ids
                      for h in body.hosts if h in host_ids}
    wanted_children = {(group_ids[g], group_ids[c]) for g, body in data.groups.items() if g in group_ids
                       for c in body.children if c in group_ids}
    owned_host_ids, owned_group_ids = set(host_ids.values()), set(group_ids.values())
    _merge_links(MEMBERSHIPS, ("group", "host"), inventory_id, wanted_members,
                 lambda g, h: g in owned_group_ids and h in owned_host_ids, summary["memberships"])
    _merge_links(CHILDREN, ("group", "child"), inventory_id, wanted_children,
                 lambda g, c: g in owned_group_ids and c in owned_group_ids, summary["children"])
    return summary


def _merge(resource, key: str, existing: dict[str, dict], wanted: dict[str, dict], source: dict,
           inventory_id: int, tally: dict) -> dict[str, dict]:
    """Create/update/remove one family's owned records; returns the owned records by name."""
    owned: dict[str, dict] = {}
    for name, variables in wanted.items():
        rec = existing.get(name)
        if rec is None:
            owned[name] = store.create(resource, {key: name, "inventory": inventory_id, "description": "",
                                                  "variables": _yaml_text(variables), "host_source": source["id"],
                                                  **({"status": 1} if resource is HOSTS else {})})
            tally["created"] += 1
        elif rec.get("host_source") != source["id"]:
            tally["skipped"].append(name)  # hand-made, or another source's: not ours to change
        elif parse_vars(rec.get("variables")) != variables:
            owned[name] = store.update(resource, rec, {**rec, "variables": _yaml_text(variables)})
            tally["updated"] += 1
        else:
            owned[name] = rec
            tally["unchanged"] += 1
    for name, rec in existing.items():
        if rec.get("host_source") == source["id"] and name not in wanted:
            crud.remove(None, resource, rec)  # cascades its membership/children rows
            tally["removed"] += 1
    return owned


def _merge_links(resource, ends: tuple[str, str], inventory_id: int, wanted: set[tuple[int, int]],
                 managed, tally: dict) -> None:
    a, b = ends
    present = {}
    for row in store.scan_index(resource, "inventory", inventory_id, ascending=True):
        present[(row[a], row[b])] = row
    for pair in sorted(wanted - set(present)):
        store.create(resource, {a: pair[0], b: pair[1], "inventory": inventory_id})
        tally["created"] += 1
    for pair, row in present.items():
        if pair in wanted:
            tally["unchanged"] += 1
        elif managed(*pair):
            store.delete(resource, row)
            tally["removed"] += 1
    del tally["updated"], tally["skipped"]


def sync(source_id: int, project_dir: str | Path | None = None) -> dict:
    """Fetch and import one source, recording state/last_sync_time/last_sync_summary on it."""
    source = store.get(HOST_SOURCES.family, int(source_id))
    if source is None:
        raise NotFound(f"No host source with id {source_id}.")
    try:
        summary = import_source(source["id"], fetch(source, project_dir))
        state = "successful"
    except (SourceError, ValidationError) as exc:
        summary, state = {"error": exc.detail}, "failed"
    current = store.get(HOST_SOURCES.family, source["id"]) or source
    store.update(HOST_SOURCES, current, {**current, "state": state, "last_sync_time": int(time.time()),
                                         "last_sync_summary": summary})
    if state == "failed":
        raise SourceError(summary["error"])
    return summary

"""Reading one source into an `InventoryData`: one fetcher per source type, and `fetch(source)`.

`script` and `file` sources run users' programs (their inventory script; `ansible-inventory`,
which runs the project's inventory plugins and scripts). They run through the `run_command` hook
(`commands.CommandRunner`, default: a plain subprocess) with a clean environment, and whatever
they need on disk is under `workdir` (the script file; Ansible's HOME and temp files) or the
project checkout. A sandboxing hook therefore exposes these two directories (and, for `file`
sources, the Ansible installation): pass a directory of its own as `workdir` (what is written
there stays), or leave it None for a temporary one that is removed afterwards.
"""
from __future__ import annotations

import contextlib
import json
import re
import shutil
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Iterator
from pathlib import Path

from chalicelib.services import secrets, store
from chalicelib.services.catalog.credential import plaintext
from chalicelib.services.catalog.host_source import HOST_SOURCES, region_list
from chalicelib.services.fields import load_mapping
from chalicelib.services.host_sources import addresses
from chalicelib.services.host_sources.commands import FETCH_TIMEOUT, MAX_OUTPUT, CommandRunner, clean_env, run, run_subprocess
from chalicelib.services.host_sources.parse import InventoryData, SourceError, from_dynamic_json, parse_inventory_file, parse_json

#: the file name of a `script` source's script in the workdir
SCRIPT_NAME = "inventory_script"


@contextlib.contextmanager
def _scratch(workdir: str | Path | None, prefix: str) -> Iterator[Path]:
    """`workdir` when the caller gives one (it stays theirs), else a temporary directory."""
    if workdir is not None:
        yield Path(workdir)
        return
    with tempfile.TemporaryDirectory(prefix=prefix) as tmp:
        yield Path(tmp)


def fetch_script(script: str, *, workdir: str | Path | None = None,
                 run_command: CommandRunner | None = None) -> InventoryData:
    """Run an inventory script with `--list` (and `--host <name>` when it gives no `_meta`).

    The script is written to `<workdir>/inventory_script` and runs there, with a clean environment.
    """
    run_command = run_command or run_subprocess
    with _scratch(workdir, "opsgrat-src-") as tmp:
        path = tmp / SCRIPT_NAME
        path.write_text(script.replace("\r\n", "\n"), encoding="utf-8")
        path.chmod(0o700)
        env = clean_env()

        def call(*args: str) -> str:
            return run(run_command, [str(path), *args], "the inventory script", cwd=str(tmp), env=env)

        data = parse_json(call("--list"), "the inventory script")
        inv = from_dynamic_json(data)
        if isinstance(data, dict) and "_meta" not in data:
            for host in list(inv.hosts):
                variables = parse_json(call("--host", host), f"the inventory script (--host {host})")
                if isinstance(variables, dict):
                    inv.add_host(host, variables)
        return inv


def fetch_restapi(url: str, method: str = "get", header: str = "", params: str = "") -> InventoryData:
    """Call the URL (params as query string for GET, JSON body for POST) and read its JSON.

    Link-local and cloud metadata addresses are refused, after redirects too (`addresses`).
    """
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
        with addresses.opener().open(request, timeout=FETCH_TIMEOUT) as response:  # http(s) only (validated)
            raw = response.read(MAX_OUTPUT + 1)
    except urllib.error.HTTPError as exc:
        raise SourceError(f"{url} answered HTTP {exc.code}") from None
    except (urllib.error.URLError, OSError) as exc:
        raise SourceError(f"{url} could not be read: {getattr(exc, 'reason', exc)}") from None
    if len(raw) > MAX_OUTPUT:
        raise SourceError(f"{url} answered more than {MAX_OUTPUT} bytes")
    return from_dynamic_json(parse_json(raw.decode("utf-8", "replace"), url))


def ansible_inventory_command() -> str | None:
    """`ansible-inventory` if Ansible is installed here (the runner image; the dev venv)."""
    beside = Path(sys.executable).parent / "ansible-inventory"
    return str(beside) if beside.exists() else shutil.which("ansible-inventory")


def fetch_file(project_dir: str | Path, host_file: str, use_ansible: bool | None = None, *,
               workdir: str | Path | None = None, run_command: CommandRunner | None = None) -> InventoryData:
    """Read an inventory file of a checked-out project, with `ansible-inventory` when available
    (every format and plugin Ansible knows) and the built-in INI/YAML reader otherwise.

    `ansible-inventory` runs in the project directory, with its HOME and temp files in `workdir`.
    """
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
    with _scratch(workdir, "opsgrat-inv-") as tmp:
        env = clean_env(ANSIBLE_INVENTORY_UNPARSED_FAILED="True", ANSIBLE_LOCAL_TEMP=str(tmp), HOME=str(tmp))
        out = run(run_command or run_subprocess, [command, "-i", str(path), "--list", "--export"],
                  "ansible-inventory", cwd=str(root), env=env)
    return from_dynamic_json(parse_json(out, "ansible-inventory"))


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


def fetch(source: dict, project_dir: str | Path | None = None, *, workdir: str | Path | None = None,
          run_command: CommandRunner | None = None) -> InventoryData:
    """Read one host-source record's data. `file` sources need the project's checkout directory;
    `workdir` and `run_command` are for the sources that run a user's program (module doc)."""
    kind = source["source_type"]
    if kind == "script":
        return fetch_script(source["source_script"], workdir=workdir, run_command=run_command)
    if kind == "restapi":
        header = secrets.decrypt(source.get("header") or "", HOST_SOURCES.family, "header")
        return fetch_restapi(source["url"], source.get("method") or "get", header, source.get("params") or "")
    if kind == "file":
        if project_dir is None:
            raise SourceError("a file host source needs its project checked out (sync it in the runner)")
        return fetch_file(project_dir, source["host_file"], workdir=workdir, run_command=run_command)
    if kind == "aws_ec2":
        cred = store.get("credential", source.get("credential") or 0)
        if cred is None or cred.get("type") != "aws":
            raise SourceError("the source's aws credential no longer exists")
        return fetch_aws_ec2(region_list(source.get("regions", "")), cred.get("key_id", ""), plaintext(cred, "key_secret"))
    raise SourceError(f"unknown source type {kind}")

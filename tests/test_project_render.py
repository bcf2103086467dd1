"""Inventory rendering (`GET /api/project/inventory/{id}/script/`), checked with the real ansible-inventory."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ANSIBLE_INVENTORY = Path(sys.executable).parent / "ansible-inventory"
INV, HOST, GROUP = "/api/project/inventory/", "/api/project/host/", "/api/project/group/"


def ansible_reads(rendered: dict, tmp_path: Path, export: bool = True) -> dict:
    """What ansible-inventory makes of our JSON served as a dynamic inventory script."""
    data = tmp_path / "rendered.json"
    data.write_text(json.dumps(rendered))
    script = tmp_path / "inventory.sh"
    script.write_text(f"#!/bin/sh\ncat '{data}'\n")
    script.chmod(0o755)
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "ANSIBLE_LOCAL_TEMP": str(tmp_path / "tmp"),
           "ANSIBLE_INVENTORY_UNPARSED_FAILED": "True"}
    argv = [str(ANSIBLE_INVENTORY), "-i", str(script), "--list"] + (["--export"] if export else [])
    out = subprocess.run(argv, capture_output=True, env=env, timeout=120, check=True)
    return json.loads(out.stdout)


def normalized(doc: dict) -> dict:
    """Order-free view: sorted lists, empty groups and empty hostvars dropped (ansible omits them)."""
    hostvars = {h: v for h, v in doc["_meta"]["hostvars"].items() if v}
    groups = {}
    for name, body in doc.items():
        if name == "_meta":
            continue
        body = {k: (sorted(v) if isinstance(v, list) else v) for k, v in body.items() if v}
        if body:
            groups[name] = body
    return {"hostvars": hostvars, "groups": groups}


@pytest.fixture
def sample(api) -> int:
    """all vars; web (vars) ⊃ app; db; an empty group; a dashed name; an ungrouped and a disabled host."""
    inv = api.post(INV, {"name": "prod", "variables": "ntp: pool.ntp.org\nenv: prod"}).data["id"]

    def host(name, **kw):
        return api.post(HOST, {"hostname": name, "inventory": inv, **kw}).data["id"]

    def group(name, **kw):
        return api.post(GROUP, {"name": name, "inventory": inv, **kw}).data["id"]

    web = group("web", variables="http_port: 80\nenv: web")
    app = group("app", variables='{"app_user": "tomcat", "http_port": 8080}')
    db = group("db")
    group("spare")
    tomcat = group("tomcat-servers")
    web1 = host("web1", variables="ansible_host: 10.0.0.1\nlist: [1, 2]")
    web2 = host("web2")
    db1 = host("db1", variables="env: db-host")
    host("loner")
    off = host("off", status=0, variables="secret_thing: 1")
    api.post("/api/project/group/children/", {"group": web, "child": app})
    for g, h in ((web, web1), (web, web2), (app, web2), (db, db1), (tomcat, web1), (web, off)):
        assert api.post("/api/project/hosts/", {"group": g, "host": h}).status_code == 201
    return inv


def test_script_endpoint_renders_the_ansible_list_format(api, sample):
    r = api.get(f"{INV}{sample}/script/")
    assert r.status_code == 200, r.body
    doc = r.data
    assert doc["all"]["vars"] == {"ntp": "pool.ntp.org", "env": "prod"}
    assert sorted(doc["all"]["children"]) == ["db", "spare", "tomcat-servers", "ungrouped", "web"]
    assert doc["web"] == {"vars": {"http_port": 80, "env": "web"}, "children": ["app"], "hosts": ["web1", "web2"]}
    assert doc["app"] == {"vars": {"app_user": "tomcat", "http_port": 8080}, "hosts": ["web2"]}
    assert doc["spare"] == {"hosts": []}
    assert doc["ungrouped"] == {"hosts": ["loner"]}
    assert doc["_meta"]["hostvars"]["web1"] == {"ansible_host": "10.0.0.1", "list": [1, 2]}


def test_disabled_hosts_are_left_out(api, sample):
    doc = api.get(f"{INV}{sample}/script/").data
    assert "off" not in doc["_meta"]["hostvars"]
    assert "off" not in json.dumps({k: v for k, v in doc.items() if k != "_meta"})


def test_rendered_inventory_equals_what_ansible_inventory_reads(api, sample, tmp_path):
    ours = api.get(f"{INV}{sample}/script/").data
    theirs = ansible_reads(ours, tmp_path)
    assert normalized(theirs) == normalized(ours)


def test_ansible_applies_group_and_inventory_variables_as_expected(api, sample, tmp_path):
    resolved = ansible_reads(api.get(f"{INV}{sample}/script/").data, tmp_path, export=False)["_meta"]["hostvars"]
    # child group beats parent, host beats groups, groups beat all
    assert resolved["web2"] == {"ntp": "pool.ntp.org", "env": "web", "http_port": 8080, "app_user": "tomcat"}
    assert resolved["db1"] == {"ntp": "pool.ntp.org", "env": "db-host"}
    assert resolved["loner"] == {"ntp": "pool.ntp.org", "env": "prod"}
    assert set(resolved) == {"web1", "web2", "db1", "loner"}  # "off" is disabled


def test_empty_inventory_renders_as_ansible_reads_it(api, tmp_path):
    inv = api.post(INV, {"name": "empty"}).data["id"]
    ours = api.get(f"{INV}{inv}/script/").data
    assert ours == {"_meta": {"hostvars": {}}, "all": {"children": ["ungrouped"]}}
    assert normalized(ansible_reads(ours, tmp_path)) == normalized(ours)


def test_rendering_reads_pages_not_hosts(api, monkeypatch):
    """DynamoDB calls do not grow with the number of hosts (a few index pages either way)."""
    import botocore.client

    from chalicelib.services import inventory_render, store
    from chalicelib.services.catalog.inventory import GROUPS, HOSTS, MEMBERSHIPS

    def seed(count: int) -> int:
        inv = api.post(INV, {"name": f"n{count}"}).data["id"]
        grp = store.create(GROUPS, {"name": "g", "inventory": inv, "variables": "a: 1"})
        for i in range(count):
            h = store.create(HOSTS, {"hostname": f"h{i}", "inventory": inv, "status": 1, "variables": f"i: {i}"})
            store.create(MEMBERSHIPS, {"group": grp["id"], "host": h["id"], "inventory": inv})
        return inv

    calls: list[str] = []
    original = botocore.client.BaseClient._make_api_call

    def counting(self, operation, params):
        if self.meta.service_model.service_name == "dynamodb":
            calls.append(operation)
        return original(self, operation, params)

    small, large = seed(2), seed(40)
    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counting)
    assert len(inventory_render.render(small)["_meta"]["hostvars"]) == 2
    small_calls = len(calls)
    calls.clear()
    assert len(inventory_render.render(large)["g"]["hosts"]) == 40
    assert len(calls) == small_calls == 5  # GetItem + one Query per family (hosts, groups, children, members)


def test_unknown_inventory_script_is_404(api):
    assert api.get(f"{INV}999/script/").status_code == 404

"""Host sources (`/api/project/host/source/`) and their importer, one test per behaviour and type."""
from __future__ import annotations

import ipaddress
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from chalicelib.services import host_sources
from chalicelib.services.host_sources import addresses
from chalicelib.services.host_sources.fetchers import fetch_file

INV, HOST, GROUP, SOURCES = "/api/project/inventory/", "/api/project/host/", "/api/project/group/", "/api/project/host/source/"


@pytest.fixture
def inv(api) -> int:
    return api.post(INV, {"name": "dynamic"}).data["id"]


def source(api, inv, **fields) -> int:
    r = api.post(SOURCES, {"name": "src", "inventory": inv, **fields})
    assert r.status_code == 201, r.body
    return r.data["id"]


def hosts_of(api, inv) -> dict[str, dict]:
    return {h["hostname"]: h for h in api.get(f"{HOST}?inventory={inv}&limit=200").data["results"]}


def groups_of(api, inv) -> dict[str, dict]:
    return {g["name"]: g for g in api.get(f"{GROUP}?inventory={inv}&limit=200").data["results"]}


def rendered(api, inv) -> dict:
    return api.get(f"{INV}{inv}/script/").data


# ---------------------------------------------------------------- declaration


@pytest.mark.parametrize("fields, field", [
    ({"source_type": "script", "source_script": "echo {}"}, "source_script"),
    ({"source_type": "script"}, "source_script"),
    ({"source_type": "restapi", "url": "ftp://x/y"}, "url"),
    ({"source_type": "restapi", "url": "https://u:pw@x/y"}, "url"),
    ({"source_type": "restapi", "url": "http://x/y", "method": "delete"}, "method"),
    ({"source_type": "restapi", "url": "http://x/y", "header": "a: [1"}, "header"),
    ({"source_type": "file", "host_file": "hosts"}, "project"),
    ({"source_type": "aws_ec2", "regions": "us-east-1"}, "credential"),
    ({"source_type": "script", "source_script": "#!/bin/sh", "url": "http://x/"}, "url"),
    ({"source_type": "cloud"}, "source_type"),
])
def test_each_source_type_requires_its_fields(api, inv, fields, field):
    r = api.post(SOURCES, {"name": "s", "inventory": inv, **fields})
    assert r.status_code == 400, r.body
    assert r.data["detail"].startswith(f"{field}:")


def test_restapi_source_shows_spec_fields_and_lowercases_method(api, inv):
    r = api.post(SOURCES, {"name": "cmdb", "inventory": inv, "source_type": "restapi", "url": "http://cmdb/hosts",
                           "method": "POST", "params": '{"env": "prod"}'})
    assert r.status_code == 201, r.body
    assert r.data["method"] == "post" and r.data["source_type_name"] == "Rest Api"
    assert r.data["inventory_name"] == "dynamic" and r.data["state"] == "" and r.data["project"] is None


def test_file_source_path_must_stay_inside_the_project(api, inv):
    pid = api.post("/api/project/project/", {"name": "p", "repository_url": "file:///srv/repo"}).data["id"]
    for bad in ("../etc/hosts", "/etc/hosts", "a/../../b"):
        r = api.post(SOURCES, {"name": "f", "inventory": inv, "source_type": "file", "project": pid, "host_file": bad})
        assert r.status_code == 400 and r.data["detail"].startswith("host_file:"), bad
    assert api.post(SOURCES, {"name": "f", "inventory": inv, "source_type": "file", "project": pid,
                              "host_file": "inventories/prod/hosts"}).status_code == 201


def test_aws_source_needs_an_aws_credential_and_real_region_names(api, inv):
    ssh = api.post("/api/project/credential/", {"name": "s", "type": "ssh", "user_name": "u"}).data["id"]
    r = api.post(SOURCES, {"name": "e", "inventory": inv, "source_type": "aws_ec2", "credential": ssh, "regions": "us-east-1"})
    assert r.status_code == 400 and r.data["detail"].startswith("credential:")
    key = api.post("/api/project/credential/", {"name": "k", "type": "aws", "key_id": "AKIA1", "key_secret": "s"}).data["id"]
    r = api.post(SOURCES, {"name": "e", "inventory": inv, "source_type": "aws_ec2", "credential": key, "regions": "mars-1"})
    assert r.status_code == 400 and r.data["detail"].startswith("regions:")
    r = api.post(SOURCES, {"name": "e", "inventory": inv, "source_type": "aws_ec2", "credential": key,
                           "regions": "us-east-1, eu-west-1"})
    assert r.status_code == 201 and r.data["regions"] == "us-east-1,eu-west-1"


# ---------------------------------------------------------------- script


def script_source(api, inv, tmp_path: Path, data: dict) -> tuple[int, Path]:
    out = tmp_path / "inventory.json"
    out.write_text(json.dumps(data))
    return source(api, inv, source_type="script", source_script=f"#!/bin/sh\ncat '{out}'\n"), out


def test_script_source_imports_hosts_groups_and_children(api, inv, tmp_path):
    sid, _ = script_source(api, inv, tmp_path, {
        "_meta": {"hostvars": {"web1": {"ansible_host": "10.0.0.1"}, "db1": {}}},
        "web": {"hosts": ["web1"], "vars": {"port": 80}, "children": ["app"]},
        "app": ["web1"], "db": {"hosts": ["db1"]},
    })
    summary = host_sources.sync(sid)
    assert summary["hosts"]["created"] == 2 and summary["groups"]["created"] == 3
    hosts = hosts_of(api, inv)
    assert hosts["web1"]["host_source"] == sid and "ansible_host: 10.0.0.1" in hosts["web1"]["variables"]
    doc = rendered(api, inv)
    assert doc["web"]["hosts"] == ["web1"] and doc["web"]["children"] == ["app"] and doc["web"]["vars"] == {"port": 80}
    assert doc["app"]["hosts"] == ["web1"] and doc["db"]["hosts"] == ["db1"]
    state = api.get(f"{SOURCES}{sid}/").data
    assert state["state"] == "successful" and state["last_sync_time"] and state["last_sync_summary"]["hosts"]["created"] == 2


def test_script_without_meta_is_asked_for_each_host(api, inv, tmp_path):
    script = ("#!/bin/sh\n"
              'if [ "$1" = "--list" ]; then echo \'{"web": ["h1", "h2"]}\'; '
              'else echo "{\\"who\\": \\"$2\\"}"; fi\n')
    sid = source(api, inv, source_type="script", source_script=script)
    host_sources.sync(sid)
    assert rendered(api, inv)["_meta"]["hostvars"] == {"h1": {"who": "h1"}, "h2": {"who": "h2"}}


def test_script_environment_carries_no_aws_credentials(api, inv, tmp_path):
    sid = source(api, inv, source_type="script",
                 source_script='#!/bin/sh\necho "{\\"_meta\\": {\\"hostvars\\": {\\"h\\": {\\"key\\": \\"${AWS_SECRET_ACCESS_KEY:-none}\\"}}}}"\n')
    host_sources.sync(sid)
    assert rendered(api, inv)["_meta"]["hostvars"]["h"] == {"key": "none"}


def test_reimport_updates_changed_hosts_and_removes_vanished_ones(api, inv, tmp_path):
    sid, out = script_source(api, inv, tmp_path, {
        "_meta": {"hostvars": {"a": {"v": 1}, "b": {"v": 1}, "c": {}}}, "grp": ["a", "b"], "old": ["c"]})
    host_sources.sync(sid)
    out.write_text(json.dumps({"_meta": {"hostvars": {"a": {"v": 2}, "b": {"v": 1}}}, "grp": ["a"]}))
    summary = host_sources.sync(sid)
    assert summary["hosts"] == {"created": 0, "updated": 1, "removed": 1, "unchanged": 1, "skipped": []}
    assert summary["groups"]["removed"] == 1
    assert summary["memberships"]["removed"] == 1  # b left grp; c's row went with c
    doc = rendered(api, inv)
    assert set(doc["_meta"]["hostvars"]) == {"a", "b"} and doc["_meta"]["hostvars"]["a"] == {"v": 2}
    assert doc["grp"]["hosts"] == ["a"] and "old" not in doc


def test_hand_made_hosts_and_groups_are_never_touched(api, inv, tmp_path):
    mine = api.post(HOST, {"hostname": "a", "inventory": inv, "variables": "mine: yes"}).data
    keep = api.post(HOST, {"hostname": "keep", "inventory": inv}).data
    grp = api.post(GROUP, {"name": "grp", "inventory": inv, "variables": "x: 1"}).data
    sid, out = script_source(api, inv, tmp_path, {"_meta": {"hostvars": {"a": {"v": 1}, "b": {}}}, "grp": ["a", "b"]})
    summary = host_sources.sync(sid)
    assert summary["hosts"]["skipped"] == ["a"] and summary["groups"]["skipped"] == ["grp"]
    out.write_text(json.dumps({"_meta": {"hostvars": {}}}))
    host_sources.sync(sid)
    hosts = hosts_of(api, inv)
    assert set(hosts) == {"a", "keep"}
    assert hosts["a"] == api.get(f"{HOST}{mine['id']}/").data and hosts["a"]["variables"] == "mine: yes"
    assert hosts["a"]["host_source"] is None and hosts["keep"] == keep
    assert api.get(f"{GROUP}{grp['id']}/").data == grp


def test_a_source_never_takes_over_another_sources_hosts(api, inv, tmp_path):
    first, _ = script_source(api, inv, tmp_path, {"_meta": {"hostvars": {"shared": {"by": "first"}}}})
    other = tmp_path / "other"
    other.mkdir()
    second, _ = script_source(api, inv, other, {"_meta": {"hostvars": {"shared": {"by": "second"}}}})
    host_sources.sync(first)
    assert host_sources.sync(second)["hosts"]["skipped"] == ["shared"]
    assert hosts_of(api, inv)["shared"]["host_source"] == first


def test_deleting_a_source_removes_what_it_imported(api, inv, tmp_path):
    api.post(HOST, {"hostname": "manual", "inventory": inv})
    sid, _ = script_source(api, inv, tmp_path, {"_meta": {"hostvars": {"a": {}}}, "g": ["a"]})
    host_sources.sync(sid)
    assert api.delete(f"{SOURCES}{sid}/").status_code == 204
    assert set(hosts_of(api, inv)) == {"manual"} and groups_of(api, inv) == {}
    assert api.get(f"/api/project/hosts/?inventory={inv}").data["count"] == 0


def test_failing_script_is_recorded_and_changes_nothing(api, inv):
    sid = source(api, inv, source_type="script", source_script="#!/bin/sh\necho boom >&2\nexit 3\n")
    with pytest.raises(host_sources.SourceError, match="exited with 3: boom"):
        host_sources.sync(sid)
    rec = api.get(f"{SOURCES}{sid}/").data
    assert rec["state"] == "failed" and "boom" in rec["last_sync_summary"]["error"]
    assert hosts_of(api, inv) == {}


def test_import_accepts_raw_dynamic_inventory_json(api, inv):
    sid = source(api, inv, source_type="script", source_script="#!/bin/sh\necho {}")
    summary = host_sources.import_source(sid, {"_meta": {"hostvars": {"r1": {"a": 1}}}, "raw": {"hosts": ["r1"]}})
    assert summary["hosts"]["created"] == 1 and rendered(api, inv)["raw"]["hosts"] == ["r1"]


def test_source_output_with_a_group_cycle_is_rejected_before_writing(api, inv, tmp_path):
    sid, _ = script_source(api, inv, tmp_path, {"a": {"children": ["b"], "hosts": ["h"]}, "b": {"children": ["a"]}})
    with pytest.raises(Exception, match="cycle: a → b → a"):
        host_sources.sync(sid)
    assert hosts_of(api, inv) == {}


# ---------------------------------------------------------------- the command-runner hook


def recording_runner(stdout: dict, calls: list) -> host_sources.CommandRunner:
    """A CommandRunner that records each call (and the files it was given) and prints `stdout`."""
    def run(argv: list[str], *, cwd: str, env: dict[str, str], timeout: float) -> host_sources.CommandResult:
        calls.append({"argv": argv, "cwd": cwd, "env": env, "argv0": Path(argv[0]).read_text()})
        return host_sources.CommandResult(0, json.dumps(stdout).encode(), b"")

    return run


def test_script_runs_through_the_given_command_runner_from_the_given_workdir(api, inv, tmp_path):
    calls: list = []
    sid = source(api, inv, source_type="script", source_script="#!/bin/sh\nexit 1\n")
    runner = recording_runner({"_meta": {"hostvars": {"sandboxed": {"v": 1}}}}, calls)
    summary = host_sources.sync(sid, workdir=tmp_path, run_command=runner)
    assert summary["hosts"]["created"] == 1 and rendered(api, inv)["_meta"]["hostvars"] == {"sandboxed": {"v": 1}}
    [call] = calls
    assert call["argv"] == [str(tmp_path / "inventory_script"), "--list"] and call["cwd"] == str(tmp_path)
    assert call["argv0"] == "#!/bin/sh\nexit 1\n"
    assert not [name for name in call["env"] if name.startswith("AWS_")]


def test_ansible_inventory_runs_through_the_given_command_runner(tmp_path):
    project, scratch = tmp_path / "project", tmp_path / "scratch"
    project.mkdir()
    scratch.mkdir()
    (project / "hosts").write_text(INI)
    calls: list = []
    data = fetch_file(project, "hosts", use_ansible=True, workdir=scratch,
                      run_command=recording_runner({"web": {"hosts": ["w1"]}}, calls))
    assert list(data.hosts) == ["w1"]  # what the runner printed, not the file
    [call] = calls
    assert Path(call["argv"][0]).name == "ansible-inventory"
    assert call["argv"][1:] == ["-i", str((project / "hosts").resolve()), "--list", "--export"]
    assert call["cwd"] == str(project.resolve()) and call["env"]["HOME"] == str(scratch)
    assert not [name for name in call["env"] if name.startswith("AWS_")]


def test_a_command_runner_timeout_fails_the_sync(api, inv):
    def never_finishes(argv, *, cwd, env, timeout):
        raise TimeoutError

    sid = source(api, inv, source_type="script", source_script="#!/bin/sh\necho {}\n")
    with pytest.raises(host_sources.SourceError, match="did not finish within 120 s"):
        host_sources.sync(sid, run_command=never_finishes)
    assert api.get(f"{SOURCES}{sid}/").data["state"] == "failed"


# ---------------------------------------------------------------- restapi


@pytest.fixture
def cmdb():
    """A loopback HTTP server answering with `state["body"]` (or a redirect, for the paths in
    `state["redirects"]`) and recording each request."""
    state: dict = {"body": [], "requests": [], "redirects": {}}

    class Handler(BaseHTTPRequestHandler):
        def _answer(self):
            length = int(self.headers.get("Content-Length") or 0)
            state["requests"].append({"method": self.command, "path": self.path, "token": self.headers.get("X-Token"),
                                      "body": self.rfile.read(length).decode() if length else ""})
            if self.path in state["redirects"]:
                self.send_response(302)
                self.send_header("Location", state["redirects"][self.path])
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            payload = json.dumps(state["body"]).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        do_GET = do_POST = _answer

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    state["base"] = f"http://127.0.0.1:{server.server_address[1]}"
    state["url"] = state["base"] + "/hosts"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_restapi_source_imports_a_json_host_list(api, inv, cmdb):
    cmdb["body"] = ["plain1", {"hostname": "app1", "groups": ["app"], "vars": {"ansible_host": "10.1.0.1"}}]
    sid = source(api, inv, source_type="restapi", url=cmdb["url"], method="get",
                 header="X-Token: t0ken", params="env: prod\nrole: app")
    assert api.get(f"{SOURCES}{sid}/").data["header"] == "$encrypted$"  # headers carry tokens
    summary = host_sources.sync(sid)
    assert summary["hosts"]["created"] == 2
    assert cmdb["requests"] == [{"method": "GET", "path": "/hosts?env=prod&role=app", "token": "t0ken", "body": ""}]
    doc = rendered(api, inv)
    assert doc["app"]["hosts"] == ["app1"] and doc["ungrouped"]["hosts"] == ["plain1"]
    assert doc["_meta"]["hostvars"]["app1"] == {"ansible_host": "10.1.0.1"}


def test_restapi_post_sends_params_as_json_and_reimport_merges(api, inv, cmdb):
    cmdb["body"] = {"_meta": {"hostvars": {"x": {"a": 1}, "y": {}}}, "g": {"hosts": ["x", "y"]}}
    sid = source(api, inv, source_type="restapi", url=cmdb["url"], method="post", params='{"env": "prod"}')
    host_sources.sync(sid)
    assert cmdb["requests"][0]["method"] == "POST" and json.loads(cmdb["requests"][0]["body"]) == {"env": "prod"}
    cmdb["body"] = {"_meta": {"hostvars": {"x": {"a": 2}}}, "g": {"hosts": ["x"]}}
    summary = host_sources.sync(sid)
    assert summary["hosts"]["updated"] == 1 and summary["hosts"]["removed"] == 1
    assert rendered(api, inv)["g"]["hosts"] == ["x"]


def test_restapi_error_status_fails_the_sync(api, inv):
    sid = source(api, inv, source_type="restapi", url="http://127.0.0.1:9/none")
    with pytest.raises(host_sources.SourceError):
        host_sources.sync(sid)
    assert api.get(f"{SOURCES}{sid}/").data["state"] == "failed"


@pytest.mark.parametrize("url", ["http://169.254.169.254/latest/meta-data/", "http://169.254.170.2/v2/credentials/x",
                                 "http://[fe80::1]/hosts", "http://[fd00:ec2::254]/latest/meta-data/"])
def test_restapi_refuses_link_local_and_cloud_metadata_addresses(api, inv, url):
    sid = source(api, inv, source_type="restapi", url=url)
    with pytest.raises(host_sources.SourceError, match="a link-local or cloud metadata address"):
        host_sources.sync(sid)
    assert api.get(f"{SOURCES}{sid}/").data["state"] == "failed"


def resolving(monkeypatch, names: dict[str, list[str]]) -> None:
    """DNS for the test: each name in `names` resolves to its next address (the last one sticks)."""
    real = socket.getaddrinfo

    def getaddrinfo(host, *args, **kwargs):
        answers = names.get(host)
        if answers is None:
            return real(host, *args, **kwargs)
        return real(answers.pop(0) if len(answers) > 1 else answers[0], *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)


def test_restapi_refuses_a_host_name_that_resolves_to_the_metadata_address(api, inv, monkeypatch):
    resolving(monkeypatch, {"cmdb.example.com": ["169.254.169.254"]})
    sid = source(api, inv, source_type="restapi", url="http://cmdb.example.com/hosts")
    with pytest.raises(host_sources.SourceError, match="cmdb.example.com is 169.254.169.254, a link-local"):
        host_sources.sync(sid)


def test_restapi_refuses_a_redirect_to_the_metadata_address(api, inv, cmdb):
    cmdb["redirects"]["/hosts"] = "http://169.254.169.254/latest/meta-data/iam/security-credentials/"
    sid = source(api, inv, source_type="restapi", url=cmdb["url"])
    with pytest.raises(host_sources.SourceError, match="169.254.169.254 is 169.254.169.254, a link-local"):
        host_sources.sync(sid)
    assert [r["path"] for r in cmdb["requests"]] == ["/hosts"]


def test_restapi_follows_a_redirect_to_an_allowed_address(api, inv, cmdb):
    cmdb["redirects"]["/old"] = cmdb["url"]
    cmdb["body"] = ["moved1"]
    sid = source(api, inv, source_type="restapi", url=cmdb["base"] + "/old")
    assert host_sources.sync(sid)["hosts"]["created"] == 1
    assert [r["path"] for r in cmdb["requests"]] == ["/old", "/hosts"]


def test_restapi_checks_the_address_it_connected_to_not_only_the_first_lookup(api, inv, cmdb, monkeypatch):
    # DNS rebinding: the name passes the check, then resolves elsewhere when the connection is made.
    # The loopback server stands in for the metadata endpoint (loopback is refused for this test).
    resolving(monkeypatch, {"rebind.example.com": ["192.0.2.10", "127.0.0.1"]})
    monkeypatch.setattr(addresses, "REFUSED_NETWORKS", (ipaddress.ip_network("127.0.0.0/8"),))
    port = cmdb["url"].split(":")[2].split("/")[0]
    sid = source(api, inv, source_type="restapi", url=f"http://rebind.example.com:{port}/hosts")
    with pytest.raises(host_sources.SourceError, match="rebind.example.com is 127.0.0.1"):
        host_sources.sync(sid)
    assert cmdb["requests"] == []


@pytest.mark.parametrize("address, refused", [
    ("169.254.169.254", True), ("169.254.170.2", True), ("::ffff:169.254.169.254", True), ("fe80::1%eth0", True),
    ("fd00:ec2::254", True), ("127.0.0.1", False), ("::1", False), ("10.0.0.5", False), ("fd00:ec2::253", False),
])
def test_which_addresses_a_restapi_source_may_not_reach(address, refused):
    assert addresses.is_refused(address) is refused


# ---------------------------------------------------------------- file

INI = """\
loner ansible_port=2222
[web]
web[01:03] http_port=80
[db]
db1 ansible_host=10.0.0.9 weight=1.5 tags='a b'
[web:vars]
tier=front
[dc:children]
web
db
"""


@pytest.mark.parametrize("use_ansible", [True, False], ids=["ansible-inventory", "built-in"])
def test_file_source_reads_ini_inventories(tmp_path, use_ansible):
    (tmp_path / "inventories").mkdir()
    (tmp_path / "inventories" / "hosts").write_text(INI)
    data = fetch_file(tmp_path, "inventories/hosts", use_ansible=use_ansible)
    assert data.hosts == {"loner": {"ansible_port": 2222}, "web01": {"http_port": 80}, "web02": {"http_port": 80},
                          "web03": {"http_port": 80}, "db1": {"ansible_host": "10.0.0.9", "weight": 1.5, "tags": "a b"}}
    assert data.groups["web"].vars == {"tier": "front"} and sorted(data.groups["web"].hosts) == ["web01", "web02", "web03"]
    assert sorted(data.groups["dc"].children) == ["db", "web"]


def test_builtin_reader_agrees_with_ansible_on_yaml_inventories(tmp_path):
    (tmp_path / "hosts.yml").write_text(
        "all:\n  hosts:\n    solo: {x: 1}\n  children:\n    web:\n      hosts:\n        w1:\n        w2: {port: 8080}\n"
        "      vars: {tier: front}\n      children:\n        canary:\n          hosts: {w1: }\n")
    ours = fetch_file(tmp_path, "hosts.yml", use_ansible=False)
    theirs = fetch_file(tmp_path, "hosts.yml", use_ansible=True)
    assert ours.hosts == theirs.hosts
    for name in ("web", "canary"):
        assert sorted(ours.groups[name].hosts) == sorted(theirs.groups[name].hosts)
        assert ours.groups[name].vars == theirs.groups[name].vars
        assert ours.groups[name].children == theirs.groups[name].children


def test_file_source_syncs_from_a_project_checkout(api, inv, tmp_path):
    pid = api.post("/api/project/project/", {"name": "p", "repository_url": "file:///srv/repo"}).data["id"]
    (tmp_path / "hosts").write_text(INI)
    sid = source(api, inv, source_type="file", project=pid, host_file="hosts")
    with pytest.raises(host_sources.SourceError, match="checked out"):
        host_sources.sync(sid)
    summary = host_sources.sync(sid, project_dir=tmp_path)
    assert summary["hosts"]["created"] == 5 and summary["groups"]["created"] == 3
    (tmp_path / "hosts").write_text("[web]\nweb01 http_port=81\n")
    summary = host_sources.sync(sid, project_dir=tmp_path)
    assert summary["hosts"] == {"created": 0, "updated": 1, "removed": 4, "unchanged": 0, "skipped": []}
    assert rendered(api, inv)["web"]["hosts"] == ["web01"]


# ---------------------------------------------------------------- aws_ec2


def launch(region: str, count: int, tags: dict) -> list[str]:
    import boto3

    ec2 = boto3.client("ec2", region_name=region)
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    spec = [{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}]
    out = ec2.run_instances(ImageId=image, MinCount=count, MaxCount=count, InstanceType="t3.micro", TagSpecifications=spec)
    return [i["InstanceId"] for i in out["Instances"]]


def test_aws_ec2_source_imports_instances_and_tag_groups(api, inv):
    import boto3

    web = launch("us-east-1", 2, {"Role": "web", "Env": "prod"})
    db = launch("eu-west-1", 1, {"Role": "db"})
    key = api.post("/api/project/credential/", {"name": "aws", "type": "aws", "key_id": "AKIAEXAMPLE",
                                                 "key_secret": "secret"}).data["id"]
    sid = source(api, inv, source_type="aws_ec2", credential=key, regions="us-east-1,eu-west-1")
    api.post(HOST, {"hostname": "bastion", "inventory": inv})
    summary = host_sources.sync(sid)
    assert summary["hosts"]["created"] == 3
    doc = rendered(api, inv)
    assert sorted(doc["tag_Role_web"]["hosts"]) == sorted(web) and doc["tag_Role_db"]["hosts"] == db
    assert sorted(doc["tag_Env_prod"]["hosts"]) == sorted(web)
    facts = doc["_meta"]["hostvars"][db[0]]
    assert facts["ec2_region"] == "eu-west-1" and facts["ec2_tags"] == {"Role": "db"} and facts["ansible_host"]

    ec2 = boto3.client("ec2", region_name="us-east-1")
    ec2.terminate_instances(InstanceIds=[web[0]])
    ec2.create_tags(Resources=[web[1]], Tags=[{"Key": "Role", "Value": "api"}])
    summary = host_sources.sync(sid)
    assert summary["hosts"]["removed"] == 1 and summary["hosts"]["updated"] == 1
    doc = rendered(api, inv)
    assert doc["tag_Role_api"]["hosts"] == [web[1]] and "tag_Role_web" not in doc
    assert set(doc["_meta"]["hostvars"]) == {web[1], db[0], "bastion"}

"""A job reaches only what its launch gave it: the exploit of the hardening issue and its variants,
run through the local stack as real ad-hoc commands. Each job prints what it could find; the
test checks that nothing of the platform is in it, and that the job ran at all."""
from __future__ import annotations

import glob
import json
import os
import signal
import tempfile
import time

import pytest

pytestmark = pytest.mark.e2e

LOCAL = "localhost ansible_connection=local"


def _stack_env(stack) -> dict[str, str]:
    """The environment the local stack's runners have (its moto endpoint and key among it): what a
    job must never learn. Read from the runners' fork server, which the stack starts with it."""
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as handle:
                ppid = int(handle.read().rsplit(b")", 1)[1].split()[1])
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                cmdline = handle.read()
            if ppid != stack.proc.pid or b"forkserver" not in cmdline:
                continue
            with open(f"/proc/{entry}/environ", "rb") as handle:
                pairs = [item.split(b"=", 1) for item in handle.read().split(b"\0") if b"=" in item]
        except OSError:
            continue
        return {key.decode(): value.decode() for key, value in pairs}
    raise AssertionError("the stack's runner fork server was not found (no job has run yet?)")


def _shell(stack, command: str, wait: bool = True, **fields) -> tuple[dict, str]:
    r = stack.http("POST", "/api/job/job/", json={"module": "shell", "arguments": command,
                                                  "inventory_str": LOCAL, **fields})
    assert r.status_code == 201, r.text
    if not wait:
        return r.json(), ""
    job = stack.wait_job(r.json()["id"])
    return job, stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=txt").text


def _processes(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as handle:
                    if marker.encode() in handle.read():
                        found.append(int(entry))
            except OSError:
                continue
    return found


def _job_dirs(job_id: int) -> list[str]:
    return glob.glob(os.path.join(tempfile.gettempdir(), f"opsgrat-job-{job_id}-*"))


def _eventually(check, timeout: float = 15.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.1)
    return check()


def test_a_user_without_grants_cannot_run_a_command_against_an_inline_inventory(stack):
    user = stack.http("POST", "/api/system/user/", json={"username": "nogrants", "password": "s3cret-pass"}).json()
    token = stack.http("POST", "/api/auth/token/", json={"username": "nogrants", "password": "s3cret-pass"}).json()["token"]
    r = stack.session.post(stack.url + "/api/job/job/", headers={"Authorization": f"Token {token}"}, timeout=30,
                           json={"module": "command", "arguments": f"cat {stack.home}/admin-token",
                                 "inventory_str": LOCAL})
    assert r.status_code == 403, r.text
    assert "inventory_str" in r.json()["detail"]
    assert user["superuser"] == 0


def test_a_job_cannot_read_the_stack_home_token_snapshot_or_keys(stack):
    job, out = _shell(stack, f"id -un; cat {stack.home}/admin-token; ls -la {stack.home} {stack.home}/snapshot; "
                             f"ls /work /root; echo done")
    assert job["state"] == "successful" and "opsgrat-job" in out and "done" in out, out
    assert stack.token not in out
    assert out.count("No such file or directory") >= 3
    assert "snapshot" not in out.replace(f"{stack.home}/snapshot", ""), out


def test_a_job_environment_and_proc_hold_nothing_of_the_platform(stack):
    job, out = _shell(stack, "env; echo ---; cat /proc/1/environ; echo; ps -eo user,args; echo end")
    assert job["state"] == "successful", out
    assert "end" in out
    platform = {name: value for name, value in _stack_env(stack).items() if name.startswith(("AWS_", "OPSGRAT_", "MOTO_"))}
    secret = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "OPSGRAT_LOCAL_ENDPOINT", "MOTO_PORT", "OPSGRAT_HOME")
    assert set(secret) <= set(platform)
    for name in secret:
        assert platform[name] not in out, name
    for name in platform:
        assert f"{name}=" not in out, name
    assert "chalicelib" not in out and "runner_image.entrypoint" not in out


def test_a_job_sees_no_other_job(stack):
    other, _ = _shell(stack, "sleep 40", wait=False)
    try:
        stack.wait_job(other["id"], states=("running",))
        assert _eventually(lambda: bool(_job_dirs(other["id"])))
        job, out = _shell(stack, "ls -la /tmp; ps -eo pid,args; echo end")
        assert job["state"] == "successful", out
        assert f"opsgrat-job-{job['id']}-" in out  # its own directory, and only that one
        assert f"opsgrat-job-{other['id']}-" not in out
        assert "sleep 40" not in out
    finally:
        stack.http("POST", f"/api/job/job/{other['id']}/cancel/")


BOTO = r"""
import json, sys, urllib.request, boto3, botocore
endpoint = sys.argv[1]
found = {}
try:
    boto3.client("dynamodb", region_name="us-east-1").list_tables()
    found["default credentials"] = "reached"
except Exception as exc:
    found["default credentials"] = type(exc).__name__
for key in ("ak", "testing", "local"):
    for service, call in (("dynamodb", "list_tables"), ("kms", "list_keys"), ("s3", "list_buckets")):
        client = boto3.client(service, region_name="us-east-1", endpoint_url=endpoint,
                              aws_access_key_id=key, aws_secret_access_key=key)
        try:
            getattr(client, call)()
            found[f"{service} {key}"] = "reached"
        except botocore.exceptions.ClientError as exc:
            found[f"{service} {key}"] = exc.response["ResponseMetadata"]["HTTPStatusCode"]
try:
    urllib.request.urlopen(urllib.request.Request(endpoint + "/moto-api/reset", method="POST", data=b""))
    found["reset"] = "reached"
except urllib.error.HTTPError as exc:
    found["reset"] = exc.code
print("FOUND " + json.dumps(found, sort_keys=True))
"""


def test_a_job_cannot_reach_the_tables_keys_or_moto_with_boto3(stack):
    _shell(stack, "true")  # the fork server exists once a job has run
    endpoint = _stack_env(stack)["OPSGRAT_LOCAL_ENDPOINT"]
    job, out = _shell(stack, f"python - {endpoint} <<'EOF'\n{BOTO}\nEOF")
    assert job["state"] == "successful", out
    line = next(line for line in out.splitlines() if "FOUND " in line)
    found = json.loads(line.split("FOUND ", 1)[1])
    assert found.pop("default credentials") in ("NoCredentialsError", "PartialCredentialsError")
    assert found.pop("reset") == 403
    assert found and set(found.values()) == {403}, found
    assert stack.http("GET", "/api/auth/me/").status_code == 200  # nothing was reset


def test_a_job_runs_as_the_job_user_and_cannot_become_root_on_the_runner(stack):
    job, out = _shell(stack, "id -un; sudo -n true && echo BECAME-ROOT; echo end")
    assert "opsgrat-job" in out and "end" in out, out
    assert "BECAME-ROOT" not in out


def test_a_killed_runner_takes_every_process_and_the_key_file_of_its_job_with_it(stack, sshd):
    cred = stack.http("POST", "/api/project/credential/", json={
        "name": "isolation key", "type": "ssh", "user_name": sshd.user, "private_key": sshd.private_key}).json()
    job, _ = _shell(stack, "sleep 301", wait=False, credential=cred["id"])
    stack.wait_job(job["id"], states=("running",))
    assert _eventually(lambda: bool(_processes("sleep 301")))
    keys = glob.glob(os.path.join(tempfile.gettempdir(), f"opsgrat-job-{job['id']}-*", "zone", "*", "keys", "*"))
    assert keys, "the job's key file should exist while it runs"
    runner = int((stack.home / "runners" / f"job-{job['id']}.pid").read_text())
    os.kill(runner, signal.SIGKILL)  # the runner alone: its sandbox must die with it
    assert _eventually(lambda: not _processes("sleep 301")), "a process of the job survived its runner"
    assert _eventually(lambda: not _job_dirs(job["id"])), "the job's directory (and key) stayed on disk"
    final = stack.wait_job(job["id"], timeout=60)
    assert final["state"] == "failed" and "heartbeat" in final["reason"]


def test_cancel_ends_every_process_of_the_job_within_seconds(stack):
    job, _ = _shell(stack, "sleep 302 & sleep 303; wait", wait=False)
    stack.wait_job(job["id"], states=("running",))
    assert _eventually(lambda: bool(_processes("sleep 302")) and bool(_processes("sleep 303")))
    assert stack.http("POST", f"/api/job/job/{job['id']}/cancel/").status_code == 202
    final = stack.wait_job(job["id"], timeout=30)
    assert final["state"] == "canceled"
    assert _eventually(lambda: not _processes("sleep 302") and not _processes("sleep 303"))
    assert _eventually(lambda: not _job_dirs(job["id"]))

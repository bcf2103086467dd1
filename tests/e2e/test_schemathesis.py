"""Schemathesis against a local stack over real HTTP: every operation of /api/openapi.json, with
generated requests, answers no 500 and only what the document declares (status, content type,
body schema), and refuses requests without a valid token.

The run has a stack of its own: as a superuser, schemathesis regenerates tokens, deactivates
users, changes job settings and deletes records, which must not disturb the other end-to-end
tests (tests/e2e/conftest.py `stack`). That stack starts no runners (its ECS cluster does not
exist, so every job fails at dispatch with the reason): generated projects, host sources and
hosts name arbitrary URLs and machines, and this machine must not try to reach them. The rest of
a job's path (record, state machine, queue, dispatch) runs as usual.

Deterministic: a fixed seed and derandomized generation, no examples database, and checks that
do not depend on timing. The data a case meets does depend on the cases before it (ids are
counters, records get deleted); each check holds whatever state it meets.
"""
from __future__ import annotations

import json

import pytest
import requests
import schemathesis
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    allow_header_conformance,
    content_type_conformance,
    ignored_auth,
    response_schema_conformance,
    status_code_conformance,
    unsupported_method,
)

from tests.localstack import RunningStack

pytestmark = pytest.mark.e2e

#: generated cases per operation (plus schemathesis' coverage cases); 192 operations, about two minutes
MAX_EXAMPLES = 20
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance,
          ignored_auth, unsupported_method, allow_header_conformance]
CONFIG = {
    "seed": 20261201,
    # hypothesis' health checks time data generation: on a busy 2-core machine that is a flake
    "suppress-health-check": ["all"],
    "generation": {"mode": "positive", "deterministic": True, "max-examples": MAX_EXAMPLES, "database": "none"},
    "phases": {"stateful": {"enabled": False}},
    "request-timeout": 60,
}
USERNAME, PASSWORD = "schemathesis", "schemathesis-pass"


def _seed(stack: RunningStack) -> dict:
    """Real records, so that generated ids (small integers) find some; returns our superuser."""

    def made(path: str, body: dict) -> int:
        r = stack.http("POST", path, json=body)
        assert r.status_code == 201, (path, r.text)
        return r.json()["id"]

    user = made("/api/system/user/", {"username": USERNAME, "password": PASSWORD, "superuser": 1})
    cred = made("/api/project/credential/", {"name": "login", "type": "ssh", "user_name": "root", "password": "pw"})
    made("/api/project/credential/", {"name": "vault", "type": "vault", "vault_password": "v"})
    project = made("/api/project/project/", {"name": "site", "repository_url": "file:///nonexistent/site.git"})
    inventory = made("/api/project/inventory/", {"name": "prod", "credential": cred, "variables": "ntp: pool"})
    hosts = [made("/api/project/host/", {"hostname": f"web{n}", "inventory": inventory, "variables": "a: 1"})
             for n in (1, 2)]
    group = made("/api/project/group/", {"name": "web", "inventory": inventory})
    made("/api/project/hosts/", {"group": group, "host": hosts[0]})
    made("/api/project/host/source/", {"name": "script", "inventory": inventory, "source_type": "script",
                                       "source_script": "#!/bin/sh\necho '{}'\n"})
    template = made("/api/template/template/", {"name": "deploy", "project": project, "playbook": "site.yml",
                                                "inventory": inventory, "credential": cred})
    team = made("/api/system/team/", {"name": "ops"})
    made("/api/system/team/users/", {"username": USERNAME, "team": team})
    made("/api/project/inventory/authorized/users/", {"username": USERNAME, "data": inventory, "permission": "read"})
    made("/api/system/tag/", {"tag": "web"})
    made("/api/system/system/environment/variable/", {"name": "HTTP_PROXY", "value": "http://proxy:3128"})
    made("/api/system/system/jobsettings/", {"workspace": "/tmp", "job_timeout": 0, "idle_timeout": 0, "keep_days": 0})
    job = stack.http("POST", "/api/template/template/run/", json={"id": template}).json()
    assert stack.wait_job(job["id"], timeout=60)["state"] == "failed"  # no runner: see the module docstring
    login = stack.http("POST", "/api/auth/token/", json={"username": USERNAME, "password": PASSWORD})
    return {"id": user, "token": login.json()["token"]}


@pytest.fixture(scope="module")
def own_stack(tmp_path_factory):
    stack = RunningStack(tmp_path_factory.mktemp("schemathesis") / "home",
                         env={"OPSGRAT_RUNNER_BACKEND": "ecs", "OPSGRAT_ECS_CLUSTER": "no-runners-in-this-test"}).start()
    try:
        stack.superuser = _seed(stack)
        yield stack
    finally:
        stack.stop()


def _document() -> dict:
    """The document the stack serves, built from the same declarations (checked to be equal
    below): pytest collects one test per operation before any stack runs."""
    import app  # noqa: F401 - registers every route
    from chalicelib.api.openapi import build_document

    return json.loads(json.dumps(build_document()))


DOCUMENT = _document()


@schemathesis.serializer("application/gzip", "application/x-gzip", "application/zip", "application/octet-stream")
def _archive_bytes(ctx, value) -> bytes:
    """Archive uploads take raw bytes (`format: binary`): what was generated, as bytes, so that
    the upload route is fuzzed with junk archives too (each must be a 400, never a 500)."""
    if isinstance(value, bytes):
        return value
    return str(value if value is not None else "").encode("utf-8", "surrogatepass")


schema = schemathesis.openapi.from_dict(DOCUMENT, config=schemathesis.Config.from_dict(CONFIG))
#: ids are counted per family from 1: the seeding made records with ids 1 to 3 in many families
SEEDED_IDS = 3


@schema.hook
def map_path_parameters(context, path_parameters):
    """Most generated ids (1 to 2**63-1) name no record; send three in four of the large ones to
    a record the seeding made, so that item routes answer with real records too."""
    record_id = (path_parameters or {}).get("id")
    if isinstance(record_id, int) and record_id > SEEDED_IDS and record_id % 4:
        path_parameters["id"] = 1 + record_id % SEEDED_IDS
    return path_parameters


@pytest.fixture(scope="module")
def base_url(own_stack) -> str:
    served = requests.get(own_stack.url + "/api/openapi.json", timeout=60)
    assert served.json() == DOCUMENT
    return own_stack.url


def _locks_us_out(case, superuser_id: int) -> bool:
    """Generated requests that would edit, disable or delete the superuser the run acts as."""
    path = case.operation.path
    if path == "/api/system/user/{id}/" and case.method.upper() != "GET":
        return str((case.path_parameters or {}).get("id")) == str(superuser_id)
    if path == "/api/system/user/" and case.method.upper() == "DELETE" and isinstance(case.body, dict):
        listed = case.body.get("pk[]")
        ids = str(case.body.get("pk", "")).split(",") + [str(i) for i in (listed if isinstance(listed, list) else [listed])]
        return str(superuser_id) in (i.strip() for i in ids)
    return False


@schema.parametrize()
def test_every_operation_answers_what_the_document_declares(case, base_url, own_stack):
    superuser = own_stack.superuser
    if _locks_us_out(case, superuser["id"]):
        return  # the run would go on unauthenticated, checking nothing but 401s
    response = case.call_and_validate(base_url=base_url, headers={"Authorization": f"Token {superuser['token']}"},
                                      checks=CHECKS)
    regenerated = case.operation.path == "/api/auth/token/regenerate/" and response.request.method == "POST"
    if regenerated and response.status_code == 200:
        superuser["token"] = response.json()["token"]  # the old one is revoked now

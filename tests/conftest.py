"""Shared fixtures. In-process tests run the Chalice app against moto's in-process mock; the
end-to-end fixtures (tests/e2e) start one local stack per session over real HTTP."""
from __future__ import annotations

import os

# Settings must be in place before chalicelib is imported (table names, region, no endpoint).
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1",
    "POWERTOOLS_LOG_LEVEL": "WARNING",
})
for _var in ("AWS_ENDPOINT_URL", "AWS_PROFILE"):
    os.environ.pop(_var, None)

import contextlib  # noqa: E402
import json  # noqa: E402

import pytest  # noqa: E402
from chalice.test import Client  # noqa: E402
from moto import mock_aws  # noqa: E402

from chalicelib import aws  # noqa: E402


class Api:
    """A thin JSON client over chalice.test.Client that carries a token."""

    def __init__(self, client: Client, token: str | None = None):
        self.client = client
        self.token = token

    def as_token(self, token: str | None) -> "Api":
        return Api(self.client, token)

    def request(self, method: str, path: str, body=None, form: bool = False, headers: dict | None = None):
        hdrs = dict(headers or {})
        if self.token:
            hdrs.setdefault("Authorization", f"Token {self.token}")
        payload = None
        if isinstance(body, bytes):  # raw bytes as they are (an archive upload)
            hdrs.setdefault("Content-Type", "application/octet-stream")
            payload = body
        elif body is not None:
            if form:
                from urllib.parse import urlencode

                hdrs.setdefault("Content-Type", "application/x-www-form-urlencoded")
                payload = urlencode(body, doseq=True)
            else:
                hdrs.setdefault("Content-Type", "application/json")
                payload = json.dumps(body)
        response = self.client.http.request(method, path, headers=hdrs, body=payload)
        response.data = json.loads(response.body) if response.body else None
        return response

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, body=None, **kw):
        return self.request("POST", path, body, **kw)

    def put(self, path, body=None, **kw):
        return self.request("PUT", path, body, **kw)

    def patch(self, path, body=None, **kw):
        return self.request("PATCH", path, body, **kw)

    def delete(self, path, body=None, **kw):
        return self.request("DELETE", path, body, **kw)


@contextlib.contextmanager
def moto_stack():
    """moto's in-process AWS with the stack provisioned and seeded: what `aws_mock` gives each
    test, for module-scoped fixtures of suites that build costly data once (tests/test_permission_matrix.py)."""
    from chalicelib.local import moto_patches

    moto_patches.apply()
    with mock_aws():
        aws.reset()
        from chalicelib.local.provision import provision
        from chalicelib.services.catalog import system

        provision()
        from chalicelib.services import search

        search.mark_fresh()  # new tables, as at a local stack's first start: search uses the index
        system.seed()
        yield
    aws.reset()


@pytest.fixture
def aws_mock():
    with moto_stack():
        yield


@pytest.fixture
def chalice_app(aws_mock):
    from app import app

    return app


@pytest.fixture
def admin_token(aws_mock) -> str:
    from chalicelib.services import auth

    _, token = auth.ensure_superuser("admin")
    return token


@pytest.fixture
def api(chalice_app, admin_token):
    with Client(chalice_app) as client:
        yield Api(client, admin_token)


@pytest.fixture
def anon(api) -> Api:
    return api.as_token(None)


@pytest.fixture
def make_user(api):
    """Create a user over the API and return (user record, an Api acting as that user)."""
    counter = {"n": 0}

    def make(username: str | None = None, superuser: int = 0):
        counter["n"] += 1
        username = username or f"user{counter['n']}"
        r = api.post("/api/system/user/", {"username": username, "password": "s3cret-pass", "last_name": username.title(),
                                           "superuser": superuser})
        assert r.status_code == 201, r.body
        t = api.as_token(None).post("/api/auth/token/", {"username": username, "password": "s3cret-pass"})
        assert t.status_code == 200, t.body
        return r.data, api.as_token(t.data["token"])

    return make


@pytest.fixture
def template(api) -> dict:
    """A job template "deploy" (project "site", whose last sync found site.yml; inventory "prod")."""
    from chalicelib.services import store
    from chalicelib.services.resources import get

    project = store.create(get("project"), {"name": "site", "repository_url": "file:///srv/site.git",
                                            "playbooks": ["site.yml"]})
    inventory = api.post("/api/project/inventory/", {"name": "prod"}).data
    r = api.post("/api/template/template/", {"name": "deploy", "project": project["id"], "playbook": "site.yml",
                                             "inventory": inventory["id"]})
    assert r.status_code == 201, r.body
    return r.data


# The real sshd on loopback used by the runner tests (tests/sshd.py).
pytest_plugins = ["tests.sshd"]

"""The in-process moto server that stands in for AWS on one machine, behind a key only the stack knows.

Two ways in, one state. The stack's own process (the API, the pollers, moto's Step Functions
interpreter) calls moto in-process, through moto's botocore stubs (`mock_aws`): no HTTP round
trip, a third of the CPU per call. The runners, which are other processes, call the server over
HTTP at `OPSGRAT_LOCAL_ENDPOINT` (`chalicelib.local.runner_env` makes it their AWS endpoint).
Both reach the same moto backends.

moto checks no credentials, and it listens on loopback, where a job's playbook can reach it too
(a job needs the network to reach its hosts). So every request must carry the access key id
this stack made at start (in its SigV4 `Authorization` header, as every AWS client sends it);
moto's own API (`/moto-api/...`: reset, config) needs it in an `X-Opsgrat-Moto-Key` header. The
key lives only in the environment of the stack's process and its runners, which the job zone
does not inherit (`runner_image/opsgrat_runner/sandbox.py`), so a job that finds the port finds
a server that answers 403 to everything.
"""
from __future__ import annotations

import json
import os
import re
import secrets
import socket
import string
import urllib.request
from collections.abc import Callable, Iterable
from typing import Any

from moto import mock_aws
from moto.moto_server.threaded_moto_server import ThreadedMotoServer
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

from chalicelib.local import moto_patches
from chalicelib.local.runner_env import ENDPOINT_ENV

KEY_HEADER = "X-Opsgrat-Moto-Key"
#: moto settings, for the server and the in-process stubs alike
CONFIG = {"stepfunctions": {"execute_state_machine": True}}
_CREDENTIAL = re.compile(r"Credential=([A-Z0-9]+)/")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def new_access_key() -> tuple[str, str]:
    """An access key id and secret of the shape AWS issues (the id is the gate's secret)."""
    alphabet = string.ascii_uppercase + string.digits
    key_id = "AKIA" + "".join(secrets.choice(alphabet) for _ in range(16))
    return key_id, secrets.token_urlsafe(30)


class KeyGate:
    """WSGI middleware: 403 unless the request names the stack's access key id."""

    def __init__(self, app: Callable, key_id: str):
        self.app = app
        self.key_id = key_id

    def allowed(self, environ: dict) -> bool:
        if environ.get("HTTP_" + KEY_HEADER.upper().replace("-", "_")) == self.key_id:
            return True
        match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
        return bool(match) and match.group(1) == self.key_id

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        if self.allowed(environ):
            return self.app(environ, start_response)
        body = b'{"message": "forbidden: this moto server belongs to an OpsGrat local stack"}'
        start_response("403 Forbidden", [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
        return [body]


class GatedMotoServer(ThreadedMotoServer):
    def __init__(self, key_id: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.key_id = key_id

    def _server_entry(self) -> None:  # ThreadedMotoServer's, with the gate in front of the app
        app = KeyGate(DomainDispatcherApplication(create_backend_app), self.key_id)
        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()


def start(port: int | None = None) -> tuple[ThreadedMotoServer, str]:
    """Start moto on 127.0.0.1 with a new key, and moto's in-process stubs for this process.

    MOTO_PORT must be set *before* the server starts: moto's Step Functions interpreter calls
    services back on localhost:$MOTO_PORT when it is not stubbed (TOOLCHAIN-NOTES), with the key
    of this process (`moto_patches.use_credentials`).
    """
    moto_patches.apply()
    port = port or free_port()
    key_id, secret = new_access_key()
    os.environ["MOTO_PORT"] = str(port)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({
        ENDPOINT_ENV: endpoint, "AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret,
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    })
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_DYNAMODB"):  # this process calls moto in-process
        os.environ.pop(name, None)
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    moto_patches.use_credentials(key_id, secret)
    server = GatedMotoServer(key_id, ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config", method="POST",
        data=json.dumps(CONFIG).encode(),
        headers={"Content-Type": "application/json", KEY_HEADER: key_id})
    urllib.request.urlopen(request, timeout=10).read()
    mock_aws(config=CONFIG).start(reset=False)
    # mock_aws puts fake credentials into the environment; the runners need the stack's key
    os.environ.update({"AWS_ACCESS_KEY_ID": key_id, "AWS_SECRET_ACCESS_KEY": secret})
    return server, endpoint

"""The in-process moto server that stands in for AWS on one machine."""
from __future__ import annotations

import json
import os
import socket
import urllib.request

from typing import Callable

from moto.moto_server.threaded_moto_server import MotoRequestHandler, ThreadedMotoServer
from moto.server import DomainDispatcherApplication, create_backend_app
from werkzeug.serving import make_server

from chalicelib.local import moto_patches

_READ_PREFIXES = ("Get", "List", "Describe", "Query", "Scan", "BatchGet", "Receive", "Encrypt", "Decrypt",
                  "GenerateDataKey", "ChangeMessageVisibility", "SendTaskHeartbeat")

def _is_write(environ: dict) -> bool:
    """Whether a request to moto may change stored state (used to schedule snapshots)."""
    method = environ.get("REQUEST_METHOD", "GET")
    if method in ("GET", "HEAD", "OPTIONS"):
        return False
    target = environ.get("HTTP_X_AMZ_TARGET", "")
    operation = target.rsplit(".", 1)[-1] if target else ""
    if operation:
        return not operation.startswith(_READ_PREFIXES)
    return not environ.get("PATH_INFO", "").startswith("/moto-api")

class WatchedMotoServer(ThreadedMotoServer):
    """ThreadedMotoServer that calls `on_write()` for every request that may change state."""

    def __init__(self, *args, on_write: Callable[[], None] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self._on_write = on_write

    def _server_entry(self) -> None:
        backend_app = DomainDispatcherApplication(create_backend_app)

        def app(environ, start_response):
            if self._on_write is not None and _is_write(environ):
                self._on_write()
            return backend_app(environ, start_response)

        self._server = make_server(self._ip_address, self._port, app, True, request_handler=MotoRequestHandler)
        self._server_ready_event.set()
        self._server.serve_forever()

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def start(port: int | None = None, on_write: Callable[[], None] | None = None) -> tuple[ThreadedMotoServer, str]:
    """Start moto on 127.0.0.1 and point this process's AWS clients at it.

    MOTO_PORT must be set *before* the server starts: moto's Step Functions interpreter calls
    services back on localhost:$MOTO_PORT (TOOLCHAIN-NOTES).
    """
    moto_patches.apply()
    port = port or free_port()
    os.environ["MOTO_PORT"] = str(port)
    endpoint = f"http://127.0.0.1:{port}"
    os.environ.update({
        "AWS_ENDPOINT_URL": endpoint, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
    })
    os.environ.setdefault("AWS_REGION", os.environ["AWS_DEFAULT_REGION"])
    os.environ.pop("AWS_PROFILE", None)
    server = WatchedMotoServer(ip_address="127.0.0.1", port=port, verbose=False, on_write=on_write)
    server.start()
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config", method="POST",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
    return server, endpoint

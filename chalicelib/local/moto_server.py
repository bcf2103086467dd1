"""The in-process moto server that stands in for AWS on one machine."""
from __future__ import annotations

import json
import os
import socket
import urllib.request

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

from chalicelib.local import moto_patches

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]

def start(port: int | None = None) -> tuple[ThreadedMotoServer, str]:
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
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config", method="POST",
        data=json.dumps({"stepfunctions": {"execute_state_machine": True}}).encode(),
        headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=10).read()
    return server, endpoint

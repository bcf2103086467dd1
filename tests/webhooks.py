"""A real HTTP server on loopback that records what it is sent: webhook, Slack and Teams
notifications land here in the tests and the notification benchmark."""
from __future__ import annotations

import json
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Received:
    method: str
    path: str
    headers: dict
    body: bytes
    at: float = field(default_factory=time.time)

    def json(self):
        return json.loads(self.body)


class Recorder:
    """`url` to send to; `received` in arrival order; `answer(status, ...)` queues the answers of
    the next requests (200 once the queue is empty)."""

    def __init__(self):
        self.received: list[Received] = []
        self._answers: deque[tuple[int, dict, bytes]] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with recorder._lock:
                    recorder.received.append(Received(self.command, self.path, dict(self.headers), body))
                    status, headers, reply = recorder._answers.popleft() if recorder._answers else (200, {}, b"ok")
                    recorder._arrived.notify_all()
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

            do_POST = do_PUT = do_GET = _serve

            def log_message(self, *args):  # quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, name="webhook-recorder", daemon=True)

    def __enter__(self) -> "Recorder":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def answer(self, status: int, headers: dict | None = None, body: bytes = b"") -> None:
        with self._lock:
            self._answers.append((status, headers or {}, body))

    def wait(self, count: int, timeout: float = 30) -> list[Received]:
        """Block until `count` requests arrived (or the timeout); returns them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
            return list(self.received)

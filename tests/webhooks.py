"""A real HTTP server on loopback that records what it is sent: webhook, Slack and Teams
notifications, and the DingTalk and WeCom API fakes, land here in the tests and the notification
benchmark."""
from __future__ import annotations

import email.message
import json
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass
class Received:
    method: str
    path: str
    headers: email.message.Message  # looked up without regard to case, as HTTP wants
    body: bytes
    at: float = field(default_factory=time.time)

    @property
    def route(self) -> str:
        """The path without its query."""
        return urlsplit(self.path).path

    @property
    def query(self) -> dict:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.path).query).items()}

    def json(self):
        return json.loads(self.body)


#: (status, headers, body) of one answer
Answer = tuple[int, dict, bytes]


class Recorder:
    """`url` to send to; `received` in arrival order. A request to a path of `routes` is answered
    by its function; others by the queue `answer(status, ...)` fills (200 once it is empty)."""

    def __init__(self):
        self.received: list[Received] = []
        #: path (without the query) -> the answer to a request to it, before the queue
        self.routes: dict[str, Callable[[Received], Answer]] = {}
        self._answers: deque[Answer] = deque()
        self._lock = threading.Lock()
        self._arrived = threading.Condition(self._lock)
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                request = Received(self.command, self.path, self.headers, body)
                with recorder._lock:
                    recorder.received.append(request)
                    recorder._arrived.notify_all()
                    route = recorder.routes.get(request.route)
                    if route is None:
                        status, headers, reply = recorder._answers.popleft() if recorder._answers else (200, {}, b"ok")
                if route is not None:
                    status, headers, reply = route(request)
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
        self.server.daemon_threads = False  # server_close joins the request threads
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="webhook-recorder", daemon=True)

    def __enter__(self) -> "Recorder":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()
        self._thread.join(timeout=5)

    def answer(self, status: int, headers: dict | None = None, body: bytes | str = b"") -> None:
        with self._lock:
            self._answers.append((status, headers or {}, body.encode() if isinstance(body, str) else body))

    def wait(self, count: int, timeout: float = 30) -> list[Received]:
        """Block until `count` requests arrived (or the timeout); returns them all."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while len(self.received) < count and time.monotonic() < deadline:
                self._arrived.wait(deadline - time.monotonic())
            return list(self.received)

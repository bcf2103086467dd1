"""A loopback HTTP proxy in front of the local stack that a test can make fail on purpose: answer
503 to everything, or drop every connection without an answer, then recover. It shows that a
client rides out an outage (what a load balancer or API Gateway does to clients during a deploy
or a throttle) without the stack itself being stopped."""
from __future__ import annotations

import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import requests

#: headers that belong to one hop, not to the message (RFC 9110 7.6.1), plus the ones
#: requests' decoding makes wrong (it hands back the decoded body)
_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailer",
        "transfer-encoding", "upgrade", "content-length", "content-encoding", "host"}

PASS = "pass"
UNAVAILABLE = "503"
DROP = "drop"


class FlakyProxy:
    """`FlakyProxy(upstream).start()`; `.url`; set `.mode` to PASS, UNAVAILABLE or DROP at any
    time; `.counts` says how many requests each mode handled; `.stop()`."""

    def __init__(self, upstream: str):
        self.upstream = upstream.rstrip("/")
        self.mode = PASS
        self.counts = {PASS: 0, UNAVAILABLE: 0, DROP: 0}
        self._lock = threading.Lock()
        self._local = threading.local()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, name="flaky-proxy", daemon=True)

    def start(self) -> "FlakyProxy":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(10)

    def _count(self, mode: str) -> None:
        with self._lock:
            self.counts[mode] += 1

    def _session(self) -> requests.Session:
        """One session per handler thread: requests' sessions are not shared across threads."""
        session = getattr(self._local, "session", None)
        if session is None:
            session = self._local.session = requests.Session()
        return session

    def _handler(self):
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the client expects from a real server

            def log_message(self, format, *args):
                pass

            def _serve(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                mode = proxy.mode
                proxy._count(mode)
                if mode == DROP:
                    self.close_connection = True
                    try:
                        self.connection.shutdown(socket.SHUT_RDWR)
                    except OSError:
                        pass
                    return
                if mode == UNAVAILABLE:
                    self._answer(503, {"Content-Type": "application/json"},
                                 json.dumps({"detail": "flaky proxy: service unavailable"}).encode())
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP}
                try:
                    upstream = proxy._session().request(self.command, proxy.upstream + self.path, headers=headers,
                                                        data=body or None, timeout=60, allow_redirects=False)
                except requests.RequestException as exc:
                    self._answer(502, {"Content-Type": "text/plain"}, f"flaky proxy: {exc}".encode())
                    return
                self._answer(upstream.status_code, {k: v for k, v in upstream.headers.items() if k.lower() not in _HOP},
                             upstream.content)

            def _answer(self, status: int, headers: dict, body: bytes) -> None:
                self.send_response(status)
                for key, value in headers.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = do_PATCH = do_PUT = do_DELETE = _serve

        return Handler

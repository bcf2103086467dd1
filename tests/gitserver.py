"""Git repositories made by tests, served over loopback (file:// and basic-auth dumb HTTP).

Dumb HTTP is a static file tree (a bare repo after ``git update-server-info``), so a stdlib
HTTP server in a thread can serve it; git sends the basic-auth credentials after a 401.
"""
from __future__ import annotations

import base64
import contextlib
import functools
import os
import subprocess
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

GIT_ENV = {**os.environ, "GIT_AUTHOR_NAME": "Test", "GIT_AUTHOR_EMAIL": "test@example.com",
           "GIT_COMMITTER_NAME": "Test", "GIT_COMMITTER_EMAIL": "test@example.com", "GIT_CONFIG_NOSYSTEM": "1"}


def git(*args: str, cwd: str) -> str:
    return subprocess.run(["git", *args], cwd=cwd, env=GIT_ENV, check=True, capture_output=True,
                          text=True).stdout.strip()


def write_files(root: str, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = os.path.join(root, rel)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as handle:
            handle.write(text)


def commit(work: str, files: dict[str, str], message: str) -> str:
    """Write the files, commit them all and return the new commit SHA."""
    write_files(work, files)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", message, cwd=work)
    return git("rev-parse", "HEAD", cwd=work)


def init_repo(work: str, files: dict[str, str], branch: str = "main") -> str:
    """A new repository at ``work`` with one commit of ``files``; returns that commit's SHA."""
    os.makedirs(work, exist_ok=True)
    git("init", "-q", "-b", branch, cwd=work)
    return commit(work, files, "initial")


def publish_bare(work: str, bare: str) -> str:
    """(Re)publish ``work``'s branches and tags as a bare repo servable over dumb HTTP."""
    if not os.path.exists(bare):
        # The bare repo's HEAD names the work tree's branch, so clones get a default branch.
        git("init", "-q", "--bare", "-b", git("branch", "--show-current", cwd=work), bare, cwd=work)
    git("push", "-q", "--mirror", bare, cwd=work)
    git("update-server-info", cwd=bare)
    return bare


class _AuthHandler(SimpleHTTPRequestHandler):
    credentials: str | None = None  # "user:password"

    def do_GET(self) -> None:  # noqa: N802 - stdlib name
        if self.credentials:
            expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
            if self.headers.get("Authorization") != expected:
                self.send_response(401)
                self.send_header("WWW-Authenticate", 'Basic realm="git"')
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        super().do_GET()

    def log_message(self, format: str, *args) -> None:  # noqa: A002 - stdlib signature
        pass


@contextlib.contextmanager
def serve_http(root: str, username: str | None = None, password: str | None = None) -> Iterator[str]:
    """Serve ``root`` on 127.0.0.1 (basic auth when a username is given); yields the base URL."""
    handler = type("Handler", (_AuthHandler,), {"credentials": f"{username}:{password}" if username else None})
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=root))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)

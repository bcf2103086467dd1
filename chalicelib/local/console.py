"""The web console's static files, as the local stack serves them next to the API.

The console is a single page that talks only to the public API (`/api/...`) with the user's
token; it has no server-side code. Locally the HTTP server (`chalicelib.local.httpd`) answers
`GET /` with `console/index.html` and `GET /console/<path>` with that file of the checkout's
`console/` directory, before Chalice's routing (the API Lambda has no console code). On AWS,
CloudFront serves the same paths from the artifacts bucket (`infra.console`), with the same
security headers.

A request names a file only by plain path segments: `..`, `.`, hidden names, empty segments,
backslashes and NULs (also percent-encoded) are refused, and what the path resolves to (symlinks
followed) must still be a regular file inside the console directory. Everything else is a 404
with the API's `{"detail": ...}` body, so a probe learns nothing about the rest of the disk.

Files are read on every request (the console is edited in place while `make dev` runs) and sent
with `Cache-Control: no-cache` and a content ETag, so a browser revalidates and gets a 304
while nothing changed.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

from chalicelib.stack import STACK

#: the checkout's console directory
ROOT = Path(__file__).resolve().parents[2] / "console"
INDEX = "index.html"
#: URL path under which the console's files are served (and the key prefix on AWS)
URL_PREFIX = "/" + STACK.CONSOLE_PREFIX
METHODS = ("GET", "HEAD")

#: by extension; explicit so the answer does not depend on the machine's mime.types
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".mjs": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".woff2": "font/woff2",
    ".txt": "text/plain; charset=utf-8",
}
DEFAULT_CONTENT_TYPE = "application/octet-stream"

#: on every console response
COMMON_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
#: on HTML pages too (the page is the only HTML; a stray .html gets the same policy)
PAGE_HEADERS = {
    "Content-Security-Policy": STACK.CONSOLE_CSP,
    "X-Frame-Options": "DENY",
}


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(Path(name).suffix.lower(), DEFAULT_CONTENT_TYPE)


@dataclass(frozen=True)
class Reply:
    """What the HTTP server sends: status, headers and body (a HEAD sends the headers only)."""
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""


def wants(target: str) -> bool:
    """Whether a request target (`self.path` of http.server) is the console's, not the API's."""
    path = _path_of(target)
    return path == "/" or path.startswith(URL_PREFIX)


def _path_of(target: str) -> str:
    return target.split("?", 1)[0].split("#", 1)[0]


def relative_name(target: str) -> str | None:
    """`/` -> `index.html`, `/console/lib/api.js` -> `lib/api.js`; None for a name that is not
    plain path segments (traversal, hidden files, encoded separators, empty segments)."""
    path = _path_of(target)
    if path == "/":
        return INDEX
    if not path.startswith(URL_PREFIX):
        return None
    try:
        decoded = unquote(path[len(URL_PREFIX):], errors="strict")
    except UnicodeDecodeError:
        return None
    if not decoded or "\\" in decoded or "\x00" in decoded:
        return None
    segments = decoded.split("/")
    if any(not s or s.startswith(".") for s in segments):
        return None
    return "/".join(segments)


def resolve(root: Path, name: str) -> Path | None:
    """The regular file `name` names inside `root`, symlinks followed; None if it is missing or
    lies outside."""
    base = root.resolve()
    try:
        path = base.joinpath(name).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop, a name too long
        return None
    if not path.is_relative_to(base) or not path.is_file():
        return None
    return path


def etag(body: bytes) -> str:
    return '"' + hashlib.sha256(body).hexdigest()[:32] + '"'


def _matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    candidates = [c.strip() for c in if_none_match.split(",")]
    return "*" in candidates or any(c.removeprefix("W/") == tag for c in candidates)


def _error(status: int, detail: str, headers: dict | None = None) -> Reply:
    body = json.dumps({"detail": detail}).encode()
    return Reply(status, {**COMMON_HEADERS, "Content-Type": "application/json", "Cache-Control": "no-cache",
                          **(headers or {})}, body)


def reply(target: str, method: str, if_none_match: str | None = None, root: Path | None = None) -> Reply:
    """The answer to `method target` for a target that `wants()`."""
    if method not in METHODS:
        allowed = ", ".join(METHODS)
        return _error(405, f"Method {method} is not allowed here; use one of: {allowed}.", {"Allow": allowed})
    name = relative_name(target)
    path = resolve(root or ROOT, name) if name else None
    if path is None:
        return _error(404, "Not found.")
    try:
        body = path.read_bytes()
    except OSError:  # removed or made unreadable between resolve and read
        return _error(404, "Not found.")
    tag = etag(body)
    headers = {**COMMON_HEADERS, "Content-Type": content_type(path.name), "Cache-Control": "no-cache", "ETag": tag}
    if path.suffix.lower() == ".html":
        headers.update(PAGE_HEADERS)
    if _matches(if_none_match, tag):
        return Reply(304, headers)
    return Reply(200, headers, body)

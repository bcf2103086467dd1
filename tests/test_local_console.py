"""The local stack's HTTP server serves the web console's static files (`chalicelib.local.console`)
at `/` and `/console/...`, safely, and leaves everything under `/api/` to the API.

One server in this process on a free loopback port, over a console directory made here (so the
tests do not depend on what the real `console/` holds yet). Requests go through http.client with
the raw request target: a browser or `requests` would normalise `..` away before sending.
"""
from __future__ import annotations

import http.client
import json

import pytest

from chalicelib.stack import STACK

INDEX = b"<!doctype html><title>OpsGrat</title><script type=module src=/console/app.js></script>"
APP_JS = b"export const x = 1;\n"


@pytest.fixture(scope="module")
def console_dir(tmp_path_factory):
    base = tmp_path_factory.mktemp("console-root")
    (base / "secret.txt").write_text("outside the console\n")
    root = base / "console"
    (root / "lib").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "app.js").write_bytes(APP_JS)
    (root / "style.css").write_text("body{margin:0}\n")
    (root / "lib" / "api.js").write_text("export {};\n")
    (root / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "icon.png").write_bytes(b"\x89PNG\r\n\x1a\n")
    (root / "favicon.ico").write_bytes(b"\x00\x00\x01\x00")
    (root / "routes.json").write_text("{}")
    (root / ".hidden.js").write_text("hidden\n")
    (root / "escape.txt").symlink_to(base / "secret.txt")
    (root / "inner.js").symlink_to(root / "app.js")
    return root


@pytest.fixture(scope="module")
def server(console_dir):
    import threading

    from chalice.config import Config

    import app as app_module
    from chalicelib.local import httpd

    config = Config.create(chalice_app=app_module.app, app_name="opsgrat", lambda_timeout=900)
    local = httpd.create(app_module.app, config, "127.0.0.1", 0, console_root=console_dir)
    thread = threading.Thread(target=local.server.serve_forever, daemon=True)
    thread.start()
    yield local.server.server_address[1]
    local.shutdown()
    local.server.server_close()
    thread.join(timeout=10)


def fetch(port: int, target: str, method: str = "GET", headers: dict | None = None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, target, skip_accept_encoding=True)
        for name, value in (headers or {}).items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()


def test_root_serves_the_console_index_page(server):
    status, headers, body = fetch(server, "/")
    assert (status, headers["content-type"], body) == (200, "text/html; charset=utf-8", INDEX)


def test_root_with_a_query_string_serves_the_index_page(server):
    assert fetch(server, "/?next=%2Fjobs")[2] == INDEX


def test_index_page_carries_the_console_content_security_policy(server):
    _, headers, _ = fetch(server, "/")
    assert headers["content-security-policy"] == STACK.CONSOLE_CSP
    assert "script-src 'self'" in STACK.CONSOLE_CSP and "'unsafe-inline'" not in STACK.CONSOLE_CSP
    assert headers["x-frame-options"] == "DENY"


def test_console_responses_forbid_content_sniffing_and_ask_for_revalidation(server):
    for target in ("/", "/console/app.js", "/console/missing.js"):
        _, headers, _ = fetch(server, target)
        assert (headers["x-content-type-options"], headers["cache-control"]) == ("nosniff", "no-cache"), target


def test_asset_is_served_from_the_console_directory(server):
    status, headers, body = fetch(server, "/console/app.js")
    assert (status, body, headers["content-length"]) == (200, APP_JS, str(len(APP_JS)))


def test_asset_in_a_subdirectory_is_served(server):
    assert fetch(server, "/console/lib/api.js")[:3:2] == (200, b"export {};\n")


@pytest.mark.parametrize("name, expected", [
    ("index.html", "text/html; charset=utf-8"), ("app.js", "text/javascript; charset=utf-8"),
    ("style.css", "text/css; charset=utf-8"), ("logo.svg", "image/svg+xml"), ("icon.png", "image/png"),
    ("favicon.ico", "image/x-icon"), ("routes.json", "application/json")])
def test_asset_has_the_content_type_of_its_extension(server, name, expected):
    assert fetch(server, f"/console/{name}")[1]["content-type"] == expected


def test_script_does_not_carry_the_page_policy(server):
    assert "content-security-policy" not in fetch(server, "/console/app.js")[1]


def test_missing_file_is_a_json_404(server):
    status, headers, body = fetch(server, "/console/nope.js")
    assert (status, headers["content-type"], json.loads(body)) == (404, "application/json", {"detail": "Not found."})


def test_directory_is_a_404(server):
    assert fetch(server, "/console/lib")[0] == 404
    assert fetch(server, "/console/")[0] == 404


@pytest.mark.parametrize("target", [
    "/console/../app.py", "/console/lib/../../app.py", "/console/%2e%2e/app.py", "/console/%2E%2E/%2E%2E/app.py",
    "/console/..%2fapp.py", "/console/lib/%2e%2e/app.js", "/console/./app.js", "/console//etc/passwd",
    "/console/%2fetc/passwd", "/console/%2Fetc%2Fpasswd", "/console/..%5capp.py", "/console/app.js%00.png",
    "/console/%ff.js"])
def test_traversal_attempt_is_a_404(server, target):
    status, _, body = fetch(server, target)
    assert (status, json.loads(body)) == (404, {"detail": "Not found."}), target


def test_symlink_out_of_the_console_directory_is_a_404(server):
    assert fetch(server, "/console/escape.txt")[0] == 404


def test_symlink_inside_the_console_directory_is_served(server):
    assert fetch(server, "/console/inner.js")[2] == APP_JS


def test_hidden_file_is_a_404(server):
    assert fetch(server, "/console/.hidden.js")[0] == 404


def test_matching_if_none_match_is_a_304_without_a_body(server):
    _, headers, _ = fetch(server, "/console/app.js")
    status, again, body = fetch(server, "/console/app.js", headers={"If-None-Match": headers["etag"]})
    assert (status, body, again["etag"]) == (304, b"", headers["etag"])


def test_weak_or_listed_if_none_match_also_matches(server):
    tag = fetch(server, "/")[1]["etag"]
    assert fetch(server, "/", headers={"If-None-Match": f'"other", W/{tag}'})[0] == 304


def test_stale_etag_gets_the_file(server):
    assert fetch(server, "/console/app.js", headers={"If-None-Match": '"stale"'})[:3:2] == (200, APP_JS)


def test_changed_file_gets_a_new_etag(server, console_dir):
    path = console_dir / "style.css"
    before = fetch(server, "/console/style.css")[1]["etag"]
    path.write_text("body{margin:1px}\n")
    assert fetch(server, "/console/style.css", headers={"If-None-Match": before})[0] == 200


def test_head_sends_the_headers_without_the_body(server):
    status, headers, body = fetch(server, "/console/app.js", method="HEAD")
    assert (status, headers["content-length"], body) == (200, str(len(APP_JS)), b"")


def test_other_methods_on_console_paths_are_a_405_naming_get_and_head(server):
    for method in ("POST", "DELETE", "FOO"):
        status, headers, body = fetch(server, "/console/app.js", method=method)
        assert (status, headers["allow"], "detail" in json.loads(body)) == (405, "GET, HEAD", True), method


def test_api_paths_still_reach_the_api(server, aws_mock):
    status, headers, body = fetch(server, "/api/ping/")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    assert "content-security-policy" not in headers


def test_unknown_non_console_path_is_left_to_the_api_gateway_answer(server):
    assert fetch(server, "/index.html")[0] == 403  # what API Gateway (and chalice local) say for no route

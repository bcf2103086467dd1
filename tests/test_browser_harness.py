"""The browser harness of the console tests (tests/browser.py) against a tiny page of its own,
served by http.server from a temporary directory: it drives Debian's Chromium, reads the console
log, logs in through the console's form contract, saves screenshots, switches to a phone's width
and leaves no browser process behind."""
from __future__ import annotations

import functools
import http.server
import threading

import pytest

from tests.browser import PHONE, Browser, Console

PAGE = """<!doctype html><html><head><title>OpsGrat harness</title><link rel="icon" href="data:,"><script type="module" src="/page.js"></script>
</head><body><div id="app"><form id="login"><input name="username"><input name="password" type="password">
<button type="submit">Log in</button></form></div></body></html>"""
SCRIPT = """
document.querySelector("form#login").addEventListener("submit", (event) => {
  event.preventDefault();
  const data = new FormData(event.target);
  document.querySelector("#app").dataset.user = data.get("username");
});
if (location.hash === "#/broken") console.error("something broke");
"""


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    root = tmp_path_factory.mktemp("site")
    (root / "index.html").write_text(PAGE)
    (root / "page.js").write_text(SCRIPT)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser():
    started = Browser.start()
    yield started
    assert started.quit() == []


@pytest.fixture
def page(browser, site, tmp_path) -> Console:
    console = Console(browser.driver, site, tmp_path / "shots")
    console.reset()
    return console


def test_page_loads_in_headless_chromium_without_console_errors(page):
    page.open()
    page.wait_for("form#login")
    assert "OpsGrat" in page.title
    assert page.console_errors() == []


def test_console_error_of_the_page_is_reported(page):
    page.open("#/broken")
    page.wait_for("form#login")
    assert any("something broke" in e for e in page.console_errors())


def test_allowed_error_is_not_reported(page):
    page.allow_errors("something broke")
    page.open("#/broken")
    page.wait_for("form#login")
    assert page.console_errors() == []


def test_failed_load_is_a_console_error(page):
    page.driver.get(page.base_url + "/missing.html")
    assert any("404" in e for e in page.console_errors())


def test_login_fills_the_form_and_waits_for_the_user(page):
    page.open()
    page.login("admin", "secret")
    assert page.find("#app").get_attribute("data-user") == "admin"


def test_screenshot_is_saved_as_png(page):
    page.open()
    path = page.screenshot("login form")
    assert path.name == "login-form.png" and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_phone_switches_the_viewport_to_a_phone_width(page):
    page.open()
    page.phone()
    assert page.script("return window.innerWidth") == PHONE[0]
    page.desktop()
    assert page.script("return window.innerWidth") == 1280


def test_reset_forgets_local_storage(page):
    page.open()
    page.script("localStorage.setItem('token', 'x')")
    page.reset()
    page.open()
    assert page.script("return localStorage.getItem('token')") is None


def test_quit_leaves_no_browser_process():
    started = Browser.start()
    assert started.processes()  # the browser runs with its own profile directory
    assert started.quit() == []
    assert started.processes() == [] and not started.profile.exists()

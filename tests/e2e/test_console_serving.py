"""The shared local stack serves the web console: its page loads in headless Chromium under the
page's own Content-Security-Policy, shows the login form, and logs no console errors."""
from __future__ import annotations

import requests

from chalicelib.stack import STACK


def test_console_index_loads_in_chromium_with_the_login_form(console):
    console.open()
    console.wait_for("form#login")
    assert "OpsGrat" in console.title
    assert console.find_all("form#login input[name=username]") and console.find_all("form#login input[name=password]")
    console.screenshot("login")
    console.assert_no_console_errors()


def test_console_index_is_served_with_the_content_security_policy(stack):
    response = requests.get(stack.url + "/", timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Security-Policy"] == STACK.CONSOLE_CSP
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"


def test_console_login_form_logs_in_and_shows_the_user(console, console_admin):
    console.open()
    console.login(console_admin["username"], console_admin["password"])
    assert console.find("#app").get_attribute("data-user")
    console.screenshot("logged-in")

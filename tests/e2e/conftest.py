"""One local stack per test session, shared by every end-to-end test, stopped at the end."""
from __future__ import annotations

import pytest

from tests.localstack import RunningStack


@pytest.fixture(scope="session")
def stack(tmp_path_factory):
    # a short heartbeat so that a lost runner is noticed within seconds in the tests
    running = RunningStack(tmp_path_factory.mktemp("stack") / "home", env={"OPSGRAT_HEARTBEAT_SECONDS": "6"}).start()
    yield running
    running.stop()


@pytest.fixture
def opsgrat(stack, tmp_path):
    """The real `opsgrat` executable, connected to the shared stack as its admin."""
    from tests.cli import Opsgrat

    return Opsgrat(tmp_path, stack.url, stack.token)


# --- the web console in headless Chromium (tests/browser.py) ---------------------------------

@pytest.fixture(scope="session")
def chrome():
    """One headless Chromium (Selenium WebDriver) for the session; no process of it survives."""
    from tests.browser import Browser

    browser = Browser.start()
    yield browser.driver
    leftovers = browser.quit()
    assert leftovers == [], f"chromium processes outlived driver.quit() (killed): {leftovers}"


@pytest.fixture(scope="session")
def console_admin(stack) -> dict:
    """A superuser with a password, for logging in through the console's form."""
    import uuid

    username, password = f"console-{uuid.uuid4().hex[:8]}", "Console-pass-1"
    r = stack.http("POST", "/api/system/user/", json={"username": username, "password": password, "superuser": 1})
    assert r.status_code == 201, r.text
    return {**r.json(), "password": password}


@pytest.fixture
def console(chrome, stack, request):
    """The console of the shared stack, from a clean start (blank page, no storage of its origin,
    desktop size). At the end it saves `final.png` with the test's screenshots
    (test-output/screenshots/<test name>/) and fails the test if the browser console logged
    errors (`console.allow_errors(pattern)` for the ones a test expects)."""
    import shutil

    from tests.browser import SCREENSHOTS, Console, safe_name

    shots = SCREENSHOTS / safe_name(request.node.name)
    shutil.rmtree(shots, ignore_errors=True)  # this run's screenshots only
    page = Console(chrome, stack.url, shots)
    page.reset()
    yield page
    page.screenshot("final")
    errors = page.console_errors()
    if errors:
        pytest.fail("the browser console logged errors:\n" + "\n".join(errors), pytrace=False)


@pytest.fixture
def logged_in(console, console_admin):
    """The console, logged in through its form as the session's console superuser."""
    console.open()
    console.login(console_admin["username"], console_admin["password"])
    return console

"""Headless Chromium for the console tests and bench/console.py: Debian's `chromium` driven by
Selenium through Debian's `chromedriver` (scripts/bootstrap installs both).

Nothing is downloaded: the driver and browser paths are given, so Selenium Manager never runs
(and `SE_OFFLINE` stops it from reaching the network if some Selenium version still tries), and
the browser's own background traffic (updates, sync, field trials, QUIC) is switched off. Each
browser gets a fresh profile directory, removed again when it quits, and `quit()` checks that
no process of that profile survived.

    browser = Browser.start()
    console = Console(browser.driver, "http://127.0.0.1:8000", Path("test-output/screenshots/x"))
    console.open("#/jobs"); console.wait_for("table"); console.screenshot("jobs")
    assert console.console_errors() == []
    browser.quit()

The pytest fixtures (`chrome`, `console`) are in tests/e2e/conftest.py.
"""
from __future__ import annotations

import os
import re
import shutil
import signal
import tempfile
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
#: where tests save screenshots: test-output/screenshots/<test name>/<name>.png (git-ignored)
SCREENSHOTS = ROOT / "test-output" / "screenshots"
DESKTOP = (1280, 900)
PHONE = (390, 844)
ARGUMENTS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--no-default-browser-check", "--disable-background-networking", "--disable-component-update",
             "--disable-sync", "--disable-dev-shm-usage", "--disable-extensions", "--disable-default-apps",
             "--password-store=basic", "--mute-audio", "--disable-features=Translate,MediaRouter,OptimizationHints"]


def safe_name(name: str) -> str:
    """A test id or screenshot name as a file name (`test_x[phone-1]` -> `test_x-phone-1-`)."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "unnamed"


@dataclass
class Browser:
    """One chromedriver + Chromium pair with its own profile directory."""
    driver: object
    profile: Path

    @classmethod
    def start(cls, size: tuple[int, int] = DESKTOP) -> "Browser":
        os.environ.setdefault("SE_OFFLINE", "true")  # Selenium Manager, should it run at all: no downloads
        os.environ.setdefault("SE_AVOID_STATS", "true")
        from selenium import webdriver
        from selenium.webdriver.chrome.options import Options
        from selenium.webdriver.chrome.service import Service

        for path in (CHROMIUM, CHROMEDRIVER):
            if not os.access(path, os.X_OK):
                raise RuntimeError(f"{path} is missing: scripts/bootstrap installs chromium and chromium-driver")
        profile = Path(tempfile.mkdtemp(prefix="opsgrat-chrome-"))
        options = Options()
        options.binary_location = CHROMIUM
        for argument in ARGUMENTS:
            options.add_argument(argument)
        options.add_argument(f"--user-data-dir={profile}")
        options.add_argument(f"--window-size={size[0]},{size[1]}")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        service = Service(executable_path=CHROMEDRIVER, log_output=os.devnull)
        try:
            driver = webdriver.Chrome(service=service, options=options)
        except Exception:
            shutil.rmtree(profile, ignore_errors=True)
            raise
        driver.set_window_size(*size)
        return cls(driver, profile)

    def processes(self) -> list[int]:
        """Pids of processes still running with this browser's profile directory (its Chromium)."""
        marker = f"--user-data-dir={self.profile}".encode()
        pids = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                if marker in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:  # gone meanwhile, or not ours to read
                continue
        return pids

    def quit(self) -> list[int]:
        """Stop the browser and its driver; returns the pids that had to be killed afterwards (none,
        normally), so a caller can fail on a leak."""
        try:
            self.driver.quit()
        finally:
            leftovers = self.processes()
            for pid in leftovers:
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
            shutil.rmtree(self.profile, ignore_errors=True)
        return leftovers


class Console:
    """The console at `base_url` in a WebDriver, with the waits and checks the page tests use.

    Login form contract (console/): `form#login` with inputs `name="username"`,
    `name="password"` and a `button[type=submit]`; once logged in, `#app` has `data-user`.
    """

    def __init__(self, driver, base_url: str, screenshots: Path, timeout: float = 10):
        self.driver = driver
        self.base_url = base_url.rstrip("/")
        self.screenshots = screenshots
        self.timeout = timeout
        self._log: list[dict] = []
        self._allowed: list[str] = []

    # --- lifecycle ---------------------------------------------------------------------------

    def reset(self) -> None:
        """A clean start: a blank page, no storage or cookies of the console's origin, an empty
        HTTP cache and console log, desktop size, no allowed errors."""
        self.driver.get("about:blank")
        self.driver.execute_cdp_cmd("Storage.clearDataForOrigin", {"origin": self.base_url, "storageTypes": "all"})
        self.driver.execute_cdp_cmd("Network.clearBrowserCache", {})
        self.driver.delete_all_cookies()
        self.desktop()
        self.driver.get_log("browser")  # drains what earlier pages logged
        self._log = []
        self._allowed = []

    def desktop(self) -> None:
        self.driver.set_window_size(*DESKTOP)

    def phone(self) -> None:
        """A phone's width (390 x 844 CSS pixels)."""
        self.driver.set_window_size(*PHONE)

    # --- navigation and input ----------------------------------------------------------------

    def open(self, route: str = "") -> None:
        """The console page at a hash route (`"#/jobs/5"`), or `/` for `""`."""
        route = route if not route or route.startswith("#") else "#" + route.lstrip("/")
        self.driver.get(f"{self.base_url}/{route}")

    def login(self, username: str, password: str) -> None:
        """Fill the login form, submit it and wait until the app shows the logged-in user."""
        if not self.driver.current_url.startswith(self.base_url):
            self.open()
        self.type("form#login input[name=username]", username)
        self.type("form#login input[name=password]", password)
        self.click("form#login button[type=submit]")
        self.wait_for("#app[data-user]")

    def wait_for(self, css: str, timeout: float | None = None):
        """The first visible element matching `css`, once there is one."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout or self.timeout).until(
            ec.visibility_of_element_located((By.CSS_SELECTOR, css)), f"no visible {css!r}")

    def wait_gone(self, css: str, timeout: float | None = None) -> None:
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout or self.timeout).until(
            ec.invisibility_of_element_located((By.CSS_SELECTOR, css)), f"{css!r} still shown")

    def wait_text(self, css: str, text: str, timeout: float | None = None):
        """The first element matching `css` once its text contains `text`."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, timeout or self.timeout).until(
            ec.text_to_be_present_in_element((By.CSS_SELECTOR, css), text), f"{css!r} never showed {text!r}")
        return self.find(css)

    def find(self, css: str):
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def find_all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def click(self, css: str) -> None:
        """Click the element once it is visible and enabled."""
        from selenium.webdriver.common.by import By
        from selenium.webdriver.support import expected_conditions as ec
        from selenium.webdriver.support.ui import WebDriverWait

        WebDriverWait(self.driver, self.timeout).until(
            ec.element_to_be_clickable((By.CSS_SELECTOR, css)), f"{css!r} not clickable").click()

    def type(self, css: str, text: str, clear: bool = True) -> None:
        element = self.wait_for(css)
        if clear:
            element.clear()
        element.send_keys(text)

    def script(self, source: str, *args):
        return self.driver.execute_script(source, *args)

    @property
    def title(self) -> str:
        return self.driver.title

    # --- evidence ----------------------------------------------------------------------------

    def screenshot(self, name: str) -> Path:
        """Save the page as `<screenshots>/<name>.png`; returns the path."""
        self.screenshots.mkdir(parents=True, exist_ok=True)
        path = self.screenshots / f"{safe_name(name)}.png"
        self.driver.save_screenshot(str(path))
        return path

    def allow_errors(self, pattern: str) -> None:
        """Expect browser console errors matching the regular expression `pattern` (e.g. the
        browser's own "Failed to load resource: ... 401" when a test logs in with a bad password)."""
        self._allowed.append(pattern)

    def log(self) -> list[dict]:
        """Every browser console entry since the last reset ({level, message, source, timestamp})."""
        self._log += self.driver.get_log("browser")  # the driver hands each entry out once
        return list(self._log)

    def console_errors(self) -> list[str]:
        """The SEVERE entries (uncaught errors, failed loads, CSP violations, console.error) not
        allowed by `allow_errors`."""
        return [e["message"] for e in self.log() if e["level"] == "SEVERE"
                and not any(re.search(p, e["message"]) for p in self._allowed)]

    def assert_no_console_errors(self) -> None:
        errors = self.console_errors()
        assert not errors, "the browser console logged errors:\n" + "\n".join(errors)

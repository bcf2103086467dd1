"""Console first load (issue 15): bytes transferred and time to the dashboard's first paint in
headless Chromium on the local stack, against a baseline measured in the same run.

Each round starts from an empty HTTP cache (CDP `Network.clearBrowserCache`) and measures, with
the browser's own Performance API (Navigation + Resource Timing, `first-contentful-paint`):

  * login:     `/` opened with no token (the login page's first contentful paint), the form
               submitted, and the time from the submit to the dashboard painted;
  * dashboard: `/` opened again with the token saved by that login, cache emptied: everything a
               returning user's browser fetches (the console's files and its API calls) and the
               time from navigation start to the dashboard painted (the headline number);
  * warm:      the same load with the HTTP cache kept (the files are revalidated, 304s);
  * baseline:  the smallest page the same server sends, `/api/ping/` opened as a document, cold:
               the floor of one round trip and one paint in this browser on this machine.

"Dashboard painted" is two animation frames after the dashboard's content (`--ready`, default
`.dash:not([hidden]) [data-count]`: a count card filled from the API) entered the page; a
MutationObserver installed before any page script (CDP) records the moment, so no polling delay
is measured. Prints the medians and the ratios dashboard/baseline for time and bytes.

Run: `.venv/bin/python bench/console.py [--rounds N] [--ready CSS]`. The summary is also written to
/tmp/bench-console.txt.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.browser import Browser, Console  # noqa: E402
from tests.localstack import RunningStack  # noqa: E402

OUTPUT = Path("/tmp/bench-console.txt")
READY = ".dash:not([hidden]) [data-count]"
_lines: list[str] = []

#: installed before any script of every document (CDP): records when `READY` first shows, painted
MARKER = """(() => {
  const selector = %r;
  let seen = false;
  const check = () => {
    if (seen || !document.querySelector(selector)) return;
    seen = true;
    requestAnimationFrame(() => requestAnimationFrame(() => { window.__benchPainted = performance.now(); }));
  };
  new MutationObserver(check).observe(document, {subtree: true, childList: true, attributes: true});
})();"""

#: what the Performance API says about the current document
MEASURE = """
const nav = performance.getEntriesByType('navigation')[0];
const paint = performance.getEntriesByName('first-contentful-paint')[0];
const resources = performance.getEntriesByType('resource').map(r => ({
  name: r.name, transfer: r.transferSize, encoded: r.encodedBodySize, decoded: r.decodedBodySize,
  start: r.startTime, end: r.responseEnd}));
return {transfer: nav.transferSize, encoded: nav.encodedBodySize, decoded: nav.decodedBodySize,
        responseEnd: nav.responseEnd, domContentLoaded: nav.domContentLoadedEventEnd,
        fcp: paint ? paint.startTime : null, painted: window.__benchPainted ?? null, resources};
"""


def say(line: str = "") -> None:
    print(line, flush=True)
    _lines.append(line)


def painted(page: Console, timeout: float = 30) -> float:
    """`performance.now()` at which the dashboard was painted (the marker's record)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = page.script("return window.__benchPainted ?? null")
        if value is not None:
            return value
        time.sleep(0.01)
    raise SystemExit("the dashboard was never painted (check --ready)")


def measure(page: Console) -> dict:
    data = page.script(MEASURE)
    files = [r for r in data["resources"] if "/console/" in r["name"]]
    api = [r for r in data["resources"] if "/api/" in r["name"]]
    data["bytes"] = data["transfer"] + sum(r["transfer"] for r in data["resources"])
    data["body_bytes"] = data["decoded"] + sum(r["decoded"] for r in data["resources"])
    data["requests"] = 1 + len(data["resources"])
    data["file_bytes"] = data["transfer"] + sum(r["transfer"] for r in files)
    data["api_bytes"] = sum(r["transfer"] for r in api)
    data["api_requests"] = len(api)
    # where the time goes: the last console file and the last API answer, from navigation start
    data["files_done"] = max([data["responseEnd"], *(r["end"] for r in files)])
    data["api_done"] = max([0, *(r["end"] for r in api)])
    data["api_slowest"] = max([0, *(r["end"] - r["start"] for r in api)])
    return data


def cold(page: Console) -> None:
    page.driver.get("about:blank")
    page.driver.execute_cdp_cmd("Network.clearBrowserCache", {})


def login_round(page: Console, user: dict, ready: str) -> dict:
    page.reset()  # no token, no cache
    page.open()
    page.wait_for("form#login")
    first = measure(page)
    page.type("form#login input[name=username]", user["username"])
    page.type("form#login input[name=password]", user["password"])
    submitted = page.script("return performance.now()")
    page.click("form#login button[type=submit]")
    page.wait_for(ready, timeout=30)
    return {"login_fcp": first["fcp"], "login_page_bytes": first["bytes"],
            "submit_to_dashboard": painted(page) - submitted}


def dashboard_round(page: Console, ready: str, keep_cache: bool = False) -> dict:
    if keep_cache:
        page.driver.get("about:blank")
    else:
        cold(page)
    page.open()
    page.wait_for(ready, timeout=30)
    painted(page)
    return measure(page)


def baseline_round(page: Console) -> dict:
    cold(page)
    page.driver.get(page.base_url + "/api/ping/")
    page.wait_for("body")
    deadline = time.monotonic() + 10
    data = measure(page)
    while data["fcp"] is None and time.monotonic() < deadline:
        time.sleep(0.01)
        data = measure(page)
    return data


def median(rows: list[dict], key: str) -> float:
    return statistics.median(r[key] for r in rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--ready", default=READY, help="CSS of the dashboard's content once loaded")
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-console-"))
    stack = RunningStack(tmp / "home").start()
    browser = None
    try:
        user = {"username": f"bench-{uuid.uuid4().hex[:6]}", "password": "Bench-pass-1"}
        r = stack.http("POST", "/api/system/user/", json={**user, "superuser": 1})
        if r.status_code != 201:
            raise SystemExit(f"creating the bench user: {r.status_code} {r.text}")
        browser = Browser.start()
        page = Console(browser.driver, stack.url, tmp / "shots", timeout=30)
        page.driver.execute_cdp_cmd("Page.addScriptToEvaluateOnNewDocument", {"source": MARKER % args.ready})

        login_round(page, user, args.ready)  # warm-up: the stack's first requests, Chromium's caches
        logins, dashboards, warms, baselines = [], [], [], []
        for _ in range(args.rounds):
            baselines.append(baseline_round(page))
            logins.append(login_round(page, user, args.ready))
            dashboards.append(dashboard_round(page, args.ready))
            warms.append(dashboard_round(page, args.ready, keep_cache=True))
        errors = page.console_errors()

        d = dashboards[-1]
        say(f"Console first load, headless Chromium on the local stack ({args.rounds} rounds, medians)")
        say(f"  dashboard, cold cache, saved token: {median(dashboards, 'painted'):7.0f} ms to the dashboard painted"
            f" (first contentful paint {median(dashboards, 'fcp'):.0f} ms)")
        say(f"      transferred {median(dashboards, 'bytes') / 1024:7.1f} KiB in {d['requests']} requests"
            f" (console files {median(dashboards, 'file_bytes') / 1024:.1f} KiB,"
            f" API {median(dashboards, 'api_bytes') / 1024:.1f} KiB in {d['api_requests']} calls;"
            f" {median(dashboards, 'body_bytes') / 1024:.1f} KiB uncompressed bodies)")
        say(f"      last console file at {median(dashboards, 'files_done'):.0f} ms, last API answer at"
            f" {median(dashboards, 'api_done'):.0f} ms (slowest call {median(dashboards, 'api_slowest'):.0f} ms)")
        say(f"  dashboard, warm cache (304s):       {median(warms, 'painted'):7.0f} ms,"
            f" {median(warms, 'bytes') / 1024:.1f} KiB transferred")
        say(f"  login page, cold: first contentful paint {median(logins, 'login_fcp'):.0f} ms,"
            f" {median(logins, 'login_page_bytes') / 1024:.1f} KiB;"
            f" submit -> dashboard painted {median(logins, 'submit_to_dashboard'):.0f} ms")
        say(f"  baseline /api/ping/ as a page, cold: {median(baselines, 'fcp'):7.0f} ms to first paint,"
            f" {median(baselines, 'bytes')} bytes")
        say(f"  ratio dashboard/baseline: time {median(dashboards, 'painted') / median(baselines, 'fcp'):.1f}x,"
            f" bytes {median(dashboards, 'bytes') / median(baselines, 'bytes'):.0f}x")
        say(f"  browser console errors: {len(errors)}" + "".join(f"\n    {e}" for e in errors))
        largest = sorted(d["resources"], key=lambda r: -r["transfer"])[:5]
        say("  largest transfers: " + ", ".join(f"{r['name'].split(stack.url)[-1]} {r['transfer'] / 1024:.1f} KiB"
                                                for r in largest))
        OUTPUT.write_text("\n".join(_lines) + "\n")
    finally:
        if browser is not None:
            leftovers = browser.quit()
            if leftovers:
                print(f"killed chromium processes that outlived quit(): {leftovers}", file=sys.stderr)
        stack.stop()


if __name__ == "__main__":
    main()

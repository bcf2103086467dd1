"""The console's job pages in headless Chromium against the shared local stack: from an empty
inventory to a job's live output through the console's own pages, and the job page's failed
hosts, cancel, relaunch of failed hosts, ANSI colours, launch errors and phone width.

Only the walkthrough creates its inventory, project and template through the pages; the other
tests share one synced project, inventory and templates made through the API (module scope)."""
from __future__ import annotations

import re
import uuid

import pytest

from tests.gitrepo import make_repo
from tests.playbooks import FAIL, sleeping

pytestmark = pytest.mark.e2e

#: prints a line, waits a second, six times: a window in which some but not all lines are out
TICKS = """- hosts: all
  gather_facts: false
  tasks:
    - name: tick
      debug:
        msg: "tick {{ item }} for {{ who | default('nobody') }}"
      loop: [1, 2, 3, 4, 5, 6]
      loop_control:
        pause: 1
"""
PLAYBOOKS = {
    "ticks.yml": TICKS,
    "fail.yml": FAIL,
    "sleep.yml": sleeping(300),
}
#: seconds: a job on the shared 2-core machine waits for a runner, checks out and runs ansible
JOB_TIMEOUT = 120


@pytest.fixture(scope="module")
def templates(stack, tmp_path_factory):
    """One synced project of PLAYBOOKS, a localhost inventory and a template per playbook."""
    return stack.playbook_templates(tmp_path_factory.mktemp("console-jobs"), PLAYBOOKS, f"console jobs {uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def failed_job(stack, templates):
    """A finished job of fail.yml (its one host failed)."""
    r = stack.http("POST", "/api/template/template/run/", json={"id": templates["fail.yml"]["id"]})
    assert r.status_code == 201, r.text
    job = stack.wait_job(r.json()["id"], timeout=JOB_TIMEOUT)
    assert job["state"] == "failed", job
    return job


def _wait(console, condition, timeout, message):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(console.driver, timeout, poll_frequency=0.1).until(lambda d: condition(), message)


def _routed_id(console, pattern: str, timeout: float = 20, other_than: int | None = None) -> int:
    """The id in the URL once the console went to a page matching `pattern` ("/r/inventory/(\\d+)")
    (and, given `other_than`, of another record than that one)."""
    regex = re.compile(r"#" + pattern + r"(?:\?|$)")

    def routed():
        match = regex.search(console.driver.current_url)
        return match if match and int(match.group(1)) != other_than else None

    return int(_wait(console, routed, timeout, f"the console never went to {pattern}").group(1))


def _state_and_output(console) -> tuple[str | None, str]:
    """The job page's state and output text, read in one go (no change in between)."""
    return tuple(console.script(
        "const s = document.querySelector('#job-state'), o = document.querySelector('#job-output');"
        "return [s ? s.dataset.state : null, o ? o.textContent : ''];"))


def _wait_state(console, state: str, timeout: float = JOB_TIMEOUT) -> None:
    console.wait_for(f"#job-state[data-state={state}]", timeout)


def _select(console, css: str, value) -> None:
    from selenium.webdriver.support.ui import Select

    Select(console.wait_for(css)).select_by_value(str(value))


def _submit(console, family: str) -> None:
    console.click(f"form[data-family={family}] button[type=submit]")


def test_walkthrough_from_inventory_to_live_output(logged_in, stack, tmp_path):
    console = logged_in
    name = f"console walkthrough {uuid.uuid4().hex[:8]}"
    # an inventory with one host, reached through the local connection
    console.open("#/r/inventory/new")
    console.type("form[data-family=inventory] input[name=name]", name)
    _submit(console, "inventory")
    inventory = _routed_id(console, r"/r/inventory/(\d+)")
    console.open(f"#/r/host/new?inventory={inventory}")
    console.type("form[data-family=host] input[name=hostname]", "localhost")
    console.type("form[data-family=host] textarea[name=variables]", "ansible_connection: local")
    _submit(console, "host")
    _routed_id(console, r"/r/host/(\d+)")
    # a project of a real git repository, synced from its page
    repo = make_repo(tmp_path, {"ticks.yml": TICKS})
    console.open("#/r/project/new")
    console.type("form[data-family=project] input[name=name]", name)
    console.type("form[data-family=project] input[name=repository_url]", f"file://{repo}")
    console.type("form[data-family=project] input[name=branch_specifier]", "main")
    _submit(console, "project")
    project = _routed_id(console, r"/r/project/(\d+)")
    console.click("button[data-action=sync]")
    sync = _routed_id(console, r"/jobs/(\d+)")
    _wait_state(console, "successful")
    assert stack.http("GET", f"/api/job/job/{sync}/").json()["kind"] == "project_update"
    # a template of its playbook, launched with an extra variable
    console.open("#/r/template/new")
    console.type("form[data-family=template] input[name=name]", name)
    _select(console, "form[data-family=template] select[name=project]", project)
    console.type("form[data-family=template] input[name=playbook]", "ticks.yml")
    _select(console, "form[data-family=template] select[name=inventory]", inventory)
    _submit(console, "template")
    template = _routed_id(console, r"/r/template/(\d+)")
    console.click("button[data-action=launch]")
    assert _routed_id(console, r"/templates/(\d+)/launch") == template
    console.type("form#launch textarea[name=variables]", "who: console")
    console.screenshot("launch")
    console.click("form#launch button[type=submit]")
    job = _routed_id(console, r"/jobs/(\d+)")

    def partial():
        state, text = _state_and_output(console)
        return state == "running" and "tick 1 for console" in text and "tick 6" not in text

    _wait(console, partial, JOB_TIMEOUT, "the output never showed some but not all lines while the job ran")
    console.screenshot("job-running")
    _wait_state(console, "successful")
    console.wait_for("#job-output[data-done=true]")  # late events read too
    state, text = _state_and_output(console)
    assert [f"tick {n} for console" in text for n in range(1, 7)] == [True] * 6
    assert "PLAY RECAP" in text
    assert text.count("tick 3 for console") == 1  # each line once, however many polls saw it
    assert stack.http("GET", f"/api/job/job/{job}/").json()["template"] == template
    console.screenshot("job-done")


def test_failing_job_shows_its_failed_hosts(logged_in, failed_job):
    logged_in.open(f"#/jobs/{failed_job['id']}")
    _wait_state(logged_in, "failed")
    logged_in.click("#tab-hosts")
    row = logged_in.wait_for("#panel-hosts tr[data-host=localhost]")
    assert row.get_attribute("data-failed") == "true"
    assert row.find_element("css selector", "td[data-field=failures]").text == "1"
    assert logged_in.find_all("#panel-hosts tr[data-failed=false]") == []


def test_ansible_colours_render_as_ansi_classes(logged_in, failed_job):
    logged_in.open(f"#/jobs/{failed_job['id']}")
    _wait_state(logged_in, "failed")
    red = logged_in.wait_for("#job-output .line span.ansi-fg-31")
    assert "this play fails on purpose" in " ".join(s.text for s in logged_in.find_all("#job-output .line span.ansi-fg-31"))
    assert "\x1b" not in logged_in.find("#job-output").text and red.text


def test_relaunch_failed_hosts_opens_a_new_job_limited_to_them(logged_in, stack, failed_job):
    logged_in.open(f"#/jobs/{failed_job['id']}")
    logged_in.click("#job-relaunch-failed")
    new = _routed_id(logged_in, r"/jobs/(\d+)", other_than=failed_job["id"])
    logged_in.wait_text(".job-head h1", f"Job {new}")
    job = stack.http("GET", f"/api/job/job/{new}/").json()
    assert (job["relaunch_of"], job["limit"], job["template"]) == (failed_job["id"], "localhost", failed_job["template"])


def test_cancel_from_the_page_ends_the_job_canceled(logged_in, stack, templates):
    r = stack.http("POST", "/api/template/template/run/", json={"id": templates["sleep.yml"]["id"]})
    assert r.status_code == 201, r.text
    job = r.json()["id"]
    logged_in.open(f"#/jobs/{job}")
    _wait_state(logged_in, "running")
    logged_in.click("#job-cancel")
    _wait_state(logged_in, "canceled", timeout=60)
    assert logged_in.find_all("#job-cancel") == []
    assert stack.http("GET", f"/api/job/job/{job}/").json()["state"] == "canceled"


def test_launch_error_shows_on_the_field_it_names(logged_in, stack, templates):
    logged_in.allow_errors(r"run/ - Failed to load resource: .* 400")  # the browser logs the refused POST itself
    template = templates["ticks.yml"]
    before = stack.http("GET", "/api/job/job/", params={"template": template["id"]}).json()["count"]
    logged_in.open(f"#/templates/{template['id']}/launch")
    logged_in.type("form#launch textarea[name=variables]", "- not a mapping")
    logged_in.click("form#launch button[type=submit]")
    label = logged_in.wait_for("form#launch label[data-field=variables].invalid")
    assert "mapping" in label.find_element("css selector", ".field-error").text
    assert stack.http("GET", "/api/job/job/", params={"template": template["id"]}).json()["count"] == before


def test_job_page_fits_a_phone_width(logged_in, failed_job):
    logged_in.phone()
    logged_in.open(f"#/jobs/{failed_job['id']}")
    _wait_state(logged_in, "failed")
    logged_in.wait_for("#job-output .line")
    logged_in.screenshot("job-phone")
    assert logged_in.script("return document.documentElement.scrollWidth <= window.innerWidth")

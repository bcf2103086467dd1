"""The console's dashboard and activity pages in headless Chromium against the shared stack: the
cards show the numbers GET /api/dashboard/ reports, a job that finishes while the page shows
appears in the recent jobs and in today's bar, and the activity page lists what was just done
through the API (with its changed fields, secrets masked), only the user's own for a
non-superuser."""
from __future__ import annotations

import datetime
import uuid

import requests

HELLO = "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: msg=hello\n"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def as_user(stack, token: str, method: str, path: str, **kwargs) -> requests.Response:
    """A request with another user's token (stack.http is the admin's)."""
    return requests.request(method, stack.url + path, headers={"Authorization": f"Token {token}"}, timeout=60, **kwargs)


def page_token(console) -> str:
    """The token the console logged in with."""
    return console.script("return localStorage.getItem('opsgrat.token')")


def dashboard_loaded(console) -> None:
    console.open("#/")
    console.wait_for("#page .dash[data-loaded] .dash-counts [data-count]", timeout=20)


def shown_counts(console) -> dict[str, int | None]:
    """data-count -> the number on the card ("—" is None)."""
    return console.script("""
      const out = {};
      for (const card of document.querySelectorAll('.dash-counts [data-count]')) {
        const text = card.querySelector('.value').textContent.trim();
        out[card.dataset.count] = text === '—' ? null : Number(text);
      }
      return out;""")


def expected_counts(dashboard: dict) -> dict[str, int | None]:
    """What the cards must show for a dashboard answer (a null count has no card)."""
    out = {key: value for key, value in dashboard["counts"].items() if value is not None}
    out.update({("jobs" if state == "total" else f"jobs.{state}"): n for state, n in dashboard["jobs"].items()})
    return out


def test_the_dashboard_shows_the_counts_the_api_reports(logged_in, stack, tmp_path):
    inventory = stack.local_inventory(unique("dash-counts"))
    for name in ("web1", "web2"):
        r = stack.http("POST", "/api/project/host/", json={"inventory": inventory["id"], "hostname": name})
        assert r.status_code == 201, r.text
    r = stack.http("POST", "/api/project/credential/", json={"name": unique("dash-ssh"), "type": "user_pwd",
                                                          "user_name": "root", "password": "s3cret-pw"})
    assert r.status_code == 201, r.text
    dashboard_loaded(logged_in)
    token = page_token(logged_in)

    # other tests' schedules may finish a job at any time: the page refreshes every few seconds,
    # so wait until a refresh shows the answer of one request (then both are the same moment's)
    def same(_driver) -> bool:
        answer = as_user(stack, token, "GET", "/api/dashboard/").json()
        same.last = (expected_counts(answer), shown_counts(logged_in))
        return same.last[0] == same.last[1]

    from selenium.webdriver.support.ui import WebDriverWait

    try:
        WebDriverWait(logged_in.driver, 20, poll_frequency=1).until(same)
    finally:
        expected, shown = same.last
        assert shown == expected
    assert expected["hosts"] >= 3 and expected["credentials"] >= 1 and expected["inventories"] >= 1
    logged_in.screenshot("dashboard-1280")
    logged_in.phone()
    logged_in.wait_for(".dash-counts [data-count=hosts]")
    assert logged_in.script("return document.documentElement.scrollWidth <= document.documentElement.clientWidth")
    logged_in.screenshot("dashboard-390")


def test_a_job_that_finishes_shows_in_recent_jobs_and_in_todays_bar(logged_in, stack, tmp_path):
    templates = stack.playbook_templates(tmp_path, {"hello.yml": HELLO}, unique("dash-job"))
    dashboard_loaded(logged_in)
    job = stack.http("POST", "/api/template/template/run/", json={"id": templates["hello.yml"]["id"]}).json()
    finished = stack.wait_job(job["id"])
    assert finished["state"] == "successful"
    # the page asks again every few seconds: the job appears without a reload
    logged_in.wait_for(f'.dash-recent tr[data-id="{job["id"]}"] [data-state="successful"]', timeout=20)
    link = logged_in.find(f'.dash-recent tr[data-id="{job["id"]}"] a')
    assert link.get_attribute("href").endswith(f"#/jobs/{job['id']}")
    today = datetime.datetime.fromtimestamp(finished["finish_time"], datetime.UTC).date().isoformat()  # a UTC day
    bar = logged_in.wait_for(f'svg.chart g.day[data-date="{today}"] rect.ok')
    day = bar.find_element("xpath", "..")
    assert int(day.get_attribute("data-successful")) >= 1
    tooltip = logged_in.script("return arguments[0].querySelector('title').textContent", day)
    assert tooltip.startswith(f"{today}: {day.get_attribute('data-successful')} successful")
    logged_in.screenshot("dashboard-after-job")


def test_the_activity_page_lists_an_api_action_with_its_changed_fields(logged_in, stack):
    name = unique("dash-tag")
    tag = stack.http("POST", "/api/system/tag/", json={"tag": name, "comment": "made for the activity page"}).json()
    logged_in.open("#/activity")
    row = logged_in.wait_for(f'table.activity tr[data-family="tag"][data-object="{tag["id"]}"][data-action="create"]',
                             timeout=15)
    assert row.find_element("css selector", 'li[data-field="tag"]').text == f"tag: {name}"
    assert "made for the activity page" in row.find_element("css selector", 'li[data-field="comment"]').text
    assert row.find_element("css selector", "a").get_attribute("href").endswith(f"#/r/tag/{tag['id']}")
    logged_in.screenshot("activity-1280")
    logged_in.phone()
    logged_in.screenshot("activity-390")


def test_a_secret_in_the_activity_stream_is_shown_masked(logged_in, stack):
    password = "never-" + uuid.uuid4().hex
    credential = stack.http("POST", "/api/project/credential/", json={
        "name": unique("dash-secret"), "type": "user_pwd", "user_name": "root", "password": password}).json()
    logged_in.open(f"#/activity?family=credential&object={credential['id']}")
    row = logged_in.wait_for(f'table.activity tr[data-object="{credential["id"]}"][data-action="create"]', timeout=15)
    assert row.find_element("css selector", 'li[data-field="password"]').text == "password: $encrypted$"
    assert password not in logged_in.find("#page").get_attribute("textContent")


def test_the_filters_narrow_the_list_and_stay_in_the_url(logged_in, stack):
    first = stack.http("POST", "/api/system/tag/", json={"tag": unique("dash-one")}).json()
    second = stack.http("POST", "/api/system/tag/", json={"tag": unique("dash-two")}).json()
    logged_in.open("#/activity")
    logged_in.wait_for(f'table.activity tr[data-family="tag"][data-object="{second["id"]}"]', timeout=15)
    from selenium.webdriver.support.ui import Select

    Select(logged_in.find(".activity-filters select[name=family]")).select_by_value("tag")
    logged_in.type(".activity-filters input[name=object]", str(first["id"]))
    logged_in.wait_gone(f'table.activity tr[data-object="{second["id"]}"]')
    rows = logged_in.find_all("table.activity tbody tr")
    assert rows and {(r.get_attribute("data-family"), r.get_attribute("data-object")) for r in rows} == {
        ("tag", str(first["id"]))}
    assert f"family=tag&object={first['id']}" in logged_in.driver.current_url


def test_a_non_superuser_sees_only_their_own_activity(console, stack):
    username, password = unique("dash-user"), "Dash-pass-123"
    r = stack.http("POST", "/api/system/user/", json={"username": username, "password": password})
    assert r.status_code == 201, r.text
    admins = stack.http("POST", "/api/system/tag/", json={"tag": unique("dash-admin")}).json()
    console.open()
    console.login(username, password)
    console.open("#/activity")
    console.wait_for("table.activity tr[data-action=login]", timeout=15)  # their own login
    who = {cell.text for cell in console.find_all("table.activity td.who")}
    assert who == {username}
    assert not console.find_all(f'table.activity tr[data-family="tag"][data-object="{admins["id"]}"]')
    # the filter of users is for superusers: a user sees theirs anyway
    assert not console.find_all(".activity-filters input[name=user]")
    console.screenshot("activity-own")

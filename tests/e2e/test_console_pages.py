"""The console's generic pages in headless Chromium: every menu page opens without errors, the
record form creates and edits through the API, a refused field is marked, secrets stay
write-only, and the shell works from the keyboard and at a phone's width."""
from __future__ import annotations

import uuid

import pytest

#: every page of the menu (console/lib/menu.js), by its route
MENU_ROUTES = ["#/", "#/activity", "#/r/template", "#/r/job", "#/r/schedule", "#/r/project", "#/r/inventory",
               "#/r/credential", "#/r/execution_environment", "#/r/notification", "#/r/email_setting",
               "#/r/dingtalk_setting", "#/r/wecom_setting", "#/r/user", "#/r/team", "#/r/job_settings",
               "#/r/environment_variable", "#/r/module", "#/r/tag"]


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def settled(console) -> None:
    """Wait until the page drew itself: it shows a heading and no spinner."""
    console.wait_for("#page h1")
    console.wait_gone("#page .loading", timeout=15)


@pytest.mark.parametrize("route", MENU_ROUTES)
def test_every_menu_page_opens_without_errors(logged_in, route):
    logged_in.open(route)
    settled(logged_in)
    assert "Something went wrong" not in logged_in.find("#page").text
    link = logged_in.find(f'#menu a[href="{route}"]')
    assert link.get_attribute("aria-current") == "page"
    logged_in.screenshot("page")


def test_the_account_page_shows_the_user_and_their_token(logged_in, console_admin):
    logged_in.click("header a.user")
    logged_in.wait_text("#page h1", "Your account")
    assert console_admin["username"] in logged_in.find("#page").text
    logged_in.click("#page button:not(.danger)")  # Show
    assert len(logged_in.find("#my-token").text) >= 32


def test_the_login_form_refuses_a_wrong_password(console, console_admin):
    console.allow_errors(r"status of 400")
    console.open()
    console.type("form#login input[name=username]", console_admin["username"])
    console.type("form#login input[name=password]", "not-the-password")
    console.click("form#login button[type=submit]")
    console.wait_text("form#login .form-error", "Unable to log in")
    assert console.find_all("#app[data-user]") == []


def test_a_token_logs_in_too(console, stack):
    console.open()
    console.click("form#login summary")
    console.type("form#login input[name=token]", stack.token)
    console.click("form#login button[type=submit]")
    console.wait_for("#app[data-user]")


def test_the_form_creates_a_record_and_opens_it(logged_in, stack):
    name = unique("tag")
    logged_in.open("#/r/tag/new")
    logged_in.type("form[data-family=tag] [name=tag]", name)
    logged_in.type("form[data-family=tag] [name=comment]", "made in the console")
    logged_in.click("form[data-family=tag] button[type=submit]")
    logged_in.wait_text("#page h1", name)
    rows = stack.http("GET", "/api/system/tag/", params={"tag": name}).json()["results"]
    assert [r["comment"] for r in rows] == ["made in the console"]


def test_an_edit_sends_only_what_changed(logged_in, stack):
    tag = stack.http("POST", "/api/system/tag/", json={"tag": unique("tag"), "comment": "before"}).json()
    logged_in.open(f"#/r/tag/{tag['id']}")
    logged_in.type("form[data-family=tag] [name=comment]", "after")
    logged_in.click("form[data-family=tag] button[type=submit]")
    logged_in.wait_text("#page .notice", "Saved.")
    assert stack.http("GET", f"/api/system/tag/{tag['id']}/").json()["comment"] == "after"


def test_a_refused_field_is_marked_on_the_form(logged_in, stack):
    logged_in.allow_errors(r"status of 400")
    taken = stack.http("POST", "/api/system/tag/", json={"tag": unique("tag")}).json()["tag"]
    logged_in.open("#/r/tag/new")
    logged_in.type("form[data-family=tag] [name=tag]", taken)
    logged_in.click("form[data-family=tag] button[type=submit]")
    label = logged_in.wait_for("label.invalid[data-field=tag]")
    assert "already exists" in label.text
    logged_in.screenshot("refused")


def test_a_stored_secret_is_never_put_in_the_page(logged_in, stack):
    secret = "console-secret-" + uuid.uuid4().hex
    cred = stack.http("POST", "/api/project/credential/",
                      json={"name": unique("cred"), "type": "ssh", "user_name": "root", "password": secret}).json()
    logged_in.open(f"#/r/credential/{cred['id']}")
    field = logged_in.wait_for("form[data-family=credential] [name=password]")
    assert field.get_attribute("type") == "password"
    assert field.get_attribute("value") == ""
    assert "stored" in field.get_attribute("placeholder")
    assert secret not in logged_in.driver.page_source
    # saving another field keeps the stored secret (the form does not send the empty password)
    logged_in.type("form[data-family=credential] [name=user_name]", "deploy")
    logged_in.click("form[data-family=credential] button[type=submit]")
    logged_in.wait_text("#page .notice", "Saved.")
    saved = stack.http("GET", f"/api/project/credential/{cred['id']}/").json()
    assert (saved["user_name"], saved["password"]) == ("deploy", "$encrypted$")


def test_a_record_page_lists_what_it_owns_in_tabs(logged_in, stack):
    inventory = stack.http("POST", "/api/project/inventory/", json={"name": unique("inv")}).json()
    stack.http("POST", "/api/project/host/", json={"hostname": "tab-host", "inventory": inventory["id"]})
    logged_in.open(f"#/r/inventory/{inventory['id']}")
    logged_in.click('.tabs [data-tab="Hosts"]')
    logged_in.wait_text("table[data-family=host]", "tab-host")
    logged_in.screenshot("inventory-hosts")


def test_a_host_added_from_its_inventory_belongs_to_it(logged_in, stack):
    inventory = stack.http("POST", "/api/project/inventory/", json={"name": unique("inv")}).json()
    logged_in.open(f"#/r/host/new?inventory={inventory['id']}")
    form = "form[data-family=host]"
    assert logged_in.wait_for(f"{form} [name=inventory]").get_attribute("disabled") is not None
    logged_in.type(f"{form} [name=hostname]", "added-host")
    logged_in.click(f"{form} button[type=submit]")
    logged_in.wait_text("#page h1", "added-host")
    hosts = stack.http("GET", "/api/project/host/", params={"inventory": inventory["id"]}).json()["results"]
    assert [h["hostname"] for h in hosts] == ["added-host"]


def test_search_narrows_the_list_as_the_user_types(logged_in, stack):
    marker = uuid.uuid4().hex[:10]
    for n in range(3):
        stack.http("POST", "/api/system/tag/", json={"tag": f"find-{marker}-{n}"})
    logged_in.open("#/r/tag")
    logged_in.type("input[name=search]", f"{marker}-1")
    logged_in.wait_text(".pager [data-count]", "of 1")
    assert f"find-{marker}-1" in logged_in.find("table[data-family=tag]").text


def test_the_skip_link_and_the_menu_are_reached_with_the_keyboard(logged_in):
    from selenium.webdriver.common.keys import Keys

    logged_in.open("#/r/tag")
    settled(logged_in)
    body = logged_in.find("body")
    body.send_keys(Keys.TAB)
    assert logged_in.script("return document.activeElement.className") == "skip"
    reached = []
    for _ in range(8):
        logged_in.driver.switch_to.active_element.send_keys(Keys.TAB)
        reached.append(logged_in.script("return document.activeElement.getAttribute('href')"))
    assert "#/" in reached


def test_at_a_phone_width_the_menu_opens_from_its_button(logged_in):
    logged_in.phone()
    logged_in.open("#/r/inventory")
    settled(logged_in)
    assert not logged_in.find("#menu").is_displayed()
    logged_in.click("button.menu-toggle")
    logged_in.wait_for("#menu a[href='#/r/tag']")
    logged_in.screenshot("phone-menu")
    logged_in.click("#menu a[href='#/r/tag']")
    logged_in.wait_text("#page h1", "Tags")
    assert not logged_in.find("#menu").is_displayed()

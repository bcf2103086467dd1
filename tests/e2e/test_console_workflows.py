"""The console's workflow pages in headless Chromium against the shared local stack: the designer
(#/templates/:id/workflow) draws and saves a graph and shows what the API refuses on the node it
names; a launched workflow's graph (#/jobs/:id/workflow) follows its nodes' states to the end;
the schedule preview (#/schedules/:id/preview) lists a schedule's next runs.

The job templates are real playbook jobs on localhost (tests/localstack.py playbook_templates());
workflows that a test does not draw itself are built through the API, as tests/e2e/test_workflows.py
builds them."""
from __future__ import annotations

import secrets

import pytest

pytestmark = pytest.mark.e2e

PLAYBOOKS = {
    "first.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: {msg: first}\n",
    "second.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: {msg: second}\n",
    "third.yml": "- hosts: all\n  gather_facts: false\n  tasks:\n    - debug: {msg: third}\n",
}
#: the API's refusals that tests provoke show in the browser's console as failed loads
REFUSED = r"Failed to load resource: the server responded with a status of 400"


@pytest.fixture(scope="module")
def templates(stack, tmp_path_factory) -> dict[str, dict]:
    """Three job templates that succeed, by playbook."""
    return stack.playbook_templates(tmp_path_factory.mktemp("console-wf"), PLAYBOOKS, f"cwf-{secrets.token_hex(3)}")


def new_workflow(stack) -> dict:
    r = stack.http("POST", "/api/template/template/", json={"name": f"console wf {secrets.token_hex(3)}",
                                                            "template_type": "workflow"})
    assert r.status_code == 201, r.text
    return r.json()


def graph(stack, workflow_id: int) -> dict:
    r = stack.http("GET", f"/api/template/template/{workflow_id}/workflow/")
    assert r.status_code == 200, r.text
    return r.json()


def chain(stack, workflow_id: int, names_and_templates: list[tuple[str, int]]) -> dict[str, int]:
    """start → each node in turn, on success, placed left to right; node ids by name."""
    ids = {"Start": next(n["id"] for n in graph(stack, workflow_id)["nodes"] if n["is_start_node"])}
    previous = "Start"
    for i, (name, template_id) in enumerate(names_and_templates, start=1):
        r = stack.http("POST", "/api/template/workflow/node/", json={
            "template": workflow_id, "name": name, "type": "job", "bind_template": template_id, "left": 250 * i, "top": 30})
        assert r.status_code == 201, r.text
        ids[name] = r.json()["id"]
        r = stack.http("POST", "/api/template/workflow/line/", json={"node": ids[previous], "next_node": ids[name],
                                                                    "result": "successful"})
        assert r.status_code == 201, r.text
        previous = name
    return ids


def chain_from(stack, workflow_id: int, source: int, name: str, template_id: int) -> dict[str, int]:
    """A job node `name` after node `source`, on success."""
    r = stack.http("POST", "/api/template/workflow/node/", json={
        "template": workflow_id, "name": name, "type": "job", "bind_template": template_id, "left": 500, "top": 30})
    assert r.status_code == 201, r.text
    node = r.json()["id"]
    r = stack.http("POST", "/api/template/workflow/line/", json={"node": source, "next_node": node, "result": "successful"})
    assert r.status_code == 201, r.text
    return {name: node}


def open_logged_in(console, console_admin, route: str) -> None:
    console.open(route)
    console.login(console_admin["username"], console_admin["password"])
    console.wait_for("svg.graph g.node" if "workflow" in route else "#page h1")


def wait_until(console, script: str, timeout: float, message: str, *args):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(console.driver, timeout).until(lambda driver: driver.execute_script(script, *args), message)


def choose(console, css: str, value) -> None:
    """Pick an option of a select by value, once the option is there (options load after the page)."""
    from selenium.webdriver.support.ui import Select

    wait_until(console, "return document.querySelector(arguments[0] + ' option[value=\"' + arguments[1] + '\"]') !== null",
               10, f"no option {value} in {css}", css, str(value))
    Select(console.find(css)).select_by_value(str(value))


def node_states(console) -> dict[str, str]:
    return console.script("return Object.fromEntries([...document.querySelectorAll('svg.graph g.node')]"
                          ".map((g) => [g.dataset.node, g.dataset.state]))")


def test_designer_saves_a_drawn_two_node_workflow(console, console_admin, stack, templates):
    wf = new_workflow(stack)
    start = graph(stack, wf["id"])["nodes"][0]["id"]
    open_logged_in(console, console_admin, f"#/templates/{wf['id']}/workflow")

    for playbook in ("first.yml", "second.yml"):
        choose(console, "select#node-type", "job")
        choose(console, "select#node-bind", templates[playbook]["id"])
        console.click("button#add-node")
    console.wait_for('g.node[data-node="new-2"]')
    # start → first (a line from the start node starts the run), then first → second on success
    for source, target in ((str(start), "new-1"), ("new-1", "new-2")):
        console.click(f'g.node[data-node="{source}"]')
        choose(console, "select#line-result", "successful")
        console.click("button#connect")
        console.click(f'g.node[data-node="{target}"]')
    assert len(console.find_all('g.edge[data-result="success"]')) == 2
    console.screenshot("designer-drawn")
    console.click("button#save-workflow")
    console.wait_for("#saved")

    saved = graph(stack, wf["id"])
    by_template = {n["bind_template"]: n for n in saved["nodes"] if not n["is_start_node"]}
    first, second = by_template[templates["first.yml"]["id"]], by_template[templates["second.yml"]["id"]]
    assert (first["type"], second["type"]) == ("job", "job")
    assert (first["name"], second["name"]) == (templates["first.yml"]["name"], templates["second.yml"]["name"])
    assert sorted((li["node"], li["next_node"], li["result"]) for li in saved["lines"]) == sorted(
        [(start, first["id"], ["successful"]), (first["id"], second["id"], ["successful"])])
    # the saved nodes are drawn by their ids, where they were placed
    assert {g.get_attribute("data-node") for g in console.find_all("g.node")} == {str(start), str(first["id"]), str(second["id"])}
    assert first["left"] < second["left"]
    console.screenshot("designer-saved")


def test_designer_moves_a_node_with_the_keyboard_and_saves_its_position(console, console_admin, stack, templates):
    from selenium.webdriver.common.action_chains import ActionChains
    from selenium.webdriver.common.keys import Keys

    wf = new_workflow(stack)
    ids = chain(stack, wf["id"], [("only", templates["first.yml"]["id"])])
    open_logged_in(console, console_admin, f"#/templates/{wf['id']}/workflow")
    node = console.find(f'g.node[data-node="{ids["only"]}"]')
    console.script("arguments[0].focus()", node)
    ActionChains(console.driver).send_keys(Keys.ARROW_DOWN, Keys.ARROW_DOWN, Keys.ARROW_RIGHT).perform()
    assert console.script("return document.activeElement.dataset.node") == str(ids["only"])  # it kept the focus
    console.click("button#save-workflow")
    console.wait_for("#saved")
    moved = next(n for n in graph(stack, wf["id"])["nodes"] if n["id"] == ids["only"])
    assert (moved["left"], moved["top"]) == (250 + 10, 30 + 20)


def test_designer_marks_the_nodes_of_a_line_that_would_make_a_cycle(console, console_admin, stack, templates):
    console.allow_errors(REFUSED)
    wf = new_workflow(stack)
    ids = chain(stack, wf["id"], [("alpha", templates["first.yml"]["id"]), ("beta", templates["second.yml"]["id"]),
                                  ("gamma", templates["third.yml"]["id"])])
    open_logged_in(console, console_admin, f"#/templates/{wf['id']}/workflow")

    console.click(f'g.node[data-node="{ids["gamma"]}"]')
    console.click("button#connect")
    console.click(f'g.node[data-node="{ids["alpha"]}"]')
    console.click("button#save-workflow")

    console.wait_for(f'g.node.invalid[data-node="{ids["alpha"]}"]')
    invalid = {g.get_attribute("data-node") for g in console.find_all("g.node.invalid")}
    assert invalid == {str(ids["alpha"]), str(ids["beta"]), str(ids["gamma"])}  # the cycle the API names
    assert "cycle" in console.find(".graph-problems").text
    assert "alpha → beta → gamma → alpha" in console.find(".graph-problems").text
    assert len(graph(stack, wf["id"])["lines"]) == 3  # nothing was stored
    console.screenshot("designer-refused")


def test_launched_workflow_shows_both_nodes_successful(console, console_admin, stack, templates):
    wf = new_workflow(stack)
    ids = chain(stack, wf["id"], [("one", templates["first.yml"]["id"]), ("two", templates["second.yml"]["id"])])
    open_logged_in(console, console_admin, f"#/templates/{wf['id']}/workflow")
    console.click('a.button[href$="/launch"]')
    console.click("button#launch-submit")
    console.click("a#job-workflow")  # the job page of the new workflow job links to its graph
    console.wait_for("svg.graph g.node")
    job_id = int(console.driver.current_url.split("#/jobs/")[1].split("/")[0])

    wait_until(console, "return [...arguments[0]].every((id) => document.querySelector("
                        "'svg.graph g.node[data-node=\"' + id + '\"][data-state=\"successful\"]'))",
               180, f"the nodes never all showed successful: {node_states(console)}", [ids["one"], ids["two"]])
    console.wait_for('.run-state[data-state="successful"]')
    console.screenshot("workflow-job")
    run = stack.http("GET", f"/api/job/job/{job_id}/workflow/").json()
    assert {n["id"]: n["state"] for n in run["nodes"] if not n["is_start_node"]} == {ids["one"]: "successful",
                                                                                    ids["two"]: "successful"}

    # a node opens its own job; the page links back to the workflow job
    node_job = next(n["job"] for n in run["nodes"] if n["id"] == ids["two"])
    console.click(f'g.node[data-node="{ids["two"]}"]')
    wait_until(console, "return location.hash === arguments[0]", 10, "the node did not open its job", f"#/jobs/{node_job}")
    console.driver.back()
    console.wait_for("a#job-link")
    assert console.find("a#job-link").get_attribute("href").endswith(f"#/jobs/{job_id}")


def test_workflow_job_view_approves_a_pending_approval(console, console_admin, stack, templates):
    wf = new_workflow(stack)
    ids = chain(stack, wf["id"], [])
    r = stack.http("POST", "/api/template/workflow/node/", json={"template": wf["id"], "name": "go ahead?", "type": "approval",
                                                                "left": 250, "top": 30})
    assert r.status_code == 201, r.text
    ids["approval"] = r.json()["id"]
    r = stack.http("POST", "/api/template/workflow/line/", json={"node": ids["Start"], "next_node": ids["approval"],
                                                                "result": "successful"})
    assert r.status_code == 201, r.text
    ids.update(chain_from(stack, wf["id"], ids["approval"], "after", templates["first.yml"]["id"]))
    job = stack.http("POST", "/api/template/template/run/", json={"id": wf["id"]}).json()
    open_logged_in(console, console_admin, f"#/jobs/{job['id']}/workflow")

    console.wait_for(f'.approval[data-node="{ids["approval"]}"] button.approve', timeout=60)
    assert node_states(console)[str(ids["approval"])] == "pending"
    console.click(f'.approval[data-node="{ids["approval"]}"] button.approve')
    wait_until(console, "return document.querySelector('svg.graph g.node[data-node=\"' + arguments[0] + '\"]')"
                        ".dataset.state === 'successful'", 180, "the node after the approval never succeeded", ids["after"])
    assert stack.wait_job(job["id"])["state"] == "successful"


def test_workflow_pages_fit_a_phone(console, console_admin, stack, templates):
    wf = new_workflow(stack)
    chain(stack, wf["id"], [("one", templates["first.yml"]["id"]), ("two", templates["second.yml"]["id"])])
    job = stack.http("POST", "/api/template/template/run/", json={"id": wf["id"]}).json()
    console.phone()
    open_logged_in(console, console_admin, f"#/templates/{wf['id']}/workflow")
    overflow = "return document.documentElement.scrollWidth - document.documentElement.clientWidth"
    assert console.script(overflow) <= 0  # the graph scrolls inside its frame, the page does not
    console.screenshot("designer-phone")
    console.open(f"#/jobs/{job['id']}/workflow")
    console.wait_for("svg.graph g.node")
    assert console.script(overflow) <= 0
    console.screenshot("workflow-job-phone")
    stack.wait_job(job["id"])


def test_schedule_preview_lists_the_next_runs(console, console_admin, stack, templates):
    r = stack.http("POST", "/api/job/schedule/", json={"name": f"console preview {secrets.token_hex(3)}",
                                                       "template": templates["first.yml"]["id"], "type": "cron",
                                                       "minute": "15", "hour": "*/4", "start_time": 1700000000})
    assert r.status_code == 201, r.text
    schedule = r.json()
    expected = stack.http("GET", f"/api/job/schedule/{schedule['id']}/preview/", params={"count": 5}).json()["results"]

    open_logged_in(console, console_admin, f"#/schedules/{schedule['id']}/preview?count=5")
    console.wait_for("#preview-runs")
    rows = console.find_all("#preview-runs tbody tr")
    assert [int(row.get_attribute("data-time")) for row in rows] == [run["time"] for run in expected]
    first_utc = expected[0]["utc"].replace("T", " ")[:19]
    assert first_utc in rows[0].text
    console.screenshot("schedule-preview")

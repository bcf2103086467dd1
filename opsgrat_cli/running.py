"""Running jobs from the command line: `opsgrat launch`, `opsgrat job follow|cancel|relaunch|
stdout|events|summary`, `opsgrat workflow show` and `opsgrat schedule preview`.

Exit status of every command that follows a job: the job's final state (`errors.Exit`: 0
successful, 1 failed, 2 canceled, 3 timed out or runner lost, or `--timeout` passed), 4 for
usage and API errors. The following itself is `follow`'s, the tree `workflow_view`'s.
"""
from __future__ import annotations

import json
import re
import sys
from typing import Any

import click

from opsgrat_cli import commands, output
from opsgrat_cli.context import App
from opsgrat_cli.errors import CliError, Exit

#: the columns `launch`, `relaunch` and `cancel` show by default
_JOB_COLUMNS = ["id", "template_name", "kind", "state"]
_KEY_VALUE = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)=(.*)$", re.S)

_timeout_option = click.option("--timeout", type=click.FloatRange(min=0, min_open=True), metavar="SECONDS",
                               help="Stop following after this long (exit 3); the job is left running.")
_color_option = click.option("--color/--no-color", "color", default=None,
                             help="Keep or strip the output's colours (default: kept on a terminal; NO_COLOR strips).")


# ----------------------------------------------------------------------------- helpers


def extra_vars(values: tuple[str, ...]) -> dict:
    """`-e` values merged in order, later keys winning (as ansible-playbook -e does):
    `key=value` (the value read as a YAML scalar: `n=3` is a number, `s="3"` a string, `m=a: b` the text),
    `@file.yml`, or an inline YAML/JSON mapping."""
    from opsgrat_cli.resources import parse_structured, read_argument

    merged: dict[str, Any] = {}
    for raw in values:
        if raw.startswith("@"):
            loaded = parse_structured(read_argument(raw), f"-e {raw}")
            if loaded is None:
                continue
        elif match := _KEY_VALUE.match(raw):
            key, text = match.groups()
            merged[key] = _scalar(text)
            continue
        else:
            loaded = parse_structured(raw, "-e")
        if not isinstance(loaded, dict):
            raise CliError(f"-e {raw[:60]}: expected key=value, @file or a YAML/JSON mapping")
        merged.update(loaded)
    return merged


def _scalar(text: str) -> Any:
    """A YAML scalar (`3`, `true`, `"3"`; a date such as `2024-01-01` stays text: JSON has no
    dates); anything else (`a: b`, `[x]`, empty) is the text itself, so `-e msg=see: here` means
    what it says."""
    from opsgrat_cli import yamltext

    if not text.strip():
        return text
    try:
        value = yamltext.load(text, "-e")
    except CliError:
        return text
    return text if isinstance(value, (dict, list)) else value


def _client(app: App):
    """A client for following: shorter request timeouts (a stalled request is retried, not waited on)."""
    from opsgrat_cli.client import Client
    from opsgrat_cli.follow import REQUEST_TIMEOUT

    return Client(app.connection, timeout=REQUEST_TIMEOUT)


def _options(timeout: float | None, color: bool | None):
    from opsgrat_cli.follow import Options, want_color

    return Options(timeout=timeout, color=want_color(sys.stdout, color))


def _follow(app: App, job: dict, timeout: float | None, color: bool | None) -> int:
    from opsgrat_cli.follow import follow

    return int(follow(_client(app), job, _options(timeout, color)).code)


def _show_job(job: dict, fmt: str | None, columns: str | None) -> None:
    fmt = fmt or output.default_format()
    picked = output.parse_columns(columns) or (_JOB_COLUMNS if fmt == "table" else None)
    output.show(job, fmt, picked)


def _job(app: App, job_id: int) -> dict:
    return app.client.get(f"/api/job/job/{job_id}/")


# ----------------------------------------------------------------------------- launch


@commands.top
@click.command("launch")
@click.argument("template")
@click.option("-e", "--extra-vars", "extra", multiple=True, metavar="KEY=VALUE|@FILE|YAML",
              help="Extra variables, repeatable, merged in order: key=value, @vars.yml, or a YAML/JSON mapping.")
@click.option("--limit", help="Only these hosts (ansible --limit).")
@click.option("--tags", help="Only tasks with these tags (comma-separated).")
@click.option("--skip-tags", help="Skip tasks with these tags (comma-separated).")
@click.option("--check", is_flag=True, help="A check run (job_type check): report what would change.")
@click.option("-v", "--verbosity", type=click.IntRange(0, 4), help="ansible verbosity, 0-4.")
@click.option("--inventory", help="Workflow templates: run every node against this inventory (id or name).")
@click.option("--node", type=int, metavar="NODE_ID", help="Workflow templates: start the run at this node.")
@click.option("-f", "--follow", is_flag=True, help="Follow the job to its end; exit with its state.")
@_timeout_option
@_color_option
@output.output_option
@output.columns_option
@click.pass_obj
def launch(app: App, template, extra, limit, tags, skip_tags, check, verbosity, inventory, node, follow, timeout,
           color, fmt, columns):
    """Run a job or workflow template (by name or id).

    Without --follow, prints the new job (-o/-c) and exits 0. With --follow, prints the output as
    it is written (a workflow: its nodes' states), then a summary line, and exits with the job's
    state: 0 successful, 1 failed, 2 canceled, 3 timed out or runner lost (or --timeout passed)."""
    ref = template.strip()
    body: dict[str, Any] = {"id": int(ref)} if ref.isdigit() else {"name": ref}
    if extra:
        body["variables"] = json.dumps(extra_vars(extra), default=str)
    for name, value in (("limit", limit), ("tags", tags), ("skip_tags", skip_tags), ("verbosity", verbosity),
                        ("node", node)):
        if value is not None:
            body[name] = value
    if check:
        body["job_type"] = "check"
    if inventory is not None:
        record = app.find("template", ref)
        if record.get("template_type") != "workflow":
            raise CliError(f"--inventory: template {record['id']} ({record.get('name')}) is a job template, which "
                           "always runs against its own inventory; only workflow templates take one at launch")
        body["inventory"] = app.resolve_id("inventory", inventory)
    job = app.client.post("/api/template/template/run/", body)
    if not follow:
        _show_job(job, fmt, columns)
        return Exit.SUCCESSFUL
    return _follow(app, job, timeout, color)


# ----------------------------------------------------------------------------- job ...


@commands.extra("job")
@click.command("follow")
@click.argument("job_id", type=int)
@_timeout_option
@_color_option
@click.pass_obj
def job_follow(app: App, job_id, timeout, color):
    """Print a job's output from its start, live while it runs, then a summary line.

    Works on running and finished jobs alike, rides out a lost connection (retrying for up to
    5 minutes), and exits with the job's state: 0 successful, 1 failed, 2 canceled, 3 timed out
    or runner lost (or --timeout passed). A workflow job shows its nodes' states."""
    return _follow(app, _job(app, job_id), timeout, color)


@commands.extra("job")
@click.command("cancel")
@click.argument("job_id", type=int)
@output.output_option
@output.columns_option
@click.pass_obj
def job_cancel(app: App, job_id, fmt, columns):
    """Cancel a job (a workflow job: with every running node); prints its state.

    A job with a runner ends `canceled` shortly after (`opsgrat job follow` waits for it, exit 2);
    a finished job cannot be canceled (exit 4)."""
    _show_job(app.client.post(f"/api/job/job/{job_id}/cancel/"), fmt, columns)
    return Exit.SUCCESSFUL


@commands.extra("job")
@click.command("relaunch")
@click.argument("job_id", type=int)
@click.option("--failed", is_flag=True, help="Only the hosts that failed or were unreachable; a workflow job: "
                                             "only the nodes that failed or never ran.")
@click.option("--from", "from_node", metavar="NODE", help="Workflow jobs: re-run from this node (id or name) on.")
@click.option("-f", "--follow", is_flag=True, help="Follow the new job to its end; exit with its state.")
@_timeout_option
@_color_option
@output.output_option
@output.columns_option
@click.pass_obj
def job_relaunch(app: App, job_id, failed, from_node, follow, timeout, color, fmt, columns):
    """Run a finished job again as a new job."""
    old = _job(app, job_id)
    body: dict[str, Any]
    if old.get("kind") == "workflow":
        if failed and from_node:
            raise CliError("give --failed or --from, not both")
        body = {"from": "failed"} if failed else {}
        if from_node:
            body["from"] = _node_id(app, job_id, from_node)
    else:
        if from_node:
            raise CliError("--from is for workflow jobs")
        body = {"hosts": "failed" if failed else "all"}
    job = app.client.post(f"/api/job/job/{job_id}/relaunch/", body)
    if not follow:
        _show_job(job, fmt, columns)
        return Exit.SUCCESSFUL
    return _follow(app, job, timeout, color)


def _node_id(app: App, job_id: int, ref: str) -> int:
    if ref.strip().isdigit():
        return int(ref)
    nodes = app.client.get(f"/api/job/job/{job_id}/workflow/").get("nodes", [])
    found = [n["id"] for n in nodes if n.get("name") == ref]
    if len(found) != 1:
        raise CliError(f"workflow job {job_id} has {'no' if not found else len(found)} node(s) named {ref!r}")
    return found[0]


@commands.extra("job")
@click.command("stdout")
@click.argument("job_id", type=int)
@click.option("--format", "fmt", type=click.Choice(("txt", "ansi")),
              help="txt (plain) or ansi (with colours); default: ansi on a terminal, txt otherwise.")
@click.pass_obj
def job_stdout(app: App, job_id, fmt):
    """Print a job's whole output as it is now (the same text `job follow` prints)."""
    from opsgrat_cli.follow import clean

    fmt = fmt or ("ansi" if sys.stdout.isatty() else "txt")
    text = app.client.send("GET", f"/api/job/job/{job_id}/stdout/", params={"format": fmt}).text
    sys.stdout.write(clean(text, color=True))
    sys.stdout.flush()
    return Exit.SUCCESSFUL


_EVENT_COLUMNS = ["counter", "event", "host", "task", "stdout"]


@commands.extra("job")
@click.command("events")
@click.argument("job_id", type=int)
@click.option("--after", type=int, metavar="COUNTER", help="Only events after this counter (counter__gt).")
@click.option("--all", "all_pages", is_flag=True, help="Every page (follows next).")
@click.option("--limit", type=click.IntRange(1, 200), help="Page size (default 20).")
@click.option("--offset", type=click.IntRange(0), help="Start position.")
@output.output_option
@output.columns_option
@click.pass_obj
def job_events(app: App, job_id, after, all_pages, limit, offset, fmt, columns):
    """A job's ansible events, ordered by counter (the table shows their text without colours)."""
    from opsgrat_cli.follow import strip_ansi

    params = {"counter__gt": after, "limit": 200 if all_pages else limit, "offset": offset}
    rows = list(app.client.pages(f"/api/job/job/{job_id}/events/", {k: v for k, v in params.items() if v is not None},
                                 follow=all_pages))
    fmt = fmt or output.default_format()
    if fmt == "table":
        rows = [{**r, "stdout": strip_ansi(str(r.get("stdout") or "")).strip()} for r in rows]
    output.show(rows, fmt, output.parse_columns(columns) or (_EVENT_COLUMNS if fmt == "table" else None))
    return Exit.SUCCESSFUL


_SUMMARY_COLUMNS = ["host", "ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored"]


@commands.extra("job")
@click.command("summary")
@click.argument("job_id", type=int)
@output.output_option
@output.columns_option
@click.pass_obj
def job_summary(app: App, job_id, fmt, columns):
    """Per-host totals of a finished job: ok, changed, failures, unreachable, skipped, rescued, ignored."""
    rows = list(app.client.pages(f"/api/job/job/{job_id}/host_summaries/"))
    fmt = fmt or output.default_format()
    output.show(rows, fmt, output.parse_columns(columns) or (_SUMMARY_COLUMNS if fmt == "table" else None))
    return Exit.SUCCESSFUL


# ----------------------------------------------------------------------------- workflow show


@click.group("workflow")
def workflow():
    """Workflow runs (the templates, nodes and lines are `template`, `workflow-node`, `workflow-line`)."""


@workflow.command("show")
@click.argument("job_id", type=int)
@click.option("-f", "--follow", is_flag=True, help="Redraw as nodes change until the run ends; exit with its state.")
@_timeout_option
@_color_option
@click.pass_obj
def workflow_show(app: App, job_id, follow, timeout, color):
    """Draw a workflow job's run as a tree: each node once, with its state and job, under the
    node it follows and the result its line fires on."""
    from opsgrat_cli import workflow_view

    return int(workflow_view.show(_client(app) if follow else app.client, job_id, follow=follow,
                                  options=_options(timeout, color)))


commands.top(workflow)


# ----------------------------------------------------------------------------- schedule preview


@commands.extra("schedule")
@click.command("preview")
@click.argument("schedule", required=False)
@click.option("--count", type=click.IntRange(1, 100), default=10, show_default=True, help="How many runs.")
@click.option("--data", metavar="@FILE|YAML", help="An unsaved schedule's fields (type, minute, hour, …, timezone) "
                                                   "instead of a saved schedule.")
@output.output_option
@click.pass_obj
def schedule_preview(app: App, schedule, count, data, fmt):
    """The next runs of a schedule (id or name), or of unsaved fields given with --data: local
    time in its zone, UTC, and whether daylight saving shifted it; plus the EventBridge expression."""
    from opsgrat_cli.resources import parse_structured, read_argument

    if bool(schedule) == bool(data):
        raise CliError("give a schedule (id or name) or --data with unsaved fields")
    if data:
        fields = parse_structured(read_argument(data), "--data")
        if not isinstance(fields, dict):
            raise CliError("--data: expected a mapping of schedule fields")
        answer = app.client.call("POST", "/api/job/schedule/preview/", params={"count": count}, json=fields)
    else:
        schedule_id = app.resolve_id("schedule", schedule)
        answer = app.client.get(f"/api/job/schedule/{schedule_id}/preview/", count=count)
    fmt = fmt or output.default_format()
    if fmt != "table":
        click.echo(output.dump(answer, fmt))
        return Exit.SUCCESSFUL
    rule = answer.get("cron") or answer.get("type")
    bridge = answer.get("eventbridge") or {}
    name = f"schedule {answer['schedule']}" if answer.get("schedule") else "unsaved schedule"
    click.echo(f"{name}: {rule} ({answer.get('timezone')}) — EventBridge {bridge.get('expression')}")
    rows = [{"#": i, "local": r.get("local"), "utc": r.get("utc"), "shifted": "yes" if r.get("shifted") else ""}
            for i, r in enumerate(answer.get("results", []), 1)]
    click.echo(output.table(rows, ["#", "local", "utc", "shifted"]) if rows else "no runs ahead")
    return Exit.SUCCESSFUL


# ----------------------------------------------------------------------------- syncs and approvals


def _sync_command(family_command: str, what: str) -> click.Command:
    """`opsgrat <family> sync NAME [--follow]`: a sync is a job like any other."""

    @click.command("sync", help=f"Sync a {what} (by name or id): a job; --follow prints it and exits with its state.")
    @click.argument("ref")
    @click.option("-f", "--follow", is_flag=True, help="Follow the sync job to its end; exit with its state.")
    @_timeout_option
    @_color_option
    @output.output_option
    @output.columns_option
    @click.pass_obj
    def sync(app: App, ref, follow, timeout, color, fmt, columns):
        fam = app.family(family_command)
        job = app.client.post(fam.item(app.find(fam, ref)["id"]) + "sync/")
        if follow:
            return _follow(app, job, timeout, color)
        _show_job(job, fmt, columns)
        return Exit.SUCCESSFUL

    return commands.extra(family_command)(sync)


_sync_command("project", "project's repository")
_sync_command("host-source", "host source into its inventory")


def _decision_command(verb: str) -> click.Command:
    @click.command(verb, help=f"{verb.capitalize()} a workflow job's pending approval (--node when several wait).")
    @click.argument("job_id", type=int)
    @click.option("--node", metavar="NODE", help="The approval node (id or name) when more than one is pending.")
    @output.output_option
    @output.columns_option
    @click.pass_obj
    def decide(app: App, job_id, node, fmt, columns):
        body = {"node": _node_id(app, job_id, node)} if node else {}
        _show_job(app.client.post(f"/api/job/job/{job_id}/{verb}/", body), fmt, columns)
        return Exit.SUCCESSFUL

    return commands.extra("job")(decide)


_decision_command("approve")
_decision_command("deny")

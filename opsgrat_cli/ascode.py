"""`opsgrat export` and `opsgrat apply`: an installation's configuration as a YAML file, and a
file applied to an installation by natural key, idempotently.

The logic (which families, key forms, the plan) is in `ascode_plan`; this module reads and
writes the file and makes the requests: one list per family, then the POSTs and PATCHes of the
plan, in dependency order.
"""
from __future__ import annotations

import datetime

import click

from opsgrat_cli import __version__, commands, yamltext
from opsgrat_cli.ascode_plan import (
    Change,
    Exporter,
    Pending,
    Planner,
    Store,
    configuration_families,
    materialize,
    rematch,
    summary,
)
from opsgrat_cli.context import App
from opsgrat_cli.errors import ApiError, CliError
from opsgrat_cli.spec import Family

_FAMILY_HELP = "Only this family (command or family name, e.g. template or group-host); repeatable."


# ----------------------------------------------------------------------------- YAML


# ----------------------------------------------------------------------------- the installation


def store_of(app: App, warn=None) -> Store:
    """Each family's records, loaded once, every page. With `warn` (export), a family the
    caller may not list is left out with a warning instead of failing the whole export."""
    def load(fam: Family) -> list[dict]:
        try:
            return list(app.client.pages(fam.path, {"limit": 200}))
        except ApiError as exc:
            if warn is None or exc.status not in (401, 403):
                raise
            warn(f"{fam.command} left out: {exc.message}")
            return []
    return Store(app.spec, load)


def _warner():
    seen: set[str] = set()

    def warn(message: str) -> None:
        if message not in seen:
            seen.add(message)
            click.echo(f"Warning: {message}", err=True)
    return warn


def header(app: App, families: list[Family], globs: tuple[str, ...]) -> str:
    import textwrap

    now = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
    lines = [f"OpsGrat configuration exported from {app.client.url} at {now} by opsgrat {__version__}.",
             "Families: " + ", ".join(f.command for f in families) + "."]
    if globs:
        lines.append("Records whose key matches " + ", ".join(globs) + ", and the records they reference.")
    lines.append("Apply with `opsgrat apply -f FILE`. Secrets read $encrypted$ (apply leaves them as they are); "
                 "passwords are never exported.")
    return "\n".join(["# " + lines[0], *(textwrap.fill(line, 100, initial_indent="# ", subsequent_indent="#   ")
                                          for line in lines[1:])])


@commands.top
@click.command("export")
@click.option("--family", "families", multiple=True, metavar="FAMILY", help=_FAMILY_HELP)
@click.option("--match", "globs", multiple=True, metavar="GLOB",
              help="Only records with a name in their key matching this shell pattern (a host matches by its "
                   "hostname or its inventory's name), plus the records they reference; repeatable.")
@click.pass_obj
def export(app: App, families: tuple[str, ...], globs: tuple[str, ...]):
    """Write the installation's configuration as YAML on stdout: `opsgrat export > site.yml`.

    Every family clients create and update that has a natural key (or is a single record), in
    dependency order; references are written by the referenced record's key, secrets as
    $encrypted$. Jobs, logs and other run data are not configuration."""
    chosen = configuration_families(app.spec, families)
    warn = _warner()
    exporter = Exporter(store_of(app, warn), warn)
    document = exporter.document(chosen, list(globs))
    click.echo(header(app, chosen, globs))
    click.echo(yamltext.dump(document).rstrip("\n") if document else "{}")


# ----------------------------------------------------------------------------- apply


def write(app: App, store: Store, changes: list[Change], update_secrets: bool) -> None:
    """Send the plan, printing each change once it is made.

    A create whose parent this apply made is matched again first (its family listed again,
    once): the server may have made the record with its parent (a workflow's start node), and
    then it is updated, not made twice. An error stops the apply, naming the record, after
    saying what was already done."""
    reloaded: set[str] = set()
    for position, change in enumerate(changes):
        fam = change.fam
        if change.action == "create" and any(isinstance(k, Pending) for k in change.key):
            if fam.family not in reloaded:
                store.reload(fam)
                reloaded.add(fam.family)
            rematch(store, change, update_secrets)
        try:
            if change.action == "create":
                record = app.client.post(fam.path, materialize(change.body))
                change.pending.id = record.get("id")
                store.add(fam, record)
            elif change.action == "update":
                app.client.patch(fam.item(change.record["id"]), materialize(change.body))
        except CliError as exc:
            done = [c for c in changes[:position] if c.action in ("create", "update")]
            click.echo(f"stopped: {_done(done)} before the error")
            what = f"{fam.command} {change.label}".rstrip()
            raise CliError(f"{what}: {' '.join(exc.message.split())}") from None
        if change.action != "unchanged":
            click.echo(change.line())


def _done(changes: list[Change]) -> str:
    made = sum(1 for c in changes if c.action == "create")
    return f"{made} created, {len(changes) - made} updated"


@commands.top
@click.command("apply")
@click.option("-f", "--file", "path", required=True, metavar="FILE", help="The YAML file (`-` reads stdin).")
@click.option("--family", "families", multiple=True, metavar="FAMILY", help=_FAMILY_HELP)
@click.option("--dry-run", is_flag=True, help="Print what would change; write nothing.")
@click.option("--update-secrets", is_flag=True,
              help="Also send secrets and passwords given in clear text to records that exist (the server cannot "
                   "say whether they changed, so by default they are sent only when a record is created).")
@click.pass_obj
def apply(app: App, path: str, families: tuple[str, ...], dry_run: bool, update_secrets: bool):
    """Create or update the records of FILE (as `opsgrat export` writes it), matched by natural key.

    Every reference is resolved and every change planned before anything is written; then
    missing records are created and changed fields updated (only those), dependencies first,
    one line per change (`+` created, `~` updated) and a summary. Applying the same file again
    changes nothing. Records the file does not name are left alone (nothing is deleted).
    A field the file leaves out is left as it is; `$encrypted$` leaves a secret as it is.
    Exit status 0, or 4 with one `Error:` line (nothing written when the file or a reference
    is wrong; what was done before an API error is printed)."""
    text, source = yamltext.read(path)
    document = yamltext.load(text, source)
    store = store_of(app)
    changes = Planner(store, source, update_secrets, _warner()).plan(document, families)
    if dry_run:
        for change in changes:
            if change.action != "unchanged":
                click.echo(change.line())
        click.echo(summary(changes, dry_run=True))
        return
    write(app, store, changes, update_secrets)
    click.echo(summary(changes))

"""`opsgrat`: the root command, and `main` — the one place that turns errors into one line and
an exit status (see `errors.Exit`)."""
from __future__ import annotations

import os
import sys

import click

from opsgrat_cli import __version__, commands, config, spec
from opsgrat_cli.context import App
from opsgrat_cli.errors import CliError, Exit

#: the shell's status for a process stopped by SIGINT (128 + 2)
INTERRUPTED = 130
#: modules whose import registers hand-written commands
_COMMAND_MODULES = ("opsgrat_cli.login", "opsgrat_cli.running", "opsgrat_cli.ascode")


def _load_commands() -> None:
    import importlib

    for name in _COMMAND_MODULES:
        try:
            importlib.import_module(name)
        except ModuleNotFoundError as exc:
            if exc.name != name:
                raise


class Root(click.Group):
    """Hand-written commands plus one group per resource family of the installation."""

    def _spec(self, ctx: click.Context, offline: bool) -> spec.Spec | None:
        app: App = ctx.ensure_object(App)
        if offline or ctx.resilient_parsing:  # --help and completion: what was last seen
            try:
                cached = spec.cached(app.connection.url)
            except CliError:
                return None
            if cached is not None:
                return cached
        try:
            return app.spec
        except CliError:
            if offline:
                return None
            raise

    def list_commands(self, ctx):
        found = self._spec(ctx, offline=True)
        return sorted(set(commands.TOP) | set(found.by_command if found else ()))

    def get_command(self, ctx, name):
        if name in commands.TOP:
            return commands.TOP[name]
        helping = "--help" in sys.argv[1:] or "-h" in sys.argv[1:]
        found = self._spec(ctx, offline=helping)
        if found is None or name not in found.by_command:
            return None
        from opsgrat_cli.resources import FamilyGroup

        return FamilyGroup(found.by_command[name])


@click.group(cls=Root, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(__version__, prog_name="opsgrat")
@click.option("--url", envvar="OPSGRAT_URL", help="The installation's URL (else OPSGRAT_URL, a profile, or the local "
                                                   "stack of this checkout).")
@click.option("--token", envvar="OPSGRAT_TOKEN", help="API token (else OPSGRAT_TOKEN or the profile's).")
@click.option("--profile", envvar="OPSGRAT_PROFILE", help=f"Saved connection (default: {config.DEFAULT_PROFILE!r}).")
@click.pass_context
def cli(ctx: click.Context, url, token, profile):
    """OpsGrat Serverless from the command line: every resource of the API, launching and
    following jobs, and configuration as code.

    Exit status: 0 successful, 1 failed, 2 canceled, 3 timed out or runner lost, 4 usage or API
    error."""
    ctx.obj = App(url, token, profile)


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; returns (and as a script exits with) an `Exit` status."""
    _load_commands()
    args = sys.argv[1:] if argv is None else argv
    try:
        result = cli.main(args, prog_name="opsgrat", standalone_mode=False)
    except CliError as exc:
        click.echo(f"Error: {exc.message}", err=True)
        return int(exc.code)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.ClickException as exc:  # usage errors: the message and the command's usage line
        exc.show()
        return int(Exit.ERROR)
    except (click.exceptions.Abort, KeyboardInterrupt) as exc:
        # click turns Ctrl-C into Abort; a declined prompt is an Abort of its own
        interrupted = isinstance(exc, KeyboardInterrupt) or isinstance(exc.__context__, KeyboardInterrupt)
        click.echo("Interrupted." if interrupted else "Aborted.", err=True)
        return INTERRUPTED if interrupted else int(Exit.ERROR)
    except BrokenPipeError:  # `opsgrat job list | head`
        sys.stderr.close()
        return int(Exit.SUCCESSFUL)
    except Exception as exc:  # noqa: BLE001 - a bug still gets one line, not a traceback
        if os.environ.get("OPSGRAT_DEBUG"):
            raise
        click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (OPSGRAT_DEBUG=1 shows the traceback)", err=True)
        return int(Exit.ERROR)
    return int(result if isinstance(result, int) else Exit.SUCCESSFUL)


def run() -> None:
    sys.exit(main())


if __name__ == "__main__":
    run()

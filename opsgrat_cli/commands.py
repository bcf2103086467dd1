"""The hand-written commands, registered by the modules that define them: top-level commands
(`launch`, `login`, `export`, ...) and extra sub-commands of a generated family (`job follow`,
`schedule preview`). Generated and hand-written commands meet in `main`."""
from __future__ import annotations

from collections.abc import Callable

import click

TOP: dict[str, click.Command] = {}
EXTRAS: dict[str, dict[str, click.Command]] = {}


def top(command: click.Command) -> click.Command:
    """Register `command` as `opsgrat <name>`."""
    TOP[command.name] = command
    return command


def extra(family_command: str) -> Callable[[click.Command], click.Command]:
    """Register a command as `opsgrat <family_command> <name>` beside the generated ones."""
    def register(command: click.Command) -> click.Command:
        EXTRAS.setdefault(family_command, {})[command.name] = command
        return command
    return register

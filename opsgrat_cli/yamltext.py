"""YAML in and out of the CLI: files and values users give (`--data`, `-e`, `apply -f`) and the
files `export` writes. One loader for all of them: PyYAML's safe loader without timestamps, since
what is loaded is sent to the API as JSON, which has no dates (`2024-01-01` stays text)."""
from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

import click

from opsgrat_cli.errors import CliError


def read(path: str) -> tuple[str, str]:
    """A file's text and the name errors give it (`-` is stdin)."""
    if path == "-":
        return click.get_text_stream("stdin").read(), "<stdin>"
    try:
        return Path(path).read_text(), path
    except OSError as exc:
        raise CliError(f"cannot read {path}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise CliError(f"{path}: not a text file (UTF-8)") from None


@cache
def _loader():
    import yaml

    class Loader(yaml.SafeLoader):
        pass

    Loader.yaml_implicit_resolvers = {
        first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
    return Loader


def load(text: str, source: str) -> Any:
    """`text` as YAML (JSON is YAML); a syntax error is one line naming `source`, line and column."""
    import yaml

    try:
        return yaml.load(text, Loader=_loader())  # a SafeLoader: no Python objects
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark is not None else ""
        raise CliError(f"{source}: {where}not valid YAML ({problem})") from None


@cache
def _dumper():
    import yaml

    class Dumper(yaml.SafeDumper):
        def ignore_aliases(self, data):
            return True

    def text(dumper, value: str):
        return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)

    Dumper.add_representer(str, text)
    return Dumper


def dump(data: Any) -> str:
    """YAML that reads like a file written by hand: multi-line text (variables, keys, scripts) as
    `|` blocks, no anchors, keys in their order."""
    import yaml

    return yaml.dump(data, Dumper=_dumper(), sort_keys=False, allow_unicode=True, default_flow_style=False, width=120)

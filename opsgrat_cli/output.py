"""Printing records: a table on a terminal, JSON when piped, or what `-o` says; `-c` picks columns."""
from __future__ import annotations

import json
import shutil
import sys
from typing import Any

import click

FORMATS = ("table", "json", "yaml")
#: columns a table shows after the id and the natural key, when the family has them
_PREFERRED = ("name", "state", "kind", "type", "status", "description")
_MAX_DEFAULT_COLUMNS = 6
_MAX_CELL = 48

output_option = click.option("-o", "--output", "fmt", type=click.Choice(FORMATS),
                             help="Output format (default: table on a terminal, json otherwise).")
columns_option = click.option("-c", "--columns", help="Fields to show, comma-separated (e.g. id,name,state).")


def default_format() -> str:
    return "table" if sys.stdout.isatty() else "json"


def default_columns(family) -> list[str]:
    cols = ["id", *[k for k in family.key if k in family.columns]]
    for name in _PREFERRED:
        if name in family.columns and name not in cols and len(cols) < _MAX_DEFAULT_COLUMNS:
            cols.append(name)
    for name in family.columns:  # small families: fill up with whatever comes first
        if len(cols) >= 3:
            break
        if name not in cols:
            cols.append(name)
    return cols


def parse_columns(value: str | None) -> list[str] | None:
    return [c.strip() for c in value.split(",") if c.strip()] if value else None


def _pick(record: dict, columns: list[str] | None) -> dict:
    return record if not columns else {c: record.get(c) for c in columns}


def dump(data: Any, fmt: str) -> str:
    """`data` as JSON or YAML text."""
    if fmt == "yaml":
        import yaml

        return yaml.safe_dump(data, sort_keys=False, allow_unicode=True, default_flow_style=False).rstrip("\n")
    return json.dumps(data, indent=2, ensure_ascii=False)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, (dict, list)):
        value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value).replace("\r", "")
    first = text.split("\n", 1)[0]
    if len(first) > _MAX_CELL or first != text:
        first = first[:_MAX_CELL - 1] + "…"
    return first


def table(rows: list[dict], columns: list[str]) -> str:
    cells = [[_cell(r.get(c)) for c in columns] for r in rows]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.upper().ljust(w) for c, w in zip(columns, widths)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells]
    width = shutil.get_terminal_size((200, 24)).columns
    return "\n".join(line if len(line) <= width else line[:width - 1] + "…" for line in lines)


def show(data: dict | list[dict], fmt: str | None, columns: list[str] | None, family=None) -> None:
    """Print one record or a list of records."""
    fmt = fmt or default_format()
    many = isinstance(data, list)
    if fmt == "table":
        rows = data if many else [data]
        if not columns:
            if many or family is None:
                columns = default_columns(family) if family is not None else list(rows[0]) if rows else ["id"]
            else:  # one record on a terminal: every field, one per line
                click.echo("\n".join(f"{k}: {_cell(v)}" for k, v in data.items()))
                return
        click.echo(table(rows, columns))
        return
    picked = [_pick(r, columns) for r in data] if many else _pick(data, columns)
    click.echo(dump(picked, fmt))

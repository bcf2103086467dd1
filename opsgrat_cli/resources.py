"""`opsgrat <family> list|get|create|update|delete`, generated from a `spec.Family`: one
mechanism for every family; a new family in the API is a new command with no CLI code."""
from __future__ import annotations

from typing import Any

import click

from opsgrat_cli import commands, output, yamltext
from opsgrat_cli.context import App
from opsgrat_cli.errors import CliError
from opsgrat_cli.spec import Family, InputField

#: option names the generated commands use themselves; a field of that name is `--<name>-field`
_RESERVED = {"data", "output", "columns", "all", "search", "ordering", "limit", "offset", "help"}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def option_name(name: str) -> str:
    return f"--{name.replace('_', '-')}" + ("-field" if name in _RESERVED else "")


def read_argument(raw: str) -> str:
    """`@path` reads a file (`@-` stdin); anything else is the value itself."""
    return yamltext.read(raw[1:])[0] if raw.startswith("@") else raw


def parse_structured(text: str, what: str) -> Any:
    """YAML or JSON (JSON is YAML): a mapping or list given on the command line or in a file."""
    return yamltext.load(text, what)


def convert(app: App, field: InputField, raw: str) -> Any:
    """A command-line value in the field's JSON type; references may be given by name."""
    text = read_argument(raw)
    if field.ref:
        if text == "" or text.lower() == "null":
            return None
        return app.resolve_id(field.ref, text)
    kind = field.kind
    if kind == "integer":
        try:
            return int(text)
        except ValueError:
            raise CliError(f"{field.name}: expected an integer, got {text!r}") from None
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            raise CliError(f"{field.name}: expected a number, got {text!r}") from None
    if kind == "boolean":
        if text.lower() in _TRUE | _FALSE:
            return text.lower() in _TRUE
        raise CliError(f"{field.name}: expected true or false, got {text!r}")
    if kind in ("array", "object"):
        return parse_structured(text, field.name)
    return text


def _body(app: App, fam: Family, data: str | None, given: dict[str, Any]) -> dict:
    body: dict = {}
    if data:
        loaded = parse_structured(read_argument(data), "--data")
        if not isinstance(loaded, dict):
            raise CliError("--data: expected a mapping of field names to values")
        unknown = sorted(set(loaded) - {f.name for f in fam.inputs})
        if unknown:
            raise CliError(f"--data: {fam.command} has no field {unknown[0]!r}")
        for name, value in loaded.items():
            field = fam.input(name)
            body[name] = app.resolve_id(field.ref, value) if field.ref and isinstance(value, str) else value
    for name, raw in given.items():
        if raw is not None:
            body[name] = convert(app, fam.input(name), raw)
    return body


def _field_options(fam: Family) -> list[click.Option]:
    out = []
    for f in fam.inputs:
        hint = f.description or f.name
        if f.ref:
            hint += f" (id or name of a {f.ref})"
        if f.choices:
            hint += " [" + "|".join(str(c) for c in f.choices) + "]"
        out.append(click.Option([option_name(f.name), f.name], metavar=(f.kind or "value").upper(), help=hint))
    return out


def _show(app: App, fam: Family, data, fmt, columns) -> None:
    output.show(data, fmt, output.parse_columns(columns), fam)


def _list_command(fam: Family) -> click.Command:
    def run(app: App, search, ordering, all_pages, limit, offset, fmt, columns, **filters):
        params: dict[str, Any] = {"search": search, "ordering": ordering, "offset": offset,
                                  "limit": 200 if all_pages else limit}
        for name, raw in filters.items():
            if raw is not None:
                ref = fam.refs.get(name)
                params[name] = app.resolve_id(ref, raw) if ref else raw
        rows = list(app.client.pages(fam.path, {k: v for k, v in params.items() if v is not None}, follow=all_pages))
        _show(app, fam, rows, fmt, columns)

    params = [click.Option([option_name(name), name], help=f"Only records whose {name} equals this"
                           + (f" (id or name of a {fam.refs[name]})" if name in fam.refs else "") + ".")
              for name in fam.filters]
    if fam.searchable:
        params.append(click.Option(["--search"], help="Case-insensitive substring over the searched fields."))
    else:
        params.append(click.Option(["--search"], hidden=True))
    params += [click.Option(["--ordering"], help="Comma-separated fields; '-' for descending."),
               click.Option(["--all", "all_pages"], is_flag=True, help="Every page (follows next)."),
               click.Option(["--limit"], type=click.IntRange(1, 200), help="Page size (default 20)."),
               click.Option(["--offset"], type=click.IntRange(0), help="Start position.")]
    return _command("list", f"List {fam.title}.", run, params)


def _get_command(fam: Family) -> click.Command:
    def run(app: App, ref, fmt, columns):
        _show(app, fam, app.find(fam, ref), fmt, columns)

    return _command("get", f"Show one record ({fam.title}) by id or name.", run, [click.Argument(["ref"])])


def _create_command(fam: Family) -> click.Command:
    def run(app: App, data, fmt, columns, **given):
        body = _body(app, fam, data, given)
        _show(app, fam, app.client.post(fam.path, body), fmt, columns)

    required = ", ".join(f.name for f in fam.inputs if f.required)
    doc = f"Create a record ({fam.title})." + (f" Required: {required}." if required else "")
    return _command("create", doc, run, _field_options(fam), data=True)


def _update_command(fam: Family) -> click.Command:
    def run(app: App, ref, data, fmt, columns, **given):
        body = _body(app, fam, data, given)
        if not body:
            raise CliError("nothing to update: give fields as options or --data")
        record = app.find(fam, ref)
        _show(app, fam, app.client.patch(fam.item(record["id"]), body), fmt, columns)

    return _command("update", f"Change fields of one record ({fam.title}).", run,
                    [click.Argument(["ref"]), *_field_options(fam)], data=True)


def _delete_command(fam: Family) -> click.Command:
    def run(app: App, refs):
        for ref in refs:
            record = app.find(fam, ref)
            app.client.delete(fam.item(record["id"]))
            click.echo(f"deleted {fam.command} {record['id']}", err=True)

    return _command("delete", f"Delete records ({fam.title}) by id or name.", run,
                    [click.Argument(["refs"], nargs=-1, required=True)], shows=False)


def _command(name: str, doc: str, run, params: list, *, data: bool = False, shows: bool = True) -> click.Command:
    if data:
        params = [click.Option(["--data"], metavar="@FILE|YAML",
                               help="Fields as a YAML/JSON mapping, inline or from a file (@file.yml, @- for stdin); "
                                    "options override it."), *params]
    if shows:
        params = [*params, *(_as_option(output.output_option), _as_option(output.columns_option))]

    @click.pass_obj
    def callback(app: App, **kwargs):
        return run(app, **kwargs)

    return click.Command(name, callback=callback, params=params, help=doc, short_help=doc.split(". ")[0])


def _as_option(decorator) -> click.Option:
    """The click.Option a `click.option(...)` decorator would add."""
    holder = decorator(lambda: None)
    return holder.__click_params__[0]


class FamilyGroup(click.Group):
    """The commands of one family: the generated ones and the family's registered extras."""

    def __init__(self, fam: Family):
        super().__init__(fam.command, help=(fam.description or fam.title), short_help=fam.title)
        self.fam = fam
        self.add_command(_list_command(fam))
        if fam.item_path:
            self.add_command(_get_command(fam))
        if fam.can_create and not fam.read_only:
            self.add_command(_create_command(fam))
        if fam.can_update:
            self.add_command(_update_command(fam))
        if fam.can_delete:
            self.add_command(_delete_command(fam))
        for command in commands.EXTRAS.get(fam.command, {}).values():
            self.add_command(command)

"""What every command is handed (`click.pass_obj`): the connection, client and families, each
made on first use, and finding records by id or by name."""
from __future__ import annotations

from functools import cached_property
from typing import Any

from opsgrat_cli import config, spec
from opsgrat_cli.errors import CliError


class App:
    def __init__(self, url: str | None = None, token: str | None = None, profile: str | None = None):
        self.options = {"url": url, "token": token, "profile": profile}

    @cached_property
    def connection(self) -> config.Connection:
        return config.resolve(**self.options)

    @cached_property
    def client(self):
        from opsgrat_cli.client import Client

        return Client(self.connection)

    @cached_property
    def spec(self) -> spec.Spec:
        return spec.load(self.client)

    def family(self, name: str) -> spec.Family:
        return self.spec.family(name)

    # ------------------------------------------------------------ records by id or name

    def find(self, family: spec.Family | str, value: Any) -> dict:
        """The record that `value` names: an id, or the last field of the family's natural key
        (a template's name, a host's hostname, a tag's tag). Ambiguous names are refused."""
        fam = self.family(family) if isinstance(family, str) else family
        text = str(value).strip()
        if text.isdigit():
            if not fam.item_path:
                raise CliError(f"{fam.command} has no item route")
            return self.client.get(fam.item(int(text)))
        matches = self.lookup(fam, text)
        if not matches:
            raise CliError(f"no {fam.command} named {text!r}")
        if len(matches) > 1:
            ids = ", ".join(str(m["id"]) for m in matches[:10])
            raise CliError(f"{len(matches)} {fam.command} records are named {text!r} (ids {ids}); give the id")
        return matches[0]

    def lookup(self, fam: spec.Family, name: str) -> list[dict]:
        """Records whose name field equals `name`: an exact filter when the family has one, else
        its search narrowed to exact matches."""
        field = self.name_field(fam)
        if field in fam.filters:
            return list(self.client.pages(fam.path, {field: name, "limit": 200}))
        if fam.searchable:
            return [r for r in self.client.pages(fam.path, {"search": name, "limit": 200}) if r.get(field) == name]
        return [r for r in self.client.pages(fam.path, {"limit": 200}) if r.get(field) == name]

    @staticmethod
    def name_field(fam: spec.Family) -> str:
        names = [k for k in fam.key if k not in fam.refs]
        if not names:
            if "name" in fam.columns:
                return "name"
            raise CliError(f"{fam.command} records have no name; give the id")
        return names[-1]

    def resolve_id(self, family: str, value: Any) -> int | str:
        """An id for a reference given as an id or a name (a user may stay a login: the API
        takes logins wherever it takes a user)."""
        text = str(value).strip()
        if text.isdigit():
            return int(text)
        if family == "user":
            return text
        return self.find(family, text)["id"]

"""Field types of the declared resources.

A field parses one client value (JSON or form-encoded, so strings arrive for numbers too), says
what it looks like in OpenAPI, and knows whether it is read-only or secret. Every parse error is a
`ValidationError` naming the field, which the API turns into a 400.
"""
from __future__ import annotations

import json
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import yaml

from chalicelib.services.errors import ValidationError

ENCRYPTED = "$encrypted$"


@dataclass
class Field:
    name: str
    required: bool = False
    default: Any = None
    read_only: bool = False
    description: str = ""
    #: extra input names accepted for this field (e.g. `inventory_id` for `inventory`, spec D1)
    aliases: Sequence[str] = ()
    #: stored KMS-encrypted, write-only: responses show "$encrypted$"
    secret: bool = False
    #: accepted on input, never shown (password hashes)
    hidden: bool = False

    def parse(self, value: Any) -> Any:
        return value

    def schema(self) -> dict:
        return {}

    def fail(self, message: str) -> ValidationError:
        return ValidationError(self.name, message)

    def openapi(self) -> dict:
        out = dict(self.schema())
        if self.description:
            out["description"] = self.description
        if self.read_only:
            out["readOnly"] = True
        if self.secret or self.hidden:
            out["writeOnly"] = True
        return out


@dataclass
class Str(Field):
    max_length: int = 1024
    choices: Sequence[str] | None = None
    pattern: str | None = None
    blank: bool = True
    default: Any = ""

    def parse(self, value: Any) -> Any:
        if value is None:
            if self.required and not self.blank:
                raise self.fail("This field may not be null.")
            return "" if self.default == "" else self.default
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise self.fail("Expected a string.")
        if len(value) > self.max_length:
            raise self.fail(f"Ensure this field has no more than {self.max_length} characters.")
        if not value and not self.blank:
            raise self.fail("This field may not be blank.")
        if value and self.choices is not None and value not in self.choices:
            raise self.fail(f'"{value}" is not a valid choice ({", ".join(self.choices)}).')
        if value and self.pattern and not re.fullmatch(self.pattern, value):
            raise self.fail(f'"{value}" has an invalid format.')
        return value

    def schema(self) -> dict:
        out: dict = {"type": "string", "maxLength": self.max_length}
        if self.choices is not None:
            out["enum"] = list(self.choices) + ([""] if self.blank else [])
        return out


@dataclass
class Text(Str):
    max_length: int = 400_000


@dataclass
class Yaml(Text):
    """YAML (or JSON, which is YAML) text holding a mapping, e.g. `variables`."""

    def parse(self, value: Any) -> Any:
        if isinstance(value, dict):
            return yaml.safe_dump(value, default_flow_style=False, sort_keys=False)
        text = super().parse(value)
        load_mapping(text, self.name)
        return text


def load_mapping(text: str, field_name: str) -> dict:
    """Parse YAML text that must be a mapping; errors name the field and the line."""
    if not text or not text.strip():
        return {}
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(field_name, f"invalid YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValidationError(field_name, "must be a YAML mapping of names to values")
    return data


@dataclass
class Int(Field):
    minimum: int | None = None
    maximum: int | None = None
    choices: Sequence[int] | None = None
    default: Any = 0

    def parse(self, value: Any) -> Any:
        if value is None or value == "":
            if self.required:
                raise self.fail("A valid integer is required.")
            return self.default
        if isinstance(value, bool):
            value = int(value)
        if isinstance(value, float) and value.is_integer():
            value = int(value)
        if isinstance(value, str) and re.fullmatch(r"\s*-?\d+\s*", value):
            value = int(value)
        if not isinstance(value, int):
            raise self.fail("A valid integer is required.")
        if self.minimum is not None and value < self.minimum:
            raise self.fail(f"Ensure this value is greater than or equal to {self.minimum}.")
        if self.maximum is not None and value > self.maximum:
            raise self.fail(f"Ensure this value is less than or equal to {self.maximum}.")
        if self.choices is not None and value not in self.choices:
            raise self.fail(f'"{value}" is not a valid choice.')
        return value

    def schema(self) -> dict:
        out: dict = {"type": "integer"}
        if self.minimum is not None:
            out["minimum"] = self.minimum
        if self.maximum is not None:
            out["maximum"] = self.maximum
        if self.choices is not None:
            out["enum"] = list(self.choices)
        return out


@dataclass
class Float(Field):
    """A number with a fraction (durations in seconds)."""

    def parse(self, value: Any) -> Any:
        if value is None or value == "":
            return self.default
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            try:
                value = float(value)
            except (TypeError, ValueError):
                raise self.fail("A valid number is required.") from None
        return float(value)

    def schema(self) -> dict:
        return {"type": ["number", "null"]}


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


@dataclass
class Bool01(Field):
    """Booleans are the integers 0/1 on the wire (spec §1.11); true/false are accepted too."""

    default: Any = 0

    def parse(self, value: Any) -> Any:
        if value is None:
            return self.default
        if isinstance(value, bool):
            return int(value)
        if isinstance(value, int) and value in (0, 1):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return 1 if value.strip().lower() in _TRUE else 0
        raise self.fail("Must be 0 or 1.")

    def schema(self) -> dict:
        return {"type": "integer", "enum": [0, 1]}


@dataclass
class Ref(Field):
    """A foreign key to a record of another family, serialized as its integer id."""

    family: str = ""
    #: permission level the caller needs on the referenced object to attach it
    needs: str = "read"
    #: when the referenced record is deleted: "cascade" deletes this one too, "protect" refuses
    #: the delete while this one exists and the same delete does not remove it, "keep" leaves a
    #: dangling id (cascade and protect need an index)
    on_delete: str = "keep"
    default: Any = None

    def parse(self, value: Any) -> Any:
        if value is None or value == "":
            if self.required:
                raise self.fail("This field is required.")
            return None
        if isinstance(value, dict) and "id" in value:
            value = value["id"]
        if isinstance(value, str) and value.strip().isdigit():
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise self.fail("Expected the integer id of a record.")
        return value

    def schema(self) -> dict:
        return {"type": ["integer", "null"]}


@dataclass
class UserRef(Ref):
    """A user, given as the user's integer id or login (spec D2); stored and shown as the id."""

    family: str = "user"

    def parse(self, value: Any) -> Any:
        if isinstance(value, str) and value and not value.strip().isdigit():
            return value.strip()  # a login; the service resolves it to an id
        return super().parse(value)

    def schema(self) -> dict:
        return {"type": ["integer", "string", "null"]}


@dataclass
class JsonValue(Field):
    """Free JSON (lists, objects); a string holding JSON is accepted from form bodies."""

    default: Any = None
    kind: type | tuple = (list, dict)

    def parse(self, value: Any) -> Any:
        if isinstance(value, str):
            try:
                value = json.loads(value) if value.strip() else self.default
            except ValueError:
                raise self.fail("Expected JSON.") from None
        if value is not None and not isinstance(value, self.kind):
            raise self.fail(f"Expected {self._kind_name()}.")
        return value

    def _kind_name(self) -> str:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        return " or ".join({list: "a list", dict: "an object"}.get(k, k.__name__) for k in kinds)

    def schema(self) -> dict:
        kinds = self.kind if isinstance(self.kind, tuple) else (self.kind,)
        names = [{list: "array", dict: "object"}.get(k, "string") for k in kinds]
        return {"type": names + ["null"]}


@dataclass
class Label:
    """A read-only `*_name` companion computed at serialization time."""

    name: str
    source: str
    #: enum code -> label; or None for a record-name lookup through `family`
    choices: dict | None = None
    family: str | None = None
    attr: str = "name"
    compute: Callable[[dict], Any] | None = field(default=None, repr=False)

    def openapi(self) -> dict:
        return {"type": ["string", "null"], "readOnly": True}


@dataclass
class RelativePath(Str):
    """A path inside a project checkout (playbooks, inventory files): relative, with no `..`
    step and no NUL, so that it cannot name a file outside the checkout. Stored normalized."""

    def parse(self, value: Any) -> Any:
        value = super().parse(value)
        if not value:
            return value
        path = value.replace("\\", "/")
        if "\x00" in path or path.startswith("/") or ".." in path.split("/"):
            raise self.fail(f'"{value}" must be a relative path inside the project (no leading / and no ..)')
        return posixpath.normpath(path)

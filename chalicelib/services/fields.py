"""Field types of the declared resources.

A field parses one client value (JSON or form-encoded, so strings arrive for numbers too), says
what it looks like in OpenAPI, and knows whether it is read-only or secret. Every parse error is a
`ValidationError` naming the field, which the API turns into a 400. The bounds every field shares
(integer range, nesting, YAML aliases) live in `chalicelib.services.limits`.

Strictness, decided once for every field: a string field takes a string (a JSON number is
refused: the document says string, and form bodies send strings anyway); an integer field takes
an integer, a float without a fraction (JSON Schema counts 1.0 as an integer) or a string of
ASCII digits (forms, query strings), never a boolean; ids are integers from 1 to INT_MAX.
"""
from __future__ import annotations

import math
import posixpath
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml

from chalicelib.services import limits
from chalicelib.services.errors import ValidationError
from chalicelib.services.limits import INT_MAX

ENCRYPTED = "$encrypted$"


def integer(value: Any) -> int | None:
    """`value` as an int when it is one (an int but not a bool, a float without a fraction, or a
    string of ASCII digits), else None. The result may be out of any range: callers bound it."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    if isinstance(value, str):
        return limits.parse_int_text(value)
    return None


def nullable(schema: dict) -> dict:
    """The schema with `null` allowed as well."""
    out = dict(schema)
    kinds = out.get("type")
    if isinstance(kinds, str):
        out["type"] = [kinds, "null"]
    elif isinstance(kinds, list) and "null" not in kinds:
        out["type"] = [*kinds, "null"]
    if "enum" in out and None not in out["enum"]:
        out["enum"] = [*out["enum"], None]
    return out


@dataclass
class Field:
    name: str
    required: bool = False
    default: Any = None
    read_only: bool = False
    description: str = ""
    #: extra input names accepted for this field (e.g. `inventory_id` for `inventory`, spec D1)
    aliases: Sequence[str] = ()
    #: stored KMS-encrypted; responses show "$encrypted$" (or "" when empty), never the value
    secret: bool = False
    #: accepted on input, never shown (password hashes)
    hidden: bool = False

    def parse(self, value: Any) -> Any:
        return value

    def schema(self) -> dict:
        return {}

    def input_schema(self) -> dict:
        """What a request may send, for the few fields that accept more spellings than responses
        show (`Choices`: one code, a list or a comma string in, always a list out)."""
        return self.schema()

    def fail(self, message: str) -> ValidationError:
        return ValidationError(self.name, message)

    def openapi(self, request: bool = False) -> dict:
        """The field's schema, as true of responses as of requests (`request`: the input
        schema, where it differs): a field whose default is None can be null; a secret is shown
        as a marker string; only what a response never holds (`hidden`, password hashes) is
        writeOnly."""
        out = dict(self.input_schema() if request else self.schema())
        if self.default is None:
            out = nullable(out)
        description = self.description
        if self.secret:
            description = (description + " " if description else "") + (
                f'Responses show "{ENCRYPTED}" when a value is stored and "" when none; sending '
                f'"{ENCRYPTED}" back keeps the stored value.')
        if description:
            out["description"] = description
        if self.read_only:
            out["readOnly"] = True
        if self.hidden:
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
        if not isinstance(value, str):
            raise self.fail("Expected a string.")
        if len(value) > self.max_length:
            raise self.fail(f"Ensure this field has no more than {self.max_length} characters.")
        if limits.has_surrogate(value):
            raise self.fail("contains a lone surrogate (e.g. \\ud800), which is not valid Unicode")
        if not value and not self.blank:
            raise self.fail("This field may not be blank.")
        if value and self.choices is not None and value not in self.choices:
            raise self.fail(f'"{value}" is not a valid choice ({", ".join(self.choices)}).')
        if value and self.pattern and not re.fullmatch(self.pattern, value):
            raise self.fail(f'"{value}" has an invalid format.')
        return value

    def schema(self) -> dict:
        out: dict = {"type": "string", "maxLength": self.max_length}
        if not self.blank:
            out["minLength"] = 1
        if self.choices is not None:
            out["enum"] = list(self.choices) + ([""] if self.blank else [])
        if self.pattern:
            out["pattern"] = f"^(?:{self.pattern})" + ("?$" if self.blank else "$")
        return out


@dataclass
class Text(Str):
    max_length: int = 400_000


@dataclass
class Yaml(Text):
    """YAML (or JSON, which is YAML) text holding a mapping, e.g. `variables`."""

    def parse(self, value: Any) -> Any:
        if isinstance(value, dict):  # a JSON object (already within the body's limits) as YAML text
            value = yaml.safe_dump(value, default_flow_style=False, sort_keys=False)
        text = super().parse(value)
        load_mapping(text, self.name)
        return text


def load_mapping(text: str, field_name: str) -> dict:
    """Parse YAML text that must be a mapping; errors name the field (and the line). Alias bombs,
    deep nesting and values JSON cannot hold are refused (`limits.load_yaml`)."""
    if not text or not text.strip():
        return {}
    data = limits.load_yaml(text, field_name)
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
        number = integer(value)
        if number is None:
            raise self.fail("A valid integer is required.")
        if number < self.low:
            raise self.fail(f"Ensure this value is greater than or equal to {self.low}.")
        if number > self.high:
            raise self.fail(f"Ensure this value is less than or equal to {self.high}.")
        if self.choices is not None and number not in self.choices:
            raise self.fail(f'"{number}" is not a valid choice.')
        return number

    @property
    def low(self) -> int:
        return -INT_MAX if self.minimum is None else self.minimum

    @property
    def high(self) -> int:
        return INT_MAX if self.maximum is None else self.maximum

    def schema(self) -> dict:
        out: dict = {"type": "integer", "minimum": self.low, "maximum": self.high}
        if self.choices is not None:
            out["enum"] = list(self.choices)
        return out


@dataclass
class Float(Field):
    """A number with a fraction (durations in seconds)."""

    def parse(self, value: Any) -> Any:
        if value is None or value == "":
            return self.default
        if isinstance(value, bool) or not isinstance(value, (int, float, str)):
            raise self.fail("A valid number is required.")
        try:
            number = float(value)
        except (ValueError, OverflowError):
            raise self.fail("A valid number is required.") from None
        if not math.isfinite(number):
            raise self.fail("A finite number is required (not NaN or Infinity).")
        return number

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
        if isinstance(value, (int, float)) and value in (0, 1):
            return int(value)
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
        number = integer(value)
        if number is None or not 1 <= number <= INT_MAX:
            raise self.fail("Expected the integer id of a record.")
        return number

    def schema(self) -> dict:
        return {"type": ["integer", "null"], "minimum": 1, "maximum": INT_MAX}


@dataclass
class UserRef(Ref):
    """A user, given as the user's integer id or login (spec D2); stored and shown as the id."""

    family: str = "user"

    def parse(self, value: Any) -> Any:
        if isinstance(value, str) and value.strip() and integer(value) is None:
            login = value.strip()  # a login; the service resolves it to an id
            if len(login) > 150 or limits.has_surrogate(login):
                raise self.fail("Expected a user id or login.")
            return login
        return super().parse(value)

    def schema(self) -> dict:
        return {"type": ["integer", "string", "null"], "minimum": 1, "maximum": INT_MAX, "maxLength": 150}


@dataclass
class JsonValue(Field):
    """Free JSON (lists, objects); a string holding JSON is accepted from form bodies."""

    default: Any = None
    kind: type | tuple = (list, dict)

    def parse(self, value: Any) -> Any:
        if isinstance(value, str):
            value = limits.load_json(value, self.name) if value.strip() else self.default
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
class Choices(Field):
    """A multi-select: a set of codes out of `choices` (a workflow line's results). Accepted as
    one code ("failed"), a list (["successful", "failed"]) or a comma-separated string
    ("successful,failed", what a form or an older single-select client sends); stored and shown
    as a sorted list without repeats, so that equal selections compare equal."""

    choices: Sequence[str] = ()
    default: Any = ()

    def parse(self, value: Any) -> Any:
        if value is None or value == "" or value == []:
            if self.required:
                raise self.fail("This field is required.")
            return sorted(self.default)
        if isinstance(value, str):
            codes = [code.strip() for code in value.split(",")]
        elif isinstance(value, list):
            codes = value
        else:
            raise self.fail("Expected a code, a list of codes or comma-separated codes.")
        out: set[str] = set()
        for code in codes:
            if not isinstance(code, str):
                raise self.fail("Expected a code, a list of codes or comma-separated codes.")
            if code not in self.choices:
                if limits.has_surrogate(code):
                    raise self.fail("contains a lone surrogate (e.g. \\ud800), which is not valid Unicode")
                shown = code if len(code) <= 64 else code[:64] + "…"
                raise self.fail(f'"{shown}" is not a valid choice ({", ".join(self.choices)}).')
            out.add(code)
        return sorted(out)

    def schema(self) -> dict:
        return {"type": "array", "items": {"type": "string", "enum": list(self.choices)}, "uniqueItems": True}

    def input_schema(self) -> dict:
        one = "|".join(re.escape(code) for code in self.choices)
        return {"oneOf": [
            {"type": "string", "pattern": rf"^\s*(?:{one})\s*(?:,\s*(?:{one})\s*)*$",
             "description": "One code, or several separated by commas."},
            {"type": "array", "items": {"type": "string", "enum": list(self.choices)}, "minItems": 1},
        ]}


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

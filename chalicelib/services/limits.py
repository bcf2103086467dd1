"""Limits on client input, in one place: how large a body, how deep a document, how big a number.

Every JSON document the API reads (request bodies, JSON held in a field) is loaded by `load_json`,
every YAML document (`variables` and the other YAML fields) by `load_yaml`, and every field parses
its value within `INT_MAX` and its own `max_length` (chalicelib.services.fields). A value beyond a
limit is a `ValidationError` naming the field, so the client gets a 400 that says what to change
instead of a 500 from deep inside json, yaml, DynamoDB or a UTF-8 encoder.
"""
from __future__ import annotations

import json
import math
import re
from typing import Any

import yaml

from chalicelib.services.errors import ValidationError

#: request bodies larger than this are refused (413) before they are parsed; the largest field
#: (a host source's script) holds 1,000,000 characters, and a Lambda payload is at most 6 MB
MAX_BODY_BYTES = 4 * 1024 * 1024
#: containers inside containers, in JSON bodies and YAML documents alike
MAX_DEPTH = 64
#: integers are 64-bit signed everywhere (DynamoDB keys, counters, most clients)
INT_MAX = 2**63 - 1
#: a YAML document may use this many aliases (`*name`, merge keys `<<: *name` included) ...
MAX_YAML_ALIASES = 1_000
#: ... and expanding them may add at most this much (in characters of scalars, one per node):
#: enough for shared defaults, far too little for a "billion laughs" that doubles at each level
MAX_YAML_EXPANSION = 100_000

_SURROGATE = re.compile("[\ud800-\udfff]")
#: ASCII digits only: str.isdigit() is also true for "²", which int() refuses
_INT_TEXT = re.compile(r"\s*[+-]?[0-9]+\s*")


def has_surrogate(text: str) -> bool:
    """True if `text` holds a lone surrogate (JSON allows "\\ud800"; UTF-8 cannot encode it)."""
    return _SURROGATE.search(text) is not None


def parse_int_text(text: str) -> int | None:
    """The integer an ASCII decimal string spells (spaces around allowed), None if it spells
    none. Longer than 40 characters is None too: far beyond 64 bits already, and int() would
    refuse thousands of digits with a ValueError of its own. The range is the caller's to check."""
    if len(text) > 40 or not _INT_TEXT.fullmatch(text):
        return None
    return int(text)


class _Refused:
    """Stands in for a JSON number the decoder must not produce, until `check_tree` names it."""

    def __init__(self, reason: str):
        self.reason = reason


_TOO_BIG = _Refused(f"integer out of range (at most {INT_MAX} in magnitude)")
_NOT_FINITE = _Refused("NaN and Infinity are not numbers JSON can hold")


def _json_int(text: str) -> Any:
    value = parse_int_text(text)
    return value if value is not None and -INT_MAX <= value <= INT_MAX else _TOO_BIG


def _json_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else _NOT_FINITE


def load_json(text: str, name: str | None = None) -> Any:
    """Decode JSON text within the limits; errors name `name` (a field), or the path inside."""
    try:
        data = json.loads(text, parse_int=_json_int, parse_float=_json_float,
                          parse_constant=lambda _: _NOT_FINITE)
    except RecursionError:
        raise ValidationError(name, f"JSON nested more than {MAX_DEPTH} levels deep") from None
    except json.JSONDecodeError as exc:
        raise ValidationError(name, f"JSON parse error: {exc.msg} at line {exc.lineno}, column {exc.colno}") from None
    check_tree(data, name)
    return data


def _child(path: str | None, key: Any) -> str:
    if isinstance(key, int):
        return f"{path or ''}[{key}]"
    return f"{path}.{key}" if path else str(key)


_SCALAR_KEYS = (str, int, float, bool, type(None))


def check_tree(data: Any, name: str | None = None) -> None:
    """Refuse what decoders accept but the API cannot store, render or encode: nesting deeper
    than MAX_DEPTH, out-of-range or non-finite numbers, lone surrogates, and mapping keys JSON
    cannot hold (YAML dates). Errors name the path, from the top-level key (the field) down."""
    stack: list[tuple[Any, str | None, int, str | None]] = [(data, name, 0, name)]
    while stack:
        value, path, depth, top = stack.pop()
        if isinstance(value, str):
            if has_surrogate(value):
                raise ValidationError(path, "contains a lone surrogate (e.g. \\ud800), which is not valid Unicode")
        elif isinstance(value, bool) or value is None:
            continue
        elif isinstance(value, int):
            if not -INT_MAX <= value <= INT_MAX:
                raise ValidationError(path, _TOO_BIG.reason)
        elif isinstance(value, float):
            if not math.isfinite(value):
                raise ValidationError(path, _NOT_FINITE.reason)
        elif isinstance(value, _Refused):
            raise ValidationError(path, value.reason)
        elif isinstance(value, (dict, list, tuple, set)):
            if depth >= MAX_DEPTH:
                raise ValidationError(top, f"nested more than {MAX_DEPTH} levels deep")
            if isinstance(value, dict):
                for key, item in value.items():
                    if not isinstance(key, _SCALAR_KEYS):
                        raise ValidationError(path, f"mapping key {key!r} is not a string or a number")
                    if isinstance(key, str) and has_surrogate(key):
                        raise ValidationError(path, "a key contains a lone surrogate, which is not valid Unicode")
                    child = _child(path, str(key))
                    stack.append((item, child, depth + 1, top or child))
            else:
                stack.extend((item, _child(path, index), depth + 1, top or _child(path, index))
                             for index, item in enumerate(value))


# ---------------------------------------------------------------- YAML


class _LimitExceeded(Exception):
    pass


class _BoundedLoader(yaml.SafeLoader):
    """PyYAML's SafeLoader, counting aliases and nesting while it composes the node graph."""

    def __init__(self, stream: str):
        super().__init__(stream)
        self.alias_count = 0
        self.depth = 0

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.alias_count += 1
            if self.alias_count > MAX_YAML_ALIASES:
                raise _LimitExceeded(f"more than {MAX_YAML_ALIASES:,} aliases")
            return super().compose_node(parent, index)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                raise _LimitExceeded(f"nested more than {MAX_DEPTH} levels deep")
            return super().compose_node(parent, index)
        finally:
            self.depth -= 1


def _check_expansion(root: yaml.Node) -> None:
    """Refuse a node graph whose aliases expand it by more than MAX_YAML_EXPANSION, or nest it
    deeper than MAX_DEPTH, or refer to themselves. Sizes are memoized per node, so an alias bomb
    is measured in time proportional to what is written, not to what it would expand to."""
    sizes: dict[int, int] = {}
    active: set[int] = set()
    written = 0

    def size(node: yaml.Node, depth: int) -> int:
        nonlocal written
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _LimitExceeded("an alias refers to a node that contains it")
        if depth > MAX_DEPTH:
            raise _LimitExceeded(f"nested more than {MAX_DEPTH} levels deep once aliases are expanded")
        active.add(key)
        if isinstance(node, yaml.ScalarNode):
            own = total = 1 + len(node.value)
        elif isinstance(node, yaml.SequenceNode):
            own = 1
            total = 1 + sum(size(item, depth + 1) for item in node.value)
        else:
            own = 1
            total = 1 + sum(size(k, depth + 1) + size(v, depth + 1) for k, v in node.value)
        active.discard(key)
        written += own
        sizes[key] = total
        return total

    expanded = size(root, 0)
    if expanded - written > MAX_YAML_EXPANSION:
        raise _LimitExceeded(f"its aliases expand it by {expanded - written:,} characters "
                             f"(at most {MAX_YAML_EXPANSION:,})")


def _finite_float(loader: yaml.SafeLoader, node: yaml.Node) -> float:
    value = loader.construct_yaml_float(node)
    if not math.isfinite(value):
        raise _LimitExceeded(".nan and .inf are not numbers JSON can hold")
    return value


_BoundedLoader.add_constructor("tag:yaml.org,2002:float", _finite_float)


def load_yaml(text: str, field_name: str) -> Any:
    """Parse one YAML document within the limits; every error is a ValidationError naming the
    field (and the line, for syntax errors)."""
    loader = None
    try:
        loader = _BoundedLoader(text)  # its reader refuses control characters at once
        node = loader.get_single_node()
        if node is None:
            return None
        _check_expansion(node)
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ValidationError(field_name, f"invalid YAML{where}: {problem}") from None
    except _LimitExceeded as exc:
        raise ValidationError(field_name, f"YAML refused: {exc}") from None
    except (ValueError, OverflowError) as exc:  # e.g. an integer of 5,000 digits, a date of month 13
        raise ValidationError(field_name, f"invalid YAML value: {exc}") from None
    finally:
        if loader is not None:
            loader.dispose()
    check_tree(data, field_name)
    return data

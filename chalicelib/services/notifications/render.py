"""A notification's subject and body, rendered from a job's context with user-written Jinja2 templates.

Pure: the caller builds the context (`VARIABLES` names and documents it, `SAMPLE_CONTEXT` is one) and
sends what comes out. `check` runs at save time and raises `ValidationError` (a 400 naming the field);
`render` runs at send time and raises `RenderError`, which the caller records as the delivery's
failure: a message is never sent half-made, and a Webhook body that is not JSON is never sent at all
(AWX breaks JSON when a value holds a quote, ansible/awx#14758, and silently sends `{}` instead of a
body that is not a JSON object; neither happens here).

Empty templates mean the defaults: a one-line subject and a few plain lines of body, and for Webhook
a JSON document made with `json.dumps` (not a template), so it is valid whatever the values hold.
Templates run with `trim_blocks` (as Ansible's `template` does: a block tag eats its newline) and the
default `Undefined` (a missing key prints as nothing; a misspelt top-level variable is refused at save
time instead). Inside JSON, values go through `tojson`.

Safety. Templates run in Jinja2's `ImmutableSandboxedEnvironment`: no attribute starting with an
underscore, no internals of functions, frames or generators, no mutation of lists, dicts or sets, and
here an unsafe access is an error (stock Jinja2 prints it as an empty string, hiding the attempt). A
sandbox has no resource limits; these are the ones added, each refused with a message:

* output: a rendered field holds at most `MAX_OUTPUT_BYTES` (64 KiB of UTF-8), counted as it streams;
* templates: at most `MAX_TEMPLATE_CHARS` (16 KiB, the catalog's `max_length`);
* loops: `range()` makes at most `MAX_RANGE` (10,000) items, and all the `{% for %}` iterations of one
  render count against `MAX_ITERATIONS` (100,000), so nested loops cannot spin without output (the
  output cap alone would not stop `{% for i in range(9999) %}{% for j in range(9999) %}{% endfor %}`);
* one-step blow-ups are refused before the value is built when it would pass 64 KiB: `*` (repetition),
  `**` (at most `MAX_POWER_BITS`), widths in `%`, `format` and `str.format`, padding (`center`,
  `indent`, `wordwrap`, `urlize`, `str.center/ljust/rjust/zfill/expandtabs`), `replace`, `join` (the
  filter and `str.join`), `batch` and `slice` counts, and `tojson(indent)` (at most 8). `*`, `**` and
  `%` are never folded at compile time either (stock Jinja2 would hang compiling `{{ 9 ** (9 ** 9) }}`);
* `lipsum` is gone (its size argument is unbounded, and it has no use in a notification).

Not bounded here: values grown over many steps, each one legal (a string doubled along a chain of
`{% set %}` or in a namespace, a macro repeating its argument), or many values held at once (nested
list literals printed, `range(10000)|map('center', 60000)|list`). The bounds above stop the classic
one-liners; these need intent, and exhaust the Lambda's memory or time limit rather than ours: at
save time with the samples (so the template is not stored), or at send time if they depend on the
job's data (the invocation fails, and the delivery with it).
"""
from __future__ import annotations

import contextvars
import copy
import functools
import itertools
import json
import re
import string
import traceback
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from jinja2 import Template, TemplateError, TemplateSyntaxError, Undefined, meta, nodes, pass_eval_context
from jinja2.exceptions import SecurityError
from jinja2.filters import FILTERS, make_attrgetter
from jinja2.sandbox import ImmutableSandboxedEnvironment

from chalicelib.services.errors import ValidationError

MAX_TEMPLATE_CHARS = 16 * 1024
MAX_OUTPUT_BYTES = 64 * 1024
MAX_RANGE = 10_000
MAX_ITERATIONS = 100_000
MAX_POWER_BITS = 64 * 1024
MAX_JSON_INDENT = 8
#: the largest value (characters of a string, items of a list) one operation may build
MAX_VALUE = MAX_OUTPUT_BYTES

FIELDS = ("subject_template", "body_template")

#: the documented variables: name -> one-line description (the README and the API docs list them);
#: a dotted name is a key of the variable before the dot
VARIABLES: dict[str, str] = {
    "event": 'What happened: "started" or "finished".',
    "job": "The job, a mapping of the job.* keys below.",
    "job.id": "The job's id.",
    "job.name": "Its template's name, or the module of an ad-hoc command.",
    "job.state": "new, running, successful, failed or canceled.",
    "job.kind": "job, adhoc, project_update, inventory_update or workflow.",
    "job.template": "Its template's id (none for an ad-hoc command).",
    "job.template_name": "Its template's name (none for an ad-hoc command).",
    "job.started": "When it started (ISO 8601), or none.",
    "job.finished": "When it finished (ISO 8601), or none while it runs.",
    "job.elapsed": "Seconds it ran (a float).",
    "job.launched_by": "The username of who launched it.",
    "job.schedule": "The id of the schedule that launched it, or none.",
    "job.schedule_name": "That schedule's name, or none.",
    "job.limit": "Its host limit (empty: all hosts).",
    "job.url": "The job's API URL.",
    "job.stdout_url": "The API URL of its output.",
    "hosts": "One mapping per host: host, ok, changed, failures, unreachable, skipped.",
    "failed_hosts": "The names of the hosts that failed or were unreachable.",
    "totals": "The counts summed over the hosts: ok, changed, failures, unreachable, skipped.",
    "nodes": "A workflow job's nodes, one mapping each: name, state, job (its job's id); empty for other jobs.",
    "installation": "The installation's name (its resource prefix).",
}
_TOP_LEVEL = tuple(dict.fromkeys(name.split(".")[0] for name in VARIABLES))

_COUNTS = ("ok", "changed", "failures", "unreachable", "skipped")
_HOSTS = [
    {"host": "web1.example.com", "ok": 6, "changed": 2, "failures": 0, "unreachable": 0, "skipped": 1},
    {"host": "web2.example.com", "ok": 6, "changed": 0, "failures": 0, "unreachable": 0, "skipped": 1},
    {"host": "db1.example.com", "ok": 3, "changed": 0, "failures": 1, "unreachable": 0, "skipped": 0},
    {"host": "bäckup-01.example.com", "ok": 0, "changed": 0, "failures": 0, "unreachable": 1, "skipped": 0},
]

#: a realistic context with every variable (a failed job with two failed hosts, a schedule, quotes and
#: non-ASCII in names), used to check templates at save time, by the test send, and in tests
SAMPLE_CONTEXT: dict = {
    "event": "finished",
    "job": {
        "id": 42, "name": 'Déploiement "prod"', "state": "failed", "kind": "job", "template": 7,
        "template_name": 'Déploiement "prod"', "started": "2024-05-04T02:00:03Z", "finished": "2024-05-04T02:02:15Z",
        "elapsed": 132.4, "launched_by": "josé", "schedule": 3, "schedule_name": 'Nuit "prod" — 02:00',
        "limit": "web:db:bäckup-01.example.com", "url": "https://opsgrat.example.com/api/job/job/42/",
        "stdout_url": "https://opsgrat.example.com/api/job/job/42/stdout/",
    },
    "hosts": _HOSTS,
    "failed_hosts": [h["host"] for h in _HOSTS if h["failures"] or h["unreachable"]],
    "totals": {count: sum(h[count] for h in _HOSTS) for count in _COUNTS},
    "nodes": [],
    "installation": "opsgrat",
}


@dataclass(frozen=True)
class Rendered:
    subject: str
    body: str


class RenderError(Exception):
    """A template failed at send time: the caller records the delivery as failed with this message
    (`str()` is "<field>: <why>")."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class _Failure(Exception):
    """One field's failure, whichever public error it becomes (save time or send time)."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


# ---------------------------------------------------------------- public


def check(notification: dict) -> None:
    """Save-time validation: both templates compile, name only known variables and render the
    samples (a failed job, a started one, a workflow) within the limits; a Webhook body renders to a
    JSON object or array. A template that passes can still fail on a real job's data (`render`)."""
    try:
        for field in FIELDS:
            source = _source(notification, field)
            if source is not None:
                _template(field, source)
                _check_names(field, source)
        for label, sample in _SAMPLES:
            try:
                _render_all(notification, sample)
            except _Failure as failure:
                raise _Failure(failure.field, f"{failure.message} (with the sample {label})") from None
    except _Failure as failure:
        raise ValidationError(failure.field, failure.message) from None


def render(notification: dict, context: dict) -> Rendered:
    """The message for one job event; RenderError names the field that failed and why."""
    try:
        return _render_all(notification, context)
    except _Failure as failure:
        raise RenderError(failure.field, failure.message) from failure.__cause__


# ---------------------------------------------------------------- rendering


def _render_all(notification: dict, context: dict) -> Rendered:
    """The one rendering path of `check` (with the samples) and `render` (with a job's context)."""
    context = {**_EMPTY_CONTEXT, **context}  # a missing variable is empty: the defaults still render
    webhook = notification.get("channel") == "Webhook"
    subject = _render_field("subject_template", _source(notification, "subject_template") or _default_subject(context), context)
    source = _source(notification, "body_template")
    if source is None and webhook:
        body = _webhook_document(context)
    else:
        body = _render_field("body_template", source or _DEFAULT_BODY, context)
    if webhook:
        _require_json(body)
    return Rendered(subject=_one_line(subject), body=body)


def _source(notification: dict, field: str) -> str | None:
    """A template as given, or None for the default (absent, empty or blank)."""
    source = notification.get(field)
    if source is None or (isinstance(source, str) and not source.strip()):
        return None
    if not isinstance(source, str):
        raise _Failure(field, "must be a string")
    if len(source) > MAX_TEMPLATE_CHARS:
        raise _Failure(field, f"is longer than {MAX_TEMPLATE_CHARS} characters")
    return source


def _template(field: str, source: str) -> Template:
    """The compiled template, or the field's failure with the line Jinja2 names."""
    try:
        return _compile(source)
    except TemplateSyntaxError as exc:
        raise _Failure(field, f"line {exc.lineno}: {exc.message}") from None
    except Exception as exc:  # noqa: BLE001 - e.g. RecursionError on absurd nesting: still this field's fault
        raise _Failure(field, f"cannot be compiled: {_describe(exc)}") from None


def _render_field(field: str, source: str, context: dict) -> str:
    template = _template(field, source)
    try:
        return _stream(template, context)
    except Exception as exc:  # noqa: BLE001 - a user's template can raise anything; each is that field's failure
        raise _Failure(field, _describe(exc)) from exc


def _stream(template: Template, context: dict) -> str:
    """Render, stopping as soon as the output passes the cap (a loop's output never piles up)."""
    token = _ITERATIONS.set(itertools.count())
    try:
        parts, size = [], 0
        for chunk in template.generate(context):
            size += len(chunk.encode("utf-8", "surrogatepass"))
            if size > MAX_OUTPUT_BYTES:
                raise SecurityError(f"renders to more than {MAX_OUTPUT_BYTES} bytes")
            parts.append(chunk)
        return "".join(parts)
    finally:
        _ITERATIONS.reset(token)


def _one_line(subject: str) -> str:
    """A subject is one line (it becomes a mail header): its lines joined by spaces."""
    return " ".join(line.strip() for line in subject.splitlines() if line.strip())


def _describe(exc: BaseException) -> str:
    """Why a template failed, with its line when the traceback reaches the template's code."""
    if isinstance(exc, TemplateError):
        text = exc.message or type(exc).__name__
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    lines = [lineno for frame, lineno in traceback.walk_tb(exc.__traceback__) if frame.f_code.co_filename == "<template>"]
    return f"line {lines[-1]}: {text}" if lines else text


def _check_names(field: str, source: str) -> None:
    """A top-level name that is neither a variable nor a global is a typo: at render time it would
    only print as nothing."""
    tree = _ENV.parse(source)
    unknown = meta.find_undeclared_variables(tree) - set(_TOP_LEVEL) - set(_ENV.globals)
    if unknown:
        line, name = min((node.lineno, node.name) for node in tree.find_all(nodes.Name) if node.name in unknown)
        raise _Failure(field, f"line {line}: {name!r} is not a variable (the variables are {', '.join(_TOP_LEVEL)})")


# ---------------------------------------------------------------- webhook bodies


def _webhook_document(context: dict) -> str:
    """The default Webhook body. A job with too many hosts for the cap keeps only its failed hosts
    in `hosts` and says how many it left out (`hosts_omitted`)."""
    document = {key: context.get(key) for key in ("event", "job", "hosts", "failed_hosts", "totals", "nodes")}
    text = _dumps(document)
    if len(text.encode()) > MAX_OUTPUT_BYTES:
        failed = set(document["failed_hosts"] or ())
        hosts = [h for h in document["hosts"] or () if isinstance(h, dict) and h.get("host") in failed]
        text = _dumps({**document, "hosts": hosts, "hosts_omitted": len(document["hosts"] or ()) - len(hosts)})
    if len(text.encode()) > MAX_OUTPUT_BYTES:
        raise _Failure("body_template", f"the default JSON body is longer than {MAX_OUTPUT_BYTES} bytes")
    return text


def _dumps(document: dict) -> str:
    try:
        return json.dumps(document, default=_json_default, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise _Failure("body_template", f"the default JSON body cannot be made: {exc}") from None


def _json_default(value: Any) -> Any:
    """JSON for what DynamoDB and Jinja2 hand over besides plain types (used by `tojson` too)."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, Undefined):
        return None
    if isinstance(value, (set, frozenset)):
        return sorted(value, key=str)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)


def _require_json(body: str) -> None:
    """A Webhook body must be a JSON object or array: it is refused, never replaced."""
    try:
        value = json.loads(body, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise _Failure("body_template", f"renders to invalid JSON: {exc.msg}: line {exc.lineno} column {exc.colno}") from None
    except ValueError as exc:
        raise _Failure("body_template", f"renders to invalid JSON: {exc}") from None
    if not isinstance(value, (dict, list)):
        raise _Failure("body_template", f"renders to invalid JSON: a webhook body is an object or an array, not {type(value).__name__}")


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# ---------------------------------------------------------------- the defaults

_DEFAULT_SUBJECT = "[OpsGrat] {{ job.name }} #{{ job.id }} {{ job.state }}"
_DEFAULT_STARTED_SUBJECT = "[OpsGrat] {{ job.name }} #{{ job.id }} started"
_DEFAULT_BODY = """\
{% set kinds = {"job": "Automation job", "adhoc": "Command", "project_update": "Project sync",
                "inventory_update": "Inventory sync", "workflow": "Workflow job"} %}
{{ job.name }} #{{ job.id }} {{ "started" if event == "started" else job.state }}

State: {{ job.state }}
Kind: {{ kinds.get(job.kind, job.kind) }}
{% if job.template_name %}
Template: {{ job.template_name }}
{% endif %}
Launched by: {{ job.launched_by }}
{% if job.schedule %}
Schedule: {{ job.schedule_name or job.schedule }}
{% endif %}
{% if event != "started" %}
{% if job.elapsed is number %}
Elapsed: {{ "%.1f"|format(job.elapsed) }} s
{% endif %}
Totals: ok {{ totals.ok or 0 }}, changed {{ totals.changed or 0 }}, failures {{ totals.failures or 0 }}, \
unreachable {{ totals.unreachable or 0 }}, skipped {{ totals.skipped or 0 }}
{% endif %}
{% if failed_hosts %}
Failed hosts: {{ failed_hosts[:50]|join(", ") }}{% if failed_hosts|length > 50 %} and {{ failed_hosts|length - 50 }} more{% endif %}

{% endif %}
{% if nodes %}
Workflow nodes:
{% for node in nodes[:100] %}
- {{ node.name }}: {{ node.state }}{% if node.job %} (job #{{ node.job }}){% endif %}

{% endfor %}
{% endif %}
URL: {{ job.url }}
"""


def _default_subject(context: dict) -> str:
    return _DEFAULT_STARTED_SUBJECT if context.get("event") == "started" else _DEFAULT_SUBJECT


_EMPTY_CONTEXT = {"event": "", "job": {}, "hosts": [], "failed_hosts": [], "totals": {}, "nodes": [], "installation": ""}


def _started_sample() -> dict:
    sample = copy.deepcopy(SAMPLE_CONTEXT)
    sample["job"].update(state="running", finished=None, elapsed=0.0)
    return {**sample, "event": "started", "hosts": [], "failed_hosts": [], "totals": dict.fromkeys(_COUNTS, 0)}


def _workflow_sample() -> dict:
    sample = copy.deepcopy(SAMPLE_CONTEXT)
    sample["job"].update(id=50, name='Release "v2" — étape 1', template_name='Release "v2" — étape 1', kind="workflow",
                         template=9, url="https://opsgrat.example.com/api/job/job/50/",
                         stdout_url="https://opsgrat.example.com/api/job/job/50/stdout/")
    nodes_ = [{"name": 'Build "app"', "state": "successful", "job": 51}, {"name": "Déploiement", "state": "failed", "job": 52},
              {"name": "Notify", "state": "new", "job": None}]
    return {**sample, "hosts": [], "failed_hosts": [], "totals": dict.fromkeys(_COUNTS, 0), "nodes": nodes_}


# ---------------------------------------------------------------- bounds

_ITERATIONS: contextvars.ContextVar[Iterator[int]] = contextvars.ContextVar("notification_loop_iterations")


def _refuse_above(size: int, what: str) -> None:
    if size > MAX_VALUE:
        raise SecurityError(f"{what} would make a value of {size} characters or items (at most {MAX_VALUE})")


def _predict(size: Callable[..., int], *args: Any, **kwargs: Any) -> int:
    """A predicted size; arguments the operation itself rejects are left to it to report."""
    try:
        return size(*args, **kwargs)
    except TypeError:
        return 0


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def _number(digits: str) -> int:
    return int(digits[:12]) if digits else 0


def _text(value: Any) -> str:
    return value if isinstance(value, str) else str(value)


def _padded(s: Any, width: Any = 80, *_args: Any) -> int:
    return max(len(_text(s)), _int(width))


def _indented(s: Any, width: Any = 4, *_args: Any, **_kwargs: Any) -> int:
    text = _text(s)
    return len(text) + (text.count("\n") + 1) * (len(width) if isinstance(width, str) else _int(width))


def _tabs(s: str, tabsize: Any = 8) -> int:
    return len(s) + s.count("\t") * _int(tabsize)


def _replaced(s: Any, old: Any, new: Any, count: Any = None) -> int:
    text, old, new = _text(s), _text(old), _text(new)
    hits = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        hits = min(hits, count)
    return len(text) + hits * max(0, len(new) - len(old))


def _wrapped(s: Any, width: Any = 79, _break: Any = True, wrapstring: Any = None, *_args: Any, **_kwargs: Any) -> int:
    text = _text(s)
    lines = 2 * len(text) // max(_int(width), 1) + text.count("\n") + 1
    return len(text) + lines * len(_text(wrapstring or "\n"))


def _urlized(value: Any, _trim: Any = None, _nofollow: Any = False, target: Any = None, rel: Any = None,
             *_args: Any, **_kwargs: Any) -> int:
    text = _text(value)
    return 2 * len(text) + (len(text.split()) + 1) * (len(_text(target or "")) + len(_text(rel or "")) + 64)


def _counted_arg(_value: Any, count: Any, *_args: Any, **_kwargs: Any) -> int:
    return _int(count)


def _json_indent(_value: Any, indent: Any = None) -> int:
    if (len(indent) if isinstance(indent, str) else _int(indent)) > MAX_JSON_INDENT:
        raise SecurityError(f"tojson: indent is at most {MAX_JSON_INDENT}")
    return 0


_PRINTF = re.compile(r"%(?:\([^)]*\))?[#0 +-]*(\*|\d*)(?:\.(\*|\d*))?[hlL]?[a-zA-Z%]")


def _printf_size(fmt: Any, *_args: Any, **_kwargs: Any) -> int:
    """What `fmt % values` can make at most, from its widths and precisions."""
    if not isinstance(fmt, str):
        return 0
    total = len(fmt)
    for width, precision in _PRINTF.findall(fmt):
        if "*" in (width, precision):
            raise SecurityError("'*' widths in % formats are not supported")
        total += _number(width) + _number(precision)
    return total


def _format_size(fmt: str) -> int:
    """What `fmt.format(...)` can make at most, from the numbers in its format specs."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return len(fmt)  # str.format reports the same error itself
    total = len(fmt)
    for _literal, _name, spec, _conversion in fields:
        if spec and "{" in spec:
            raise SecurityError("nested fields in format specs are not supported")
        total += sum(_number(digits) for digits in re.findall(r"\d+", spec or ""))
    return total


def _repeated(left: Any, right: Any) -> int:
    for sequence, times in ((left, right), (right, left)):
        if isinstance(sequence, (str, list, tuple)) and isinstance(times, int):
            return len(sequence) * times
    return 0


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(base, int) and isinstance(exponent, int) and exponent > 0 and abs(base) > 1:
        if exponent > MAX_POWER_BITS or exponent * (abs(base).bit_length() - 1) > MAX_POWER_BITS:
            raise SecurityError(f"'**' would make a number of more than {MAX_POWER_BITS} bits")


def _bounded_parts(items: Iterable[Any], separator: int) -> list:
    """The items of a join, refused as soon as the joined text would pass the cap."""
    parts, size = [], -separator
    for item in items:
        size += len(_text(item)) + separator
        _refuse_above(size, "join")
        parts.append(item)
    return parts


def _range(*args: int) -> range:
    """range() of at most MAX_RANGE items (Jinja2's sandbox allows 100,000)."""
    numbers = range(*args)
    try:
        count = len(numbers)
    except OverflowError:
        count = MAX_RANGE + 1
    if count > MAX_RANGE:
        raise SecurityError(f"range() makes at most {MAX_RANGE} items")
    return numbers


def _counted(iterable: Iterable[Any]) -> Iterator[Any]:
    """A `{% for %}`'s items, counted against the render's iteration budget."""
    counter = _ITERATIONS.get(None) or itertools.count()
    for item in iterable:
        if next(counter) >= MAX_ITERATIONS:
            raise SecurityError(f"loops ran more than {MAX_ITERATIONS} times")
        yield item


_BINOP_SIZES: dict[str, Callable[[Any, Any], int]] = {"*": _repeated, "%": _printf_size}
_METHOD_SIZES: dict[str, Callable[..., int]] = {"center": _padded, "ljust": _padded, "rjust": _padded, "zfill": _padded,
                                               "expandtabs": _tabs, "replace": _replaced}
_FILTER_SIZES: dict[str, Callable[..., int]] = {"center": _padded, "indent": _indented, "replace": _replaced,
                                               "wordwrap": _wrapped, "urlize": _urlized, "format": _printf_size,
                                               "batch": _counted_arg, "slice": _counted_arg, "tojson": _json_indent}
_CALL_ONLY = ("_loop_vars", "_block_vars")  # what Jinja2's compiled code passes to every call


class _Sandbox(ImmutableSandboxedEnvironment):
    """The stock immutable sandbox, plus the bounds above."""

    intercepted_binops = frozenset({"*", "**", "%"})
    count_loop = staticmethod(_counted)  # reached as `environment.count_loop` by every rewritten `{% for %}`

    def call_binop(self, context, operator, left, right):
        if operator == "**":
            _check_power(left, right)
        else:
            _refuse_above(_BINOP_SIZES[operator](left, right), f"'{operator}'")
        return super().call_binop(context, operator, left, right)

    def call(self, context, obj, /, *args, **kwargs):
        owner = getattr(obj, "__self__", None)  # a method of a str, or of a Markup (what tojson returns)
        if isinstance(owner, str) and isinstance(obj, (types.BuiltinMethodType, types.MethodType)):
            if obj.__name__ == "join" and args:
                args = (_bounded_parts(args[0], len(owner)), *args[1:])
            elif obj.__name__ in _METHOD_SIZES:
                public = {key: value for key, value in kwargs.items() if key not in _CALL_ONLY}
                _refuse_above(_predict(_METHOD_SIZES[obj.__name__], owner, *args, **public), f"str.{obj.__name__}")
        return super().call(context, obj, *args, **kwargs)

    def unsafe_undefined(self, obj, attribute):
        """Refuse at once: the stock sandbox returns an Undefined that prints as nothing."""
        raise SecurityError(f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe")

    def wrap_str_format(self, value):
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        fmt = value.__self__

        @functools.wraps(wrapper)
        def bounded(*args, **kwargs):
            _refuse_above(_format_size(fmt), f"str.{value.__name__}")
            return wrapper(*args, **kwargs)

        return bounded


def _guarded(name: str, size: Callable[..., int]) -> Callable:
    """A built-in filter refused when its predicted result passes the cap."""
    original = FILTERS[name]
    skip = 1 if hasattr(original, "jinja_pass_arg") else 0  # the environment or eval context it is handed

    @functools.wraps(original)
    def guarded(*args, **kwargs):
        _refuse_above(_predict(size, *args[skip:], **kwargs), f"the {name} filter")
        return original(*args, **kwargs)

    return guarded


@pass_eval_context
def _join(eval_ctx, value, d="", attribute=None):
    """The join filter over items counted as they come (a join of many long items is refused)."""
    if attribute is not None:
        value = map(make_attrgetter(eval_ctx.environment, attribute), value)
    return FILTERS["join"](eval_ctx, _bounded_parts(value, len(_text(d))), d)


def _environment() -> _Sandbox:
    env = _Sandbox(autoescape=False, trim_blocks=True)
    del env.globals["lipsum"]
    env.globals["range"] = _range
    env.filters.update({name: _guarded(name, size) for name, size in _FILTER_SIZES.items()})
    env.filters["join"] = _join
    env.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": _json_default, "allow_nan": False}
    return env


_ENV = _environment()


@functools.lru_cache(maxsize=256)
def _compile(source: str) -> Template:
    """A template whose every `{% for %}` iterates through the iteration budget (compiled once per
    source: deliveries of one notification share it)."""
    tree = _ENV.parse(source)
    for loop in list(tree.find_all(nodes.For)):
        budget = nodes.EnvironmentAttribute("count_loop", lineno=loop.lineno)
        loop.iter = nodes.Call(budget, [loop.iter], [], None, None, lineno=loop.lineno)
    tree.set_environment(_ENV)
    return _ENV.from_string(tree)


_SAMPLES = (("failed job", SAMPLE_CONTEXT), ("started job", _started_sample()), ("workflow job", _workflow_sample()))

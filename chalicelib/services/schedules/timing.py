"""When a schedule is due (spec §2.2), and how EventBridge Scheduler is told the same thing.

Pure functions over a schedule record: no HTTP, no DynamoDB, no boto3.

  * `Rule.from_record` validates the record's timing fields (errors name the field) and reduces
    them to a `Rule`: a cron pattern, an interval or one date, within a start..end window, in a
    time zone;
  * `due_times` / `next_due` list the runs of a rule after an instant;
  * `eventbridge` writes the rule as the expression CreateSchedule takes.

Cron patterns are checked by this module's own parser, field by field, and reduced to the set
of values each field allows. croniter only computes times, and only from those sets (written as
plain comma lists), so that its own readings of odd syntax ("5-5" is every minute to croniter, a
full day field ORs with the week field) never differ from what the API validated and from what
EventBridge Scheduler is given.

Time zones: cron times are computed on naive local wall-clock time, then mapped to instants. A
wall time that does not exist (clocks spring forward) runs at the same wall time shifted forward
by the gap, marked `shifted`; a wall time that occurs twice (clocks fall back) runs once, at its
first occurrence. Intervals run in absolute time (every N seconds from `start`), whatever the
clocks do.
"""
from __future__ import annotations

import datetime as dt
import enum
import functools
import re
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from chalicelib.services.errors import ValidationError

#: the five cron fields of a record, in the order of a 5-field cron string
CRON_FIELDS = ("minute", "hour", "day", "month", "week")
#: seconds: EventBridge Scheduler runs a schedule at most once a minute
MIN_INTERVAL = 60
#: characters a cron field may hold (a list of every minute is 170)
MAX_FIELD_LENGTH = 200
#: what EventBridge Scheduler accepts as a ScheduleExpression, in characters
MAX_EXPRESSION_LENGTH = 256
#: no run is computed after this instant (9999-12-30T23:59:59Z): every local time of it, in any
#: time zone, is still a date Python can represent
LAST_INSTANT = 253402214399
#: candidate times croniter is asked for beyond the runs wanted: those before the window that a
#: DST margin or a repeated hour brings (a day of minutes at most), so a call is always bounded
_EXTRA_CANDIDATES = 3_000
#: time zone names are IANA keys: letters, digits, "_", "+", "-", separated by "/"
_ZONE_KEY = re.compile(r"[A-Za-z][A-Za-z0-9_+-]*(?:/[A-Za-z0-9_+-]+)*")
#: files of a zoneinfo directory that are not time zones, or name the machine's own zone
_NOT_ZONES = frozenset({"localtime", "posixrules", "Factory"})
_MAX_ZONE_LENGTH = 64
_UTC = dt.UTC


class ScheduleType(enum.StrEnum):
    CRON = "cron"
    INTERVAL = "interval"
    DATE = "date"


class IntervalUnit(enum.StrEnum):
    SECONDS = "seconds"
    MINUTES = "minutes"
    HOURS = "hours"
    DAYS = "days"
    WEEKS = "weeks"

    @property
    def seconds(self) -> int:
        """Length of one unit in absolute seconds (a day is 86,400 s even on a DST day)."""
        return _UNIT_SECONDS[self]


_UNIT_SECONDS = {IntervalUnit.SECONDS: 1, IntervalUnit.MINUTES: 60, IntervalUnit.HOURS: 3600,
                 IntervalUnit.DAYS: 86400, IntervalUnit.WEEKS: 7 * 86400}


# ---------------------------------------------------------------- time zones


def check_timezone(name: str | None) -> str:
    """The IANA time zone name to use: empty means UTC; a name zoneinfo does not know is refused
    here, when the schedule is saved, rather than when it should fire."""
    if name is None or name == "":
        return "UTC"
    if not isinstance(name, str):
        raise ValidationError("timezone", f"must be an IANA time zone name such as Europe/Berlin, not {type(name).__name__}")
    if len(name) > _MAX_ZONE_LENGTH or not _ZONE_KEY.fullmatch(name) or name in _NOT_ZONES \
            or name.startswith(("posix/", "right/")):
        raise ValidationError("timezone", f"{name[:_MAX_ZONE_LENGTH]!r} is not an IANA time zone name (such as Europe/Berlin)")
    try:
        _zone(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValidationError("timezone", f"{name!r} is not a known IANA time zone (such as Europe/Berlin)") from None
    return name


def _zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)  # zoneinfo caches instances itself


# ---------------------------------------------------------------- cron fields


@dataclass(frozen=True)
class _FieldSpec:
    """What one cron field allows. `high` is the largest value that may be written; `star_high`
    is where `*` and `a/n` end (the week field accepts 7 for Sunday but counts 0-6)."""

    name: str
    low: int
    high: int
    star_high: int
    names: tuple[str, ...] = ()  # names[i] is value low + i

    @property
    def full(self) -> frozenset[int]:
        return frozenset(range(self.low, self.star_high + 1))

    def describe_range(self) -> str:
        text = f"{self.low}-{self.high}"
        return f"{text} or {self.names[0]}-{self.names[-1]}" if self.names else text


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_SPECS = (
    _FieldSpec("minute", 0, 59, 59),
    _FieldSpec("hour", 0, 23, 23),
    _FieldSpec("day", 1, 31, 31),
    _FieldSpec("month", 1, 12, 12, _MONTHS),
    _FieldSpec("week", 0, 7, 6, _DAYS),
)
_SPEC = {spec.name: spec for spec in _SPECS}
_FIELD_CHARS = re.compile(r"[0-9a-z*,/-]*")
_DIGITS = re.compile(r"[0-9]+")
_LETTERS = re.compile(r"[a-z]+")


def _field_text(name: str, value: object) -> str:
    """The field as stripped, lowercased text; missing or empty is `*`. A client may send an
    int (`"day": 3`); any other type is refused, since str() of a bool or a list reads as junk."""
    if value is None:
        return "*"
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ValidationError(name, f"must be a string such as \"*/15\" or a whole number, not {type(value).__name__}")
    if len(value) > MAX_FIELD_LENGTH:
        raise ValidationError(name, f"is {len(value)} characters long, at most {MAX_FIELD_LENGTH} are allowed")
    if not value.isascii():
        raise ValidationError(name, "must be ASCII: digits, names (jan, mon), '*', ',', '-' and '/'")
    text = value.strip().lower()
    return text or "*"


def _parse_field(spec: _FieldSpec, text: str) -> frozenset[int]:
    """The set of values the (stripped, lowercased) field text allows."""
    if _FIELD_CHARS.fullmatch(text) is None:
        char = next(c for c in text if not _FIELD_CHARS.fullmatch(c))
        raise ValidationError(spec.name, f"{char!r} is not allowed in {text!r}: a field holds digits, names, '*', ',', "
                                         "'-' and '/' (L, W, # and ? are not supported)")
    values: set[int] = set()
    for item in text.split(","):
        values |= _parse_item(spec, item, text)
    return frozenset(values)


def _parse_item(spec: _FieldSpec, item: str, text: str) -> set[int]:
    """One comma list item: `*`, `*/n`, `a`, `a-b`, `a-b/n` or `a/n` (which means a-max/n)."""
    if not item:
        raise ValidationError(spec.name, f"{text!r} has an empty item in its comma list")
    if item.startswith("-"):
        raise ValidationError(spec.name, f"{item!r}: negative numbers are not allowed")
    base, slash, step_text = item.partition("/")
    step = _step(spec, step_text, item) if slash else 1
    if base == "*":
        low, high = spec.low, spec.star_high
    else:
        first, dash, last = base.partition("-")
        low = _value(spec, first, item)
        if dash:
            high = _value(spec, last, item)
            if spec.name == "week" and last == "sun" and low > 0:
                high = 7  # `fri-sun` is Friday to Sunday (5-7), not a reversed 5-0
        elif slash:  # a/n: from a to the end of the field; Sunday written 7 starts the week
            low = spec.low if spec.name == "week" and low == 7 else low
            high = spec.star_high
        else:
            high = low
        if low > high:
            raise ValidationError(spec.name, f"{item!r} is a reversed range ({first} comes after {last}): "
                                             "write the smaller value first")
    return {value % 7 if spec.name == "week" else value for value in range(low, high + 1, step)}


def _value(spec: _FieldSpec, text: str, item: str) -> int:
    """A number or (month and week fields) a name, within the field's range."""
    if _DIGITS.fullmatch(text):
        value = int(text) if len(text) <= 4 else None
        if value is None or not spec.low <= value <= spec.high:
            shown = text if len(text) <= 10 else text[:10] + "..."
            raise ValidationError(spec.name, f"{shown} is out of range {spec.low}-{spec.high}")
        return value
    if _LETTERS.fullmatch(text):
        if text in spec.names:
            return spec.low + spec.names.index(text)
        if spec.names:
            raise ValidationError(spec.name, f"{text!r} is not a {spec.name} name: use {', '.join(spec.names)} "
                                             f"or a number {spec.low}-{spec.high}")
        raise ValidationError(spec.name, f"{text!r} is not a number: {spec.name} takes {spec.describe_range()} "
                                         "(L, W, # and ? are not supported)")
    what = "is empty" if not text else "is not a number or a name"
    raise ValidationError(spec.name, f"{item!r}: {text!r} {what}; {spec.name} takes {spec.describe_range()}")


def _step(spec: _FieldSpec, text: str, item: str) -> int:
    span = spec.star_high - spec.low + 1
    if not _DIGITS.fullmatch(text):
        raise ValidationError(spec.name, f"{item!r}: the step after '/' must be a whole number, not {text!r}")
    step = int(text) if len(text) <= 4 else span + 1
    if step < 1:
        raise ValidationError(spec.name, f"{item!r}: the step must be at least 1, not {step}")
    if step > span:
        raise ValidationError(spec.name, f"{item!r}: the step {text[:10]} is larger than the field's {span} values")
    return step


@dataclass(frozen=True)
class _Cron:
    """A validated cron pattern: its normalized text and the value set of each field."""

    text: str
    sets: tuple[frozenset[int], ...]  # in CRON_FIELDS order; week holds 0-6 (Sunday 0)

    def restricted(self, name: str) -> bool:
        """False when the field allows every value (`*`, `0-7`, `1-31`...)."""
        return self.sets[CRON_FIELDS.index(name)] != _SPEC[name].full

    @property
    def croniter_expr(self) -> str:
        """The same pattern as plain comma lists, the only syntax croniter is ever given."""
        return " ".join("*" if values == spec.full else ",".join(map(str, sorted(values)))
                        for spec, values in zip(_SPECS, self.sets))

    def matches(self, wall: dt.datetime) -> bool:
        """True if the naive local wall time is one of the pattern's times."""
        minute, hour, day, month, week = self.sets
        return (wall.second == 0 and wall.minute in minute and wall.hour in hour and wall.day in day
                and wall.month in month and (wall.weekday() + 1) % 7 in week)


def _parse_cron(fields: dict) -> _Cron:
    texts = [_field_text(name, fields.get(name)) for name in CRON_FIELDS]
    sets = tuple(_parse_field(spec, text) for spec, text in zip(_SPECS, texts))
    cron = _Cron(" ".join(texts), sets)
    if cron.restricted("day") and cron.restricted("week"):
        raise ValidationError("week", f"{texts[4]!r} cannot be combined with day {texts[2]!r}: standard cron runs "
                                      "on either of them, EventBridge Scheduler can only use one (the other must be "
                                      "'?'); set day or week to *")
    return cron


@functools.lru_cache(maxsize=512)
def _compiled(cron: str) -> _Cron:
    """A rule's cron string, parsed once (due_times is called often with the same rules)."""
    parts = cron.split()
    if len(parts) != len(CRON_FIELDS):
        raise ValidationError("cron", f"{cron!r} must have {len(CRON_FIELDS)} fields: minute hour day month week")
    return _parse_cron(dict(zip(CRON_FIELDS, parts)))


def cron_string(rec: dict) -> str:
    """Validate the record's five cron fields; the normalized 5-field string (empty fields `*`,
    names lowercased, otherwise as written), which the API shows as `cron`."""
    return _parse_cron(rec).text


# ---------------------------------------------------------------- the rule


@dataclass(frozen=True)
class Rule:
    """A schedule's timing, validated."""

    type: ScheduleType
    cron: str = ""  # normalized 5-field string (CRON)
    interval: int = 0  # seconds (INTERVAL)
    start: int = 0  # epoch s: first possible run; for DATE the one run; for INTERVAL the phase
    end: int | None = None  # no run after this
    timezone: str = "UTC"

    @classmethod
    def from_record(cls, rec: dict, now: int) -> Rule:
        """Validate the record's timing fields (errors name the field). Only the fields of the
        record's type are read: the API keeps stale interval values on a cron schedule. A missing
        start_time is `now` (a date schedule must have one). end_time is compared with an explicit
        start_time only, so that a stored schedule whose end has passed still makes a rule (with
        no runs) rather than an error when it is read at firing time."""
        kind = _schedule_type(rec.get("type"))
        timezone = check_timezone(rec.get("timezone"))
        given = _epoch(rec, "start_time")
        end = _epoch(rec, "end_time")
        if kind == ScheduleType.DATE and given is None:
            raise ValidationError("start_time", "is required for a date schedule: it is the one time it runs")
        if given is not None and end is not None and end <= given:
            raise ValidationError("end_time", f"{end} is not after start_time {given}: the schedule would never run")
        start = now if given is None else given
        cron = cron_string(rec) if kind == ScheduleType.CRON else ""
        interval = _interval_seconds(rec) if kind == ScheduleType.INTERVAL else 0
        return cls(kind, cron=cron, interval=interval, start=start, end=end, timezone=timezone)


def _schedule_type(value: object) -> ScheduleType:
    if value is None or value == "":
        return ScheduleType.CRON  # the API's default
    try:
        return ScheduleType(value)
    except ValueError:
        raise ValidationError("type", f"{str(value)[:40]!r} is not a schedule type: use cron, interval or date") from None


def _epoch(rec: dict, name: str) -> int | None:
    value = rec.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(name, f"must be epoch seconds (a whole number), not {type(value).__name__}")
    if not 0 <= value <= LAST_INSTANT:
        raise ValidationError(name, f"{value} is out of range 0-{LAST_INSTANT} (1970 to the year 9999)")
    return value


def _interval_seconds(rec: dict) -> int:
    """interval x interval_type in seconds: at least a minute, a whole number of minutes, since
    EventBridge Scheduler's rate() counts minutes, hours or days and runs at most once a minute."""
    raw_unit = rec.get("interval_type")
    try:
        unit = IntervalUnit(raw_unit)
    except ValueError:
        raise ValidationError("interval_type", f"{str(raw_unit)[:40]!r} is not a unit: use "
                                               f"{', '.join(IntervalUnit)}") from None
    count = rec.get("interval")
    if isinstance(count, bool) or not isinstance(count, int):
        what = "is required" if count is None else f"must be a whole number, not {type(count).__name__}"
        raise ValidationError("interval", f"{what}: an interval schedule runs every interval {unit}")
    if count <= 0:
        raise ValidationError("interval", f"must be a positive number of {unit}, not {count}")
    seconds = count * unit.seconds
    if seconds < MIN_INTERVAL:
        raise ValidationError("interval", f"{count} {unit} is {seconds} s: EventBridge Scheduler cannot run more often "
                                          f"than once a minute ({MIN_INTERVAL} s)")
    if seconds % 60:
        raise ValidationError("interval", f"{count} {unit} is not a whole number of minutes: EventBridge Scheduler's "
                                          "rate() counts minutes, hours or days")
    if seconds > LAST_INSTANT:
        raise ValidationError("interval", f"{count} {unit} is longer than any schedule can last")
    return seconds


# ---------------------------------------------------------------- due times


@dataclass(frozen=True)
class Due:
    at: int  # epoch seconds (UTC instant)
    shifted: bool = False  # True when the nominal local time did not exist (DST gap) and the run moved forward


def due_times(rule: Rule, after: int, count: int) -> list[Due]:
    """The next `count` runs strictly after `after`, none before rule.start or after rule.end
    (both inclusive); fewer when the rule ends. Increasing and unique."""
    low = max(after + 1, rule.start)
    high = LAST_INSTANT if rule.end is None else min(rule.end, LAST_INSTANT)
    if count <= 0 or low > high:
        return []
    if rule.type == ScheduleType.DATE:
        return [Due(rule.start)] if low <= rule.start <= high else []
    if rule.type == ScheduleType.INTERVAL:
        return _interval_times(rule, low, high, count)
    return _cron_times(_compiled(rule.cron), _zone(rule.timezone), low, high, count)


def due_until(rule: Rule, after: int, until: int) -> list[Due]:
    """The runs strictly after `after` and at or before `until`. A rule runs at most once a
    minute (cron's resolution, MIN_INTERVAL), which bounds how many there can be: so the times
    after `until` are never computed (listing 10,000 cron times to keep one costs 150 ms)."""
    if until <= after:
        return []
    return [d for d in due_times(rule, after, (until - after) // MIN_INTERVAL + 1) if d.at <= until]


def next_due(rule: Rule, after: int) -> Due | None:
    """The first run strictly after `after`, or None when there is none."""
    times = due_times(rule, after, 1)
    return times[0] if times else None


def _interval_times(rule: Rule, low: int, high: int, count: int) -> list[Due]:
    """start, start+i, start+2i ... in absolute time: arithmetic, no iteration to reach `low`."""
    if rule.interval <= 0:
        raise ValidationError("interval", "must be at least one minute")
    first = rule.start + -(-(low - rule.start) // rule.interval) * rule.interval
    last = min(high, first + (count - 1) * rule.interval)
    return [Due(at) for at in range(first, last + 1, rule.interval)]


def _cron_times(cron: _Cron, tz: ZoneInfo, low: int, high: int, count: int) -> list[Due]:
    """Cron runs in [low, high]. Runs of wall times in a DST gap are shifted forward and can land
    after real runs that come later in wall-clock order (a 30-minute gap: 02:10 runs at 02:40,
    02:35 at 02:35), so they wait in `pending` until no earlier real run can come; real runs are
    increasing among themselves, and so are shifted ones. A run at an instant already taken is
    dropped: the instants are increasing and unique."""
    out: list[Due] = []
    pending: deque[Due] = deque()

    def emit(due: Due) -> None:
        if low <= due.at <= high and (not out or due.at > out[-1].at):
            out.append(due)

    for wall in _walls(cron, tz, low, count + _EXTRA_CANDIDATES):
        due, exists = _to_instant(cron, wall, tz)
        if not exists:
            pending.append(due)
            continue
        if due.at > high:
            break
        while pending and pending[0].at <= due.at:
            emit(pending.popleft())
        emit(due)
        if len(out) >= count:
            break
    while pending:
        emit(pending.popleft())
    return out[:count]


def _walls(cron: _Cron, tz: ZoneInfo, low: int, limit: int) -> Iterator[dt.datetime]:
    """At most `limit` naive local wall times of the pattern from just before `low`: early enough
    that a wall time in a DST gap just before `low`, whose run is shifted to `low` or later, is
    among them."""
    base = dt.datetime.fromtimestamp(low, tz).replace(tzinfo=None) - dt.timedelta(seconds=_gap_margin(tz, low) + 1)
    it = croniter(cron.croniter_expr, base)
    for _ in range(limit):
        try:
            yield it.get_next(dt.datetime)
        except (CroniterError, OverflowError, ValueError):  # no further match (31 February), or past year 9999
            return


def _gap_margin(tz: ZoneInfo, at: int) -> int:
    """Seconds of a spring-forward gap that ended less than its own length before `at` (0 when
    none): wall times in that gap run shifted to instants from the gap's end onwards."""
    now_offset = _offset(tz, at)
    gap = now_offset - _offset(tz, at - 2 * 86400)
    return gap if gap > 0 and _offset(tz, at - gap) < now_offset else 0


def _offset(tz: ZoneInfo, at: int) -> int:
    delta = dt.datetime.fromtimestamp(at, tz).utcoffset()
    return int(delta.total_seconds()) if delta is not None else 0


def _to_instant(cron: _Cron, wall: dt.datetime, tz: ZoneInfo) -> tuple[Due, bool]:
    """The run of a naive wall time, and whether that wall time exists. One that occurs twice
    runs at its first occurrence (fold=0). One that does not exist maps, with fold=0, to the same
    wall time shifted forward by the gap (found by the round trip through UTC changing the wall
    time); that run is `shifted` unless the wall time it lands on is a time of the pattern anyway
    (`0 2,3 * * *`: 02:00 lands on 03:00, which runs in any case)."""
    at = int(wall.replace(tzinfo=tz).astimezone(_UTC).timestamp())
    landed = dt.datetime.fromtimestamp(at, tz).replace(tzinfo=None)
    exists = landed == wall
    return Due(at, shifted=not exists and not cron.matches(landed)), exists


def describe(due: Due, timezone: str) -> dict:
    """A run as the API shows it: epoch seconds, local time with its offset, UTC, and whether
    daylight saving time moved it."""
    local = dt.datetime.fromtimestamp(due.at, _zone(check_timezone(timezone)))
    utc = dt.datetime.fromtimestamp(due.at, _UTC)
    return {"time": due.at, "local": local.isoformat(timespec="seconds"),
            "utc": utc.strftime("%Y-%m-%dT%H:%M:%SZ"), "shifted": due.shifted}


# ---------------------------------------------------------------- EventBridge Scheduler


@dataclass(frozen=True)
class Expression:
    """What EventBridge Scheduler's CreateSchedule takes."""

    expression: str  # "cron(...)", "rate(...)" or "at(...)"
    timezone: str  # ScheduleExpressionTimezone
    start: int | None  # StartDate (epoch s) or None
    end: int | None  # EndDate (epoch s) or None


_EB_DAYS = ("SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT")


def eventbridge(rule: Rule, now: int) -> Expression:
    """The rule as EventBridge Scheduler's schedule expression, time zone and window."""
    if rule.type == ScheduleType.DATE:
        local = dt.datetime.fromtimestamp(rule.start, _zone(rule.timezone)).replace(tzinfo=None)
        return Expression(f"at({local.isoformat(timespec='seconds')})", rule.timezone, None, None)
    if rule.type == ScheduleType.INTERVAL:
        return Expression(_rate(rule.interval), rule.timezone, _next_interval_start(rule, now), rule.end)
    start = rule.start if rule.start > now else None
    return Expression(_eventbridge_cron(_compiled(rule.cron)), rule.timezone, start, rule.end)


def _rate(seconds: int) -> str:
    """rate(N unit) in the largest whole unit: EventBridge Scheduler has minutes, hours, days."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60)):
        if seconds % size == 0:
            value = seconds // size
            return f"rate({value} {unit}{'' if value == 1 else 's'})"
    raise ValidationError("interval", f"{seconds} s is not a whole number of minutes")


def _next_interval_start(rule: Rule, now: int) -> int:
    """The first run at or after `now`: EventBridge refuses a StartDate more than 5 minutes in
    the past, and a rate schedule counts from its StartDate, so this also keeps the phase."""
    if now <= rule.start:
        return rule.start
    return rule.start + -(-(now - rule.start) // rule.interval) * rule.interval


def _eventbridge_cron(cron: _Cron) -> str:
    """cron(min hour dom month dow year) from the value sets: `*` for a full set, otherwise a
    comma list with runs of three or more as ranges, which sidesteps every difference in step
    syntax. Days of the week as names (EventBridge numbers them 1-7 from Sunday). One of dom and
    dow must be `?`."""
    minute, hour, day, month, week = cron.sets
    fields = {"minute": _compress(minute, _SPEC["minute"]), "hour": _compress(hour, _SPEC["hour"]),
              "day": _compress(day, _SPEC["day"]), "month": _compress(month, _SPEC["month"]), "week": "?"}
    if cron.restricted("week"):
        fields["day"], fields["week"] = "?", ",".join(_EB_DAYS[v] for v in sorted(week))
    expression = f"cron({' '.join(fields.values())} *)"
    if len(expression) > MAX_EXPRESSION_LENGTH:
        longest = max(fields, key=lambda name: len(fields[name]))
        raise ValidationError(longest, f"{cron.text!r} is {len(expression)} characters as an EventBridge Scheduler "
                                       f"expression, at most {MAX_EXPRESSION_LENGTH} are allowed; simplify {longest}")
    return expression


def _compress(values: frozenset[int], spec: _FieldSpec) -> str:
    """`*` for every value, else `1-5,7,9-11` (runs of three or more as ranges)."""
    if values == spec.full:
        return "*"
    ordered = sorted(values)
    parts: list[str] = []
    run_start = prev = ordered[0]
    for value in [*ordered[1:], None]:
        if value is not None and value == prev + 1:
            prev = value
            continue
        if prev - run_start >= 2:
            parts.append(f"{run_start}-{prev}")
        else:
            parts.extend(str(v) for v in range(run_start, prev + 1))
        if value is not None:
            run_start = prev = value
    return ",".join(parts)

"""Schedule timing (spec §2.2): validating the cron, interval and date fields, the due times of a
rule (time zones and daylight saving time included), and the EventBridge Scheduler expressions
that mirror them. Pure functions: no stack, no moto."""
from __future__ import annotations

import datetime as dt
import time
from zoneinfo import ZoneInfo

import pytest
from croniter import croniter

from chalicelib.services.errors import ValidationError
from chalicelib.services.schedules import timing
from chalicelib.services.schedules.timing import (
    CRON_FIELDS,
    Due,
    Expression,
    IntervalUnit,
    Rule,
    ScheduleType,
    check_timezone,
    cron_string,
    describe,
    due_times,
    eventbridge,
    next_due,
)

BERLIN, SHANGHAI, UTC = ZoneInfo("Europe/Berlin"), ZoneInfo("Asia/Shanghai"), dt.UTC
NOW = int(dt.datetime(2026, 1, 1, tzinfo=UTC).timestamp())


def epoch(*parts: int, tz: dt.tzinfo = UTC) -> int:
    return int(dt.datetime(*parts, tzinfo=tz).timestamp())


def fields(expr: str) -> dict:
    return dict(zip(CRON_FIELDS, expr.split()))


def cron_rule(expr: str, tz: str = "UTC", **extra) -> Rule:
    return Rule.from_record({"type": "cron", **fields(expr), "timezone": tz, **extra}, NOW)


def interval_rule(interval: int, unit: str, **extra) -> Rule:
    return Rule.from_record({"type": "interval", "interval": interval, "interval_type": unit, **extra}, NOW)


def local(at: int, tz: ZoneInfo) -> str:
    return dt.datetime.fromtimestamp(at, tz).isoformat()


# ---------------------------------------------------------------- cron -> EventBridge, checked against croniter

CONVERSIONS = [
    ("* * * * *", "cron(* * * * ? *)"),
    ("0 * * * *", "cron(0 * * * ? *)"),
    ("*/15 * * * *", "cron(0,15,30,45 * * * ? *)"),
    ("5/10 * * * *", "cron(5,15,25,35,45,55 * * * ? *)"),
    ("10-50/20 * * * *", "cron(10,30,50 * * * ? *)"),
    ("0-4,30-34 * * * *", "cron(0-4,30-34 * * * ? *)"),
    ("1,2,3,5 * * * *", "cron(1-3,5 * * * ? *)"),
    ("0,1 * * * *", "cron(0,1 * * * ? *)"),
    ("0-59/1 * * * *", "cron(* * * * ? *)"),
    ("30 2 * * *", "cron(30 2 * * ? *)"),
    ("0 9-17 * * *", "cron(0 9-17 * * ? *)"),
    ("0 */6 * * *", "cron(0 0,6,12,18 * * ? *)"),
    ("0 0-23 * * *", "cron(0 * * * ? *)"),
    ("0 0 1 * *", "cron(0 0 1 * ? *)"),
    ("0 0 1,15 * *", "cron(0 0 1,15 * ? *)"),
    ("0 0 */10 * *", "cron(0 0 1,11,21,31 * ? *)"),
    ("0 0 28-31 * *", "cron(0 0 28-31 * ? *)"),
    ("0 0 1-31 * *", "cron(0 0 * * ? *)"),
    ("59 23 31 12 *", "cron(59 23 31 12 ? *)"),
    ("0 0 1 jan *", "cron(0 0 1 1 ? *)"),
    ("0 0 1 jun-aug *", "cron(0 0 1 6-8 ? *)"),
    ("0 0 1 */3 *", "cron(0 0 1 1,4,7,10 ? *)"),
    ("0 0 1 JAN,Jul *", "cron(0 0 1 1,7 ? *)"),
    ("0 0 * 2-4,12 *", "cron(0 0 * 2-4,12 ? *)"),
    ("0 0 * * 0", "cron(0 0 ? * SUN *)"),
    ("0 0 * * 7", "cron(0 0 ? * SUN *)"),
    ("0 0 * * 0,7", "cron(0 0 ? * SUN *)"),
    ("0 0 * * 1-5", "cron(0 0 ? * MON,TUE,WED,THU,FRI *)"),
    ("0 0 * * 5-7", "cron(0 0 ? * SUN,FRI,SAT *)"),
    ("0 0 * * */2", "cron(0 0 ? * SUN,TUE,THU,SAT *)"),
    ("0 0 * * 1/2", "cron(0 0 ? * MON,WED,FRI *)"),
    ("0 0 * * 0-7", "cron(0 0 * * ? *)"),
    ("0 0 * * mon", "cron(0 0 ? * MON *)"),
    ("0 0 * * MON-FRI", "cron(0 0 ? * MON,TUE,WED,THU,FRI *)"),
    ("0 0 * * sat,sun", "cron(0 0 ? * SUN,SAT *)"),
    ("0 0 * * fri-sun", "cron(0 0 ? * SUN,FRI,SAT *)"),
    ("15 8 * jan-mar 1", "cron(15 8 ? 1-3 MON *)"),
    ("0 12 1-7 * *", "cron(0 12 1-7 * ? *)"),
    ("0,30 9-12,14-17 * * mon-fri", "cron(0,30 9-12,14-17 ? * MON,TUE,WED,THU,FRI *)"),
    ("*/20 */8 */15 */4 *", "cron(0,20,40 0,8,16 1,16,31 1,5,9 ? *)"),
    ("0 0 29 2 *", "cron(0 0 29 2 ? *)"),
]
STARTS = [dt.datetime(2026, 1, 1), dt.datetime(2026, 2, 27, 13, 7, 30), dt.datetime(2026, 12, 31, 23, 59),
          dt.datetime(2028, 2, 28, 12, 0)]


def croniter_of_eventbridge(expression: str) -> str:
    """The EventBridge cron expression read back as a 5-field croniter expression."""
    assert expression.startswith("cron(") and expression.endswith(")")
    six = expression[len("cron("):-1].split()
    assert len(six) == 6 and six[5] == "*"
    return " ".join("*" if part == "?" else part for part in six[:5])


def next_runs(expr: str, start: dt.datetime, count: int = 25) -> list[dt.datetime]:
    it = croniter(expr, start)
    return [it.get_next(dt.datetime) for _ in range(count)]


@pytest.mark.parametrize(("expr", "expected"), CONVERSIONS)
def test_a_cron_becomes_its_eventbridge_expression(expr, expected):
    assert eventbridge(cron_rule(expr), NOW).expression == expected


@pytest.mark.parametrize(("expr", "expected"), CONVERSIONS)
def test_the_eventbridge_expression_runs_when_croniter_runs_the_original(expr, expected):
    back = croniter_of_eventbridge(expected)
    for start in STARTS:
        assert next_runs(back, start) == next_runs(expr, start), start


@pytest.mark.parametrize(("expr", "expected"), CONVERSIONS)
def test_due_times_in_utc_are_croniters_times_of_the_original(expr, expected):
    rule = cron_rule(expr, start_time=0)
    for start in STARTS:
        after = int(start.replace(tzinfo=UTC).timestamp())
        got = [dt.datetime.fromtimestamp(d.at, UTC).replace(tzinfo=None) for d in due_times(rule, after, 25)]
        assert got == next_runs(expr, start), start


def test_the_conversion_table_is_large_enough():
    assert len(CONVERSIONS) >= 30


def test_a_full_day_field_with_a_week_field_runs_on_the_week_days_only():
    # croniter, given "1-31" and "mon" as written, ORs them (every day); the value sets do not
    rule = cron_rule("0 0 1-31 * mon")
    assert eventbridge(rule, NOW).expression == "cron(0 0 ? * MON *)"
    days = {dt.datetime.fromtimestamp(d.at, UTC).weekday() for d in due_times(rule, NOW, 10)}
    assert days == {0}


def test_an_equal_range_is_that_one_value():
    # croniter reads "5-5" as the whole cycle; standard cron and this module read minute 5
    rule = cron_rule("5-5 * * * *")
    assert eventbridge(rule, NOW).expression == "cron(5 * * * ? *)"
    assert [d.at - NOW for d in due_times(rule, NOW, 2)] == [300, 3900]


# ---------------------------------------------------------------- the normalized cron string


@pytest.mark.parametrize(("rec", "expected"), [
    ({"day": "3"}, "* * 3 * *"),
    ({}, "* * * * *"),
    ({"minute": "", "hour": None, "day": "  ", "month": "JUN-Aug", "week": " MON-fri "}, "* * * jun-aug mon-fri"),
    ({"minute": 5, "hour": 0}, "5 0 * * *"),
    ({"minute": "*/15", "hour": "9-17", "week": "1-5"}, "*/15 9-17 * * 1-5"),
])
def test_cron_string_normalizes_the_five_fields(rec, expected):
    assert cron_string(rec) == expected


def test_a_rule_keeps_the_normalized_cron_string():
    assert cron_rule("0 3 * * SUN").cron == "0 3 * * sun"


def test_interval_fields_are_ignored_for_a_cron_schedule():
    rule = Rule.from_record({"type": "cron", "minute": "0", "interval": 5, "interval_type": "fortnights"}, NOW)
    assert (rule.type, rule.cron, rule.interval) == (ScheduleType.CRON, "0 * * * *", 0)


def test_cron_fields_are_ignored_for_an_interval_schedule():
    rule = interval_rule(5, "minutes", minute="99", week="L")
    assert (rule.type, rule.cron, rule.interval) == (ScheduleType.INTERVAL, "", 300)


# ---------------------------------------------------------------- validation errors name the field

CRON_ERRORS = [
    ({"minute": "60"}, "minute", "out of range 0-59"),
    ({"minute": "61"}, "minute", "61 is out of range 0-59"),
    ({"hour": "24"}, "hour", "out of range 0-23"),
    ({"day": "0"}, "day", "out of range 1-31"),
    ({"day": "32"}, "day", "out of range 1-31"),
    ({"month": "0"}, "month", "out of range 1-12"),
    ({"month": "13"}, "month", "out of range 1-12"),
    ({"week": "8"}, "week", "out of range 0-7"),
    ({"minute": "99999999999999999999"}, "minute", "out of range"),
    ({"month": "janu"}, "month", "not a month name"),
    ({"week": "monday"}, "week", "not a week name"),
    ({"week": "jan"}, "week", "not a week name"),
    ({"minute": "mon"}, "minute", "not a number"),
    ({"minute": "5-1"}, "minute", "reversed range"),
    ({"hour": "20-4/2"}, "hour", "reversed range"),
    ({"week": "fri-mon"}, "week", "reversed range"),
    ({"month": "dec-jan"}, "month", "reversed range"),
    ({"minute": "*/0"}, "minute", "at least 1"),
    ({"hour": "1-5/0"}, "hour", "at least 1"),
    ({"minute": "*/x"}, "minute", "whole number"),
    ({"minute": "*/"}, "minute", "whole number"),
    ({"minute": "*/61"}, "minute", "larger than"),
    ({"minute": "1/2/3"}, "minute", "whole number"),
    ({"day": "L"}, "day", "not supported"),
    ({"day": "15W"}, "day", "not a number or a name"),
    ({"week": "5#3"}, "week", "not supported"),
    ({"week": "5L"}, "week", "not a number or a name"),
    ({"week": "?"}, "week", "not supported"),
    ({"day": "?"}, "day", "not supported"),
    ({"minute": "1,,2"}, "minute", "empty item"),
    ({"minute": ","}, "minute", "empty item"),
    ({"minute": "1-"}, "minute", "is empty"),
    ({"minute": "-1"}, "minute", "negative"),
    ({"minute": -1}, "minute", "negative"),
    ({"minute": "1-2-3"}, "minute", "not a number or a name"),
    ({"minute": "*-5"}, "minute", "not a number or a name"),
    ({"minute": "1 2"}, "minute", "not allowed"),
    ({"hour": "\u0663"}, "hour", "ASCII"),  # ARABIC-INDIC DIGIT THREE
    ({"hour": "\uff15"}, "hour", "ASCII"),  # FULLWIDTH DIGIT FIVE
    ({"month": "\u212aan"}, "month", "ASCII"),  # KELVIN SIGN, which lowercases to an ASCII k
    ({"minute": True}, "minute", "not bool"),
    ({"hour": 1.5}, "hour", "not float"),
    ({"day": [1]}, "day", "not list"),
    ({"week": {"a": 1}}, "week", "not dict"),
    ({"minute": "1," * 101}, "minute", "at most 200"),
    ({"day": "1", "week": "mon"}, "week", "cannot be combined with day"),
    ({"day": "*/2", "week": "1-5"}, "week", "cannot be combined with day"),
]


@pytest.mark.parametrize(("rec", "field", "why"), CRON_ERRORS)
def test_a_bad_cron_field_is_refused_naming_the_field(rec, field, why):
    with pytest.raises(ValidationError) as caught:
        Rule.from_record({"type": "cron", **rec}, NOW)
    assert str(caught.value).startswith(f"{field}: ") and caught.value.field == field
    assert why in str(caught.value)


@pytest.mark.parametrize(("rec", "field", "why"), CRON_ERRORS)
def test_cron_string_refuses_what_the_rule_refuses(rec, field, why):
    with pytest.raises(ValidationError, match=f"^{field}: "):
        cron_string(rec)


RECORD_ERRORS = [
    ({"type": "weekly"}, "type", "not a schedule type"),
    ({"type": "cron", "timezone": "Mars/Olympus"}, "timezone", "not a known IANA time zone"),
    ({"type": "cron", "timezone": "europe/berlin"}, "timezone", "not a known IANA time zone"),
    ({"type": "cron", "timezone": "../etc/passwd"}, "timezone", "not an IANA time zone name"),
    ({"type": "cron", "timezone": "/etc/localtime"}, "timezone", "not an IANA time zone name"),
    ({"type": "cron", "timezone": "localtime"}, "timezone", "not an IANA time zone name"),
    ({"type": "cron", "timezone": "America"}, "timezone", "not a known IANA time zone"),
    ({"type": "cron", "timezone": 5}, "timezone", "not int"),
    ({"type": "date"}, "start_time", "required for a date schedule"),
    ({"type": "cron", "start_time": 1000, "end_time": 1000}, "end_time", "not after start_time"),
    ({"type": "cron", "start_time": 1000, "end_time": 10}, "end_time", "never run"),
    ({"type": "cron", "start_time": "1000"}, "start_time", "not str"),
    ({"type": "cron", "start_time": True}, "start_time", "not bool"),
    ({"type": "cron", "start_time": -1}, "start_time", "out of range"),
    ({"type": "cron", "end_time": 10**13}, "end_time", "out of range"),
    ({"type": "interval", "interval": 90, "interval_type": "seconds"}, "interval", "whole number of minutes"),
    ({"type": "interval", "interval": 30, "interval_type": "seconds"}, "interval",
     "EventBridge Scheduler cannot run more often than once a minute"),
    ({"type": "interval", "interval": 0, "interval_type": "minutes"}, "interval", "positive"),
    ({"type": "interval", "interval": -5, "interval_type": "minutes"}, "interval", "positive"),
    ({"type": "interval", "interval_type": "minutes"}, "interval", "required"),
    ({"type": "interval", "interval": "5", "interval_type": "minutes"}, "interval", "not str"),
    ({"type": "interval", "interval": True, "interval_type": "minutes"}, "interval", "not bool"),
    ({"type": "interval", "interval": 5, "interval_type": "fortnights"}, "interval_type", "not a unit"),
    ({"type": "interval", "interval": 5}, "interval_type", "not a unit"),
]


@pytest.mark.parametrize(("rec", "field", "why"), RECORD_ERRORS)
def test_a_bad_record_field_is_refused_naming_the_field(rec, field, why):
    with pytest.raises(ValidationError) as caught:
        Rule.from_record(rec, NOW)
    assert str(caught.value).startswith(f"{field}: ") and caught.value.field == field
    assert why in str(caught.value)


@pytest.mark.parametrize("name", [None, ""])
def test_an_empty_timezone_is_utc(name):
    assert check_timezone(name) == "UTC"


@pytest.mark.parametrize("name", ["UTC", "Europe/Berlin", "Asia/Shanghai", "America/Argentina/Buenos_Aires", "Etc/GMT+5"])
def test_a_known_timezone_is_kept(name):
    assert check_timezone(name) == name


def test_a_record_without_start_time_starts_now():
    assert Rule.from_record({"type": "cron"}, NOW).start == NOW


def test_a_stored_schedule_whose_end_passed_still_makes_a_rule_with_no_runs():
    rule = Rule.from_record({"type": "cron", "end_time": NOW - 60}, NOW)
    assert due_times(rule, NOW, 5) == [] and next_due(rule, NOW) is None


def test_the_interval_units_have_their_lengths_in_seconds():
    assert [unit.seconds for unit in IntervalUnit] == [1, 60, 3600, 86400, 604800]
    assert [str(unit) for unit in IntervalUnit] == ["seconds", "minutes", "hours", "days", "weeks"]


def test_an_expression_too_long_for_eventbridge_names_the_longest_field(monkeypatch):
    monkeypatch.setattr(timing, "MAX_EXPRESSION_LENGTH", 40)
    with pytest.raises(ValidationError, match="^minute: .*at most 40"):
        eventbridge(cron_rule("*/2 3 * * *"), NOW)


# ---------------------------------------------------------------- daylight saving time


def berlin_runs(first_day: tuple[int, int, int], last_day: tuple[int, int, int]) -> list[Due]:
    """`30 2 * * *` in Berlin from local midnight of first_day to local midnight of last_day."""
    rule = cron_rule("30 2 * * *", "Europe/Berlin", start_time=0, end_time=epoch(*last_day, tz=BERLIN))
    return due_times(rule, epoch(*first_day, tz=BERLIN) - 1, 100)


def test_spring_forward_runs_once_a_day_and_the_gap_day_at_0330_cest_shifted():
    runs = berlin_runs((2026, 3, 27), (2026, 3, 31))
    assert [local(d.at, BERLIN) for d in runs] == [
        "2026-03-27T02:30:00+01:00", "2026-03-28T02:30:00+01:00", "2026-03-29T03:30:00+02:00",
        "2026-03-30T02:30:00+02:00"]
    assert [d.shifted for d in runs] == [False, False, True, False]


def test_fall_back_runs_once_a_day_and_the_repeated_time_at_its_first_occurrence():
    runs = berlin_runs((2026, 10, 23), (2026, 10, 27))
    assert [local(d.at, BERLIN) for d in runs] == [
        "2026-10-23T02:30:00+02:00", "2026-10-24T02:30:00+02:00", "2026-10-25T02:30:00+02:00",
        "2026-10-26T02:30:00+01:00"]
    assert not any(d.shifted for d in runs)


def test_the_shifted_run_is_due_after_an_instant_inside_the_hour_it_moved_to():
    rule = cron_rule("30 2 * * *", "Europe/Berlin", start_time=0)
    assert next_due(rule, epoch(2026, 3, 29, 3, 10, tz=BERLIN)) == Due(epoch(2026, 3, 29, 1, 30), shifted=True)


def test_a_run_after_the_repeated_hour_began_again_is_not_repeated():
    rule = cron_rule("30 2 * * *", "Europe/Berlin", start_time=0)
    second_0210 = epoch(2026, 10, 25, 1, 10)  # 02:10 CET, the second 02:10 of the day
    assert local(next_due(rule, second_0210).at, BERLIN) == "2026-10-26T02:30:00+01:00"


def test_shifted_times_that_land_on_real_times_run_once_and_are_not_marked_shifted():
    rule = cron_rule("*/30 * * * *", "Europe/Berlin", start_time=0)
    runs = due_times(rule, epoch(2026, 3, 29, 1, 0, tz=BERLIN), 5)
    assert [local(d.at, BERLIN)[11:] for d in runs] == [
        "01:30:00+01:00", "03:00:00+02:00", "03:30:00+02:00", "04:00:00+02:00", "04:30:00+02:00"]
    assert not any(d.shifted for d in runs)


def test_every_half_hour_skips_the_repeated_hour_in_fall():
    rule = cron_rule("*/30 * * * *", "Europe/Berlin", start_time=0)
    runs = due_times(rule, epoch(2026, 10, 25, 1, 0, tz=BERLIN), 5)
    assert [local(d.at, BERLIN)[11:] for d in runs] == [
        "01:30:00+02:00", "02:00:00+02:00", "02:30:00+02:00", "03:00:00+01:00", "03:30:00+01:00"]


def test_a_shifted_run_is_ordered_after_a_real_run_it_moved_past():
    # Lord Howe Island springs forward by 30 minutes (02:00 -> 02:30) on 2026-10-04
    lord_howe = ZoneInfo("Australia/Lord_Howe")
    rule = cron_rule("10,35 2 * * *", "Australia/Lord_Howe", start_time=0)
    runs = due_times(rule, epoch(2026, 10, 4, tz=lord_howe), 3)
    assert [(local(d.at, lord_howe), d.shifted) for d in runs] == [
        ("2026-10-04T02:35:00+11:00", False), ("2026-10-04T02:40:00+11:00", True), ("2026-10-05T02:10:00+11:00", False)]


def test_due_times_are_increasing_and_unique_across_a_year_of_transitions():
    rule = cron_rule("*/20 1-3 * * *", "Europe/Berlin", start_time=0)
    runs = due_times(rule, epoch(2026, 1, 1), 3000)
    ats = [d.at for d in runs]
    assert ats == sorted(set(ats)) and len(ats) == 3000


def test_due_times_do_not_depend_on_the_machines_time_zone(monkeypatch):
    rule = cron_rule("30 2 * * *", "Europe/Berlin", start_time=0)
    expected = due_times(rule, epoch(2026, 3, 27), 5)
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    try:
        assert due_times(rule, epoch(2026, 3, 27), 5) == expected
    finally:
        monkeypatch.undo()
        time.tzset()


# ---------------------------------------------------------------- time zones


def test_sunday_0300_in_shanghai_is_saturday_1900_utc():
    rule = cron_rule("0 3 * * 0", "Asia/Shanghai", start_time=0)
    runs = due_times(rule, epoch(2026, 6, 1), 3)
    assert [dt.datetime.fromtimestamp(d.at, UTC).strftime("%a %H:%M") for d in runs] == ["Sat 19:00"] * 3
    assert [local(d.at, SHANGHAI) for d in runs][0] == "2026-06-07T03:00:00+08:00"


def test_sunday_0300_in_shanghai_is_mirrored_with_its_time_zone():
    assert eventbridge(cron_rule("0 3 * * 0", "Asia/Shanghai"), NOW) == Expression(
        "cron(0 3 ? * SUN *)", "Asia/Shanghai", None, None)


# ---------------------------------------------------------------- date schedules


def date_rule(start: int, tz: str = "UTC", **extra) -> Rule:
    return Rule.from_record({"type": "date", "start_time": start, "timezone": tz, **extra}, NOW)


def test_a_date_schedule_runs_once_at_start_time():
    at = epoch(2026, 5, 1, 12, 34, 56)
    rule = date_rule(at)
    assert due_times(rule, NOW, 5) == [Due(at)]
    assert due_times(rule, at - 1, 5) == [Due(at)]


def test_a_date_schedule_runs_nothing_after_its_time():
    at = epoch(2026, 5, 1)
    assert due_times(date_rule(at), at, 5) == [] and next_due(date_rule(at), at + 3600) is None


def test_a_date_schedule_after_its_end_runs_nothing():
    rule = Rule(ScheduleType.DATE, start=epoch(2026, 5, 1), end=epoch(2026, 4, 1))
    assert due_times(rule, NOW, 5) == []


def test_a_date_schedule_is_mirrored_as_at_in_local_time():
    rule = date_rule(epoch(2026, 5, 1, 10, 0, 5), "Asia/Shanghai")
    assert eventbridge(rule, NOW) == Expression("at(2026-05-01T18:00:05)", "Asia/Shanghai", None, None)


# ---------------------------------------------------------------- the start..end window


def test_end_time_stops_the_runs():
    rule = cron_rule("0 * * * *", start_time=NOW, end_time=NOW + 3 * 3600)
    assert [d.at - NOW for d in due_times(rule, NOW - 1, 10)] == [0, 3600, 7200, 10800]


def test_a_future_start_time_delays_the_runs():
    start = NOW + 5 * 86400 + 1
    rule = cron_rule("0 0 * * *", start_time=start)
    assert [d.at for d in due_times(rule, NOW, 2)] == [NOW + 6 * 86400, NOW + 7 * 86400]


def test_the_window_bounds_are_inclusive():
    rule = cron_rule("0 * * * *", start_time=NOW + 3600, end_time=NOW + 7200)
    assert [d.at - NOW for d in due_times(rule, NOW, 10)] == [3600, 7200]


def test_due_times_are_strictly_after_after():
    rule = cron_rule("0 * * * *", start_time=0)
    assert next_due(rule, NOW).at == NOW + 3600 and next_due(rule, NOW - 1).at == NOW


def test_a_cron_mirror_has_its_future_start_and_its_end():
    rule = cron_rule("0 * * * *", start_time=NOW + 600, end_time=NOW + 86400)
    assert eventbridge(rule, NOW) == Expression("cron(0 * * * ? *)", "UTC", NOW + 600, NOW + 86400)


def test_a_cron_mirror_drops_a_start_in_the_past():
    assert eventbridge(cron_rule("0 * * * *", start_time=NOW - 600), NOW).start is None


# ---------------------------------------------------------------- intervals


@pytest.mark.parametrize(("interval", "unit", "expression"), [
    (1, "minutes", "rate(1 minute)"),
    (60, "seconds", "rate(1 minute)"),
    (120, "seconds", "rate(2 minutes)"),
    (90, "minutes", "rate(90 minutes)"),
    (60, "minutes", "rate(1 hour)"),
    (2, "hours", "rate(2 hours)"),
    (36, "hours", "rate(36 hours)"),
    (24, "hours", "rate(1 day)"),
    (1, "days", "rate(1 day)"),
    (1, "weeks", "rate(7 days)"),
])
def test_an_interval_is_mirrored_as_a_rate_in_its_largest_whole_unit(interval, unit, expression):
    assert eventbridge(interval_rule(interval, unit, start_time=NOW), NOW).expression == expression


def test_an_interval_runs_from_start_time_in_its_phase():
    start = NOW + 17
    rule = interval_rule(2, "hours", start_time=start)
    assert [d.at - start for d in due_times(rule, start - 1, 3)] == [0, 7200, 14400]
    assert [d.at - start for d in due_times(rule, start + 10 * 86400 + 1, 2)] == [10 * 86400 + 7200, 10 * 86400 + 14400]


def test_an_interval_runs_in_absolute_time_across_daylight_saving():
    start = epoch(2026, 3, 28, 12, tz=BERLIN)
    rule = interval_rule(1, "days", start_time=start, timezone="Europe/Berlin")
    runs = due_times(rule, start - 1, 3)
    assert [local(d.at, BERLIN) for d in runs] == [
        "2026-03-28T12:00:00+01:00", "2026-03-29T13:00:00+02:00", "2026-03-30T13:00:00+02:00"]


def test_an_interval_mirror_starts_at_the_next_run_at_or_after_now():
    start = NOW - 10 * 3600 - 600
    rule = interval_rule(2, "hours", start_time=start)
    assert eventbridge(rule, NOW) == Expression("rate(2 hours)", "UTC", start + 6 * 7200, None)
    assert eventbridge(rule, start + 7200).start == start + 7200


def test_an_interval_mirror_keeps_a_future_start():
    rule = interval_rule(5, "minutes", start_time=NOW + 3600, end_time=NOW + 7200)
    assert eventbridge(rule, NOW) == Expression("rate(5 minutes)", "UTC", NOW + 3600, NOW + 7200)


def test_an_interval_stops_at_its_end():
    rule = interval_rule(1, "hours", start_time=NOW, end_time=NOW + 7199)
    assert [d.at - NOW for d in due_times(rule, NOW - 1, 10)] == [0, 3600]


# ---------------------------------------------------------------- bounded work


def test_a_cron_that_never_matches_has_no_runs_and_returns_quickly():
    rule = cron_rule("0 0 31 2 *")
    began = time.perf_counter()
    assert due_times(rule, NOW, 10) == [] and next_due(rule, NOW) is None
    assert time.perf_counter() - began < 0.5


@pytest.mark.parametrize("count", [10, 100])
def test_due_times_of_every_minute_are_quick(count):
    rule = cron_rule("* * * * *", "Europe/Berlin")
    due_times(rule, NOW, count)  # warm the caches
    began = time.perf_counter()
    for _ in range(10):
        runs = due_times(rule, NOW + 10 * 365 * 86400, count)
    assert len(runs) == count and (time.perf_counter() - began) / 10 < 0.02


def test_an_interval_far_after_its_start_is_computed_without_iterating():
    rule = interval_rule(1, "minutes", start_time=0)
    began = time.perf_counter()
    assert next_due(rule, 200 * 365 * 86400 + 30).at == 200 * 365 * 86400 + 60
    assert time.perf_counter() - began < 0.01


def test_no_run_is_computed_past_the_year_9999():
    rule = cron_rule("0 * * * *", "Pacific/Kiritimati", start_time=0)
    runs = due_times(rule, timing.LAST_INSTANT - 3 * 3600, 10)
    assert runs and all(d.at <= timing.LAST_INSTANT for d in runs)
    assert describe(runs[-1], "Pacific/Kiritimati")["local"].startswith("9999-12-31T")


def test_zero_runs_asked_is_none():
    assert due_times(cron_rule("* * * * *"), NOW, 0) == []


# ---------------------------------------------------------------- describe


def test_describe_shows_epoch_local_time_with_offset_utc_and_shifted():
    due = Due(epoch(2026, 3, 29, 1, 30), shifted=True)
    assert describe(due, "Europe/Berlin") == {
        "time": due.at, "local": "2026-03-29T03:30:00+02:00", "utc": "2026-03-29T01:30:00Z", "shifted": True}


def test_describe_shows_the_second_occurrence_of_a_repeated_hour_with_its_own_offset():
    assert describe(Due(epoch(2026, 10, 25, 1, 30)), "Europe/Berlin")["local"] == "2026-10-25T02:30:00+01:00"


def test_describe_in_utc():
    assert describe(Due(NOW), "") == {"time": NOW, "local": "2026-01-01T00:00:00+00:00",
                                      "utc": "2026-01-01T00:00:00Z", "shifted": False}

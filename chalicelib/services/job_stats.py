"""The dashboard's job figures, kept as jobs finish rather than computed from the jobs.

A job's move to a final state (`jobs.finish`, the one place that writes it) adds, in the same
transaction as the state change, to three items of the counters table:

* `dash|day|<YYYY-MM-DD>`: attributes `successful`, `failed`, `canceled`: every job that finished
  that day (UTC);
* `dash|day|<YYYY-MM-DD>|templates`: `s<id>`, `f<id>`, `c<id>` (jobs of template <id> that ended
  successful, failed, canceled that day) and `t<id>` (its last failure's time): jobs of templates
  only (job and workflow templates; ad-hoc commands and syncs have none);
* `dash|template|<id>`: `successful`, `failed`, `canceled` of the template, all time.

So 30 days of figures and the failing-template ranking are 60 fixed items, one BatchGetItem
whatever the number of jobs. Only a transition that is stored counts: a duplicate delivery of
the same final state finds the job final already and writes nothing (its transaction is never
sent), and a write that loses a race is retried with its tallies computed again.

A day's templates item grows with the templates that ran that day (~30 bytes each), which keeps
it far below DynamoDB's 400 KB item limit up to ~10,000 distinct templates a day.

Jobs that finished before these figures existed are counted once by `backfill` (the local stack
runs it at start while its marker is missing; on AWS: `python -m chalicelib.services.job_stats
backfill`). A job counted as it finished carries `tallied`, so the backfill never counts it twice.
"""
from __future__ import annotations

import datetime
import time
from collections.abc import Iterable
from dataclasses import dataclass

from chalicelib.services import store
from chalicelib.services.jobs import FINAL, JobState

#: the days of the success-rate trend and of the failing-template ranking
DAYS = 30
#: the final states, in the order they are shown
FINAL_STATES = (JobState.SUCCESSFUL, JobState.FAILED, JobState.CANCELED)
_LETTER = {JobState.SUCCESSFUL: "s", JobState.FAILED: "f", JobState.CANCELED: "c"}
BACKFILL_MARKER = "dash|backfilled"


def day_key(day: datetime.date) -> str:
    return f"dash|day|{day.isoformat()}"


def templates_day_key(day: datetime.date) -> str:
    return f"dash|day|{day.isoformat()}|templates"


def template_key(template_id: int) -> str:
    return f"dash|template|{template_id}"


def utc_day(moment: float) -> datetime.date:
    return datetime.datetime.fromtimestamp(moment, datetime.UTC).date()


def window(now: float, days: int = DAYS) -> list[datetime.date]:
    """The last `days` UTC days up to today, oldest first."""
    today = utc_day(now)
    return [today - datetime.timedelta(days=back) for back in range(days - 1, -1, -1)]


def window_keys(dates: Iterable[datetime.date]) -> list[str]:
    return [key for day in dates for key in (day_key(day), templates_day_key(day))]


def tallies(job: dict) -> list[store.Tally]:
    """What one finished job adds to the figures."""
    state = JobState(job["state"])
    finished = int(job.get("finish_time") or time.time())
    day = utc_day(finished)
    out = [store.Tally(day_key(day), add={state.value: 1})]
    template = job.get("template")
    if isinstance(template, int):
        failed = state == JobState.FAILED
        out.append(store.Tally(templates_day_key(day), add={f"{_LETTER[state]}{template}": 1},
                               put={f"t{template}": finished} if failed else {}))
        out.append(store.Tally(template_key(template), add={state.value: 1},
                               put={"last_failure": finished} if failed else {}))
    return out


def finish_tallies(before: dict, after: dict) -> list[store.Tally]:
    """`store.mutate`'s tallies for `jobs.finish`: a job that reaches a final state counts once."""
    if after.get("state") not in FINAL or before.get("state") in FINAL:
        return []
    return tallies(after)


@dataclass(frozen=True)
class Day:
    date: str
    successful: int
    failed: int
    canceled: int

    @property
    def rate(self) -> float | None:
        return rate(self.successful, self.failed)

    def as_dict(self) -> dict:
        return {"date": self.date, "successful": self.successful, "failed": self.failed, "canceled": self.canceled,
                "total": self.successful + self.failed + self.canceled, "rate": self.rate}


def rate(successful: int, failed: int) -> float | None:
    """Successful runs among those that ran to an end (canceled runs say nothing about the
    playbook and are left out); None without any."""
    return round(successful / (successful + failed), 4) if successful + failed else None


def days(items: dict[str, dict], dates: list[datetime.date], templates: set[int] | None = None) -> list[Day]:
    """Figures per day: of every job (`templates` None), or of the jobs of those templates."""
    out = []
    for day in dates:
        if templates is None:
            item = items.get(day_key(day), {})
            counts = [item.get(state.value, 0) for state in FINAL_STATES]
        else:
            item = items.get(templates_day_key(day), {})
            counts = [sum(item.get(f"{_LETTER[state]}{t}", 0) for t in templates) for state in FINAL_STATES]
        out.append(Day(day.isoformat(), *counts))
    return out


@dataclass(frozen=True)
class TemplateFigures:
    template: int
    failures: int
    successful: int
    runs: int
    last_failure: int | None


def failing(items: dict[str, dict], dates: list[datetime.date], templates: set[int] | None = None) -> list[TemplateFigures]:
    """Templates with failed runs in the window, most failures first (then the latest failure)."""
    failures: dict[int, int] = {}
    successes: dict[int, int] = {}
    runs: dict[int, int] = {}
    last: dict[int, int] = {}
    for day in dates:
        for name, value in items.get(templates_day_key(day), {}).items():
            letter, digits = name[:1], name[1:]
            if letter not in "sfct" or not digits.isdigit():
                continue
            template = int(digits)
            if templates is not None and template not in templates:
                continue
            if letter == "t":
                last[template] = max(last.get(template, 0), value)
                continue
            runs[template] = runs.get(template, 0) + value
            if letter == "f":
                failures[template] = failures.get(template, 0) + value
            elif letter == "s":
                successes[template] = successes.get(template, 0) + value
    ranked = sorted((t for t, n in failures.items() if n > 0), key=lambda t: (-failures[t], -last.get(t, 0), t))
    return [TemplateFigures(t, failures[t], successes.get(t, 0), runs[t], last.get(t)) for t in ranked]


def backfill(now: float | None = None) -> int:
    """Count the jobs that finished before their figures were kept, once: returns how many.

    Reads the jobs partition once (out of any request path). The marker is stored first, so a
    second run (or a second stack start) does nothing; a run interrupted midway leaves the
    figures short rather than counting anything twice.
    """
    now = time.time() if now is None else now
    if not store.mark_once(BACKFILL_MARKER, int(now)):
        return 0
    adds: dict[str, dict[str, int]] = {}
    puts: dict[str, dict[str, int]] = {}
    counted = 0
    for job in store.scan_partition("job", ascending=True, page_size=1000):
        if job.get("state") not in FINAL or job.get("tallied") or not job.get("finish_time"):
            continue
        counted += 1
        for tally in tallies(job):
            into = adds.setdefault(tally.item, {})
            for name, value in tally.add.items():
                into[name] = into.get(name, 0) + value
            latest = puts.setdefault(tally.item, {})
            for name, value in tally.put.items():
                latest[name] = max(latest.get(name, 0), value)
    # a failure time set here would overwrite a later one a job finishing meanwhile set: only
    # the templates items' `t<id>` and `last_failure` can differ, by at most that one failure
    store.add_to_counters(store.Tally(item, add=adds[item], put=puts.get(item) or {}) for item in adds)
    return counted


def main(argv: list[str] | None = None) -> int:
    """`python -m chalicelib.services.job_stats backfill`: count the jobs that finished before this
    version (once; with the installation's environment, OPSGRAT_PREFIX and AWS credentials)."""
    import sys

    args = sys.argv[1:] if argv is None else argv
    if args != ["backfill"]:
        print("usage: python -m chalicelib.services.job_stats backfill", file=sys.stderr)
        return 2
    import chalicelib.services.catalog  # noqa: F401 - registers the job family

    print(f"counted {backfill()} finished jobs")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Following a job: its output as it is written, then a summary line and an exit status.

What AWX's CLI gets wrong and this does not: it polls (no long-lived stream that silently
stops), resumes from the last event it printed (`counter__gt`), so a finished job prints all of
its output and a dropped connection neither loses nor repeats a line; it rides out 5xx answers
and connection errors for up to `OUTAGE_LIMIT` seconds; it maps the final state onto distinct
exit statuses (a canceled job is not 0); and every wait is bounded (`--timeout`).

stdout holds the play's output and nothing else; the status line, state lines and the summary
go to stderr.
"""
from __future__ import annotations

import re
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

from opsgrat_cli.client import Unreachable
from opsgrat_cli.errors import ApiError, CliError, Exit

FINAL = ("successful", "failed", "canceled")
#: reasons that mean "the job did not end by itself" (exit 3), as the API words them
TIMED_OUT_REASONS = ("job timed out after", "runner lost:")
ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
#: statuses worth waiting out: the API (or a proxy or load balancer in front of it) is busy or restarting
RETRYABLE = (429, 500, 502, 503, 504)

#: seconds between polls while something is happening; a runner ships its events about once a
#: second, so this keeps a line's way to the terminal under a second
POLL = 0.25
#: after this many seconds without news the poll slows down ...
IDLE_AFTER = 2.0
#: ... to at most this (a job sleeping for an hour costs one request pair a second)
POLL_IDLE = 1.0
#: a follow gives up after this many seconds without a single good answer (exit 4)
OUTAGE_LIMIT = 300.0
#: seconds for one request while following (a stalled connection is retried, not waited on)
REQUEST_TIMEOUT = 15.0
#: on a terminal, the status line comes back after this many seconds without output
STATUS_AFTER_IDLE = 1.0
#: event pages: the API's largest
PAGE = 200

_SPINNER = "⠋⠙⠹⠸⠼⠴⠦⠧⠇⠏"
_CLEAR = "\r\x1b[2K"


class FollowTimeout(CliError):
    """`--timeout` passed before the job was final; the job itself is left alone."""

    def __init__(self, message: str):
        super().__init__(message, Exit.TIMED_OUT)


def exit_code(job: dict) -> Exit:
    """The exit status a final job maps onto (see `errors.Exit`)."""
    state = job.get("state")
    if state == "successful":
        return Exit.SUCCESSFUL
    if state == "canceled":
        return Exit.CANCELED
    if state == "failed":
        reason = str(job.get("reason") or "")
        return Exit.TIMED_OUT if reason.startswith(TIMED_OUT_REASONS) else Exit.FAILED
    return Exit.ERROR


def strip_ansi(text: str) -> str:
    return ANSI.sub("", text)


def clean(text: str, color: bool) -> str:
    """An event's stdout as printed: Unix line ends (ansible writes CRLF), colours kept only
    when wanted."""
    text = text.replace("\r\n", "\n")
    return text if color else strip_ansi(text)


def want_color(stream: TextIO, forced: bool | None) -> bool:
    """--color/--no-color if given; else colours on a terminal unless NO_COLOR is set."""
    import os

    if forced is not None:
        return forced
    return stream.isatty() and not os.environ.get("NO_COLOR")


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    seconds = max(0.0, float(seconds))
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, secs = divmod(int(seconds), 60)
    if minutes < 60:
        return f"{minutes} min {secs:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def _epoch(text: str | None) -> float | None:
    import datetime

    if not text:
        return None
    try:
        return datetime.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None


def age(job: dict, since_start: float) -> float:
    """Seconds the job has been running (or, before it runs, waiting), by its own timestamps;
    the time since the follow started when the clocks disagree."""
    stamp = _epoch(job.get("started")) or _epoch(job.get("created"))
    if stamp is None:
        return time.monotonic() - since_start
    seconds = time.time() - stamp
    return seconds if seconds >= 0 else time.monotonic() - since_start


def title(job: dict) -> str:
    return f"{'workflow job' if job.get('kind') == 'workflow' else 'job'} {job.get('id')}"


# ----------------------------------------------------------------------------- the status line


class StatusLine:
    """What the follow is waiting for, on stderr.

    On a terminal: one line rewritten in place (`\\r` + erase line), erased before any output line
    is printed, so it never ends up in the scrollback. Elsewhere (a pipe, a CI log): a plain line
    when the state changes, and one when the connection is lost and when it is back."""

    def __init__(self, stream: TextIO | None = None, tty: bool | None = None):
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty() if tty is None else tty
        self.visible = False
        self._frame = 0
        self._last_state: str | None = None

    def show(self, text: str) -> None:
        """On a terminal: draw (or redraw) the line."""
        if not self.tty:
            return
        self._frame = (self._frame + 1) % len(_SPINNER)
        self.stream.write(f"{_CLEAR}{_SPINNER[self._frame]} {text}")
        self.stream.flush()
        self.visible = True

    def clear(self) -> None:
        if self.visible:
            self.stream.write(_CLEAR)
            self.stream.flush()
            self.visible = False

    def state(self, job: dict) -> None:
        """Elsewhere: `job 12: waiting` once per state, for the states before the end (the
        final state is the summary's)."""
        state = job.get("state")
        if self.tty or state == self._last_state:
            return
        self._last_state = state
        if state not in FINAL:
            self.line(f"{title(job)}: {state}")

    def line(self, text: str) -> None:
        """A line of its own on stderr (the status line is erased first)."""
        self.clear()
        self.stream.write(text + "\n")
        self.stream.flush()


# ----------------------------------------------------------------------------- polling with retries


@dataclass
class Poller:
    """GETs that ride out an unreachable or failing API: connection errors and the statuses in
    `RETRYABLE` are retried with backoff (0.25 s doubling to 5 s) for up to `outage_limit`
    seconds, reporting the outage on the status line; other errors (401, 403, 404, ...) end the
    follow. `deadline` (monotonic) bounds the whole follow, outages included."""

    client: Any
    status: StatusLine
    describe: Callable[[], str]
    deadline: float | None = None
    on_timeout: Callable[[], str] = lambda: "timed out"
    outage_limit: float = OUTAGE_LIMIT
    #: what the status line says before the outage (`job 12 running · 3.1 s · `)
    prefix: Callable[[], str] = lambda: ""
    sleep: Callable[[float], None] = time.sleep
    requests: int = 0

    def get(self, path: str, **params) -> Any:
        lost_at: float | None = None
        pause = 0.25
        while True:
            self.check_deadline()
            try:
                answer = self.client.get(path, **params)
                self.requests += 1
            except (Unreachable, ApiError) as exc:
                if isinstance(exc, ApiError) and exc.status not in RETRYABLE:
                    raise
                now = time.monotonic()
                why = f"HTTP {exc.status}" if isinstance(exc, ApiError) else "no answer"
                if lost_at is None:
                    lost_at = now
                    if not self.status.tty:
                        self.status.line(f"connection lost ({why}), retrying…")
                elif now - lost_at > self.outage_limit:
                    self.status.clear()
                    raise CliError(f"gave up after {duration(now - lost_at)} without an answer from the API "
                                   f"({why}); {self.describe()}") from None
                end = now + pause
                while True:  # the status line keeps counting while we wait
                    left = end - time.monotonic()
                    self.status.show(f"{self.prefix()}connection lost {duration(time.monotonic() - lost_at)} ago ({why}), "
                                     "retrying…")
                    if left <= 0:
                        break
                    self.sleep(min(left, 0.1) if self.status.tty else left)
                pause = min(pause * 2, 5.0)
                continue
            if lost_at is not None and not self.status.tty:
                self.status.line(f"connection back after {duration(time.monotonic() - lost_at)}")
            return answer

    def check_deadline(self) -> None:
        if self.deadline is not None and time.monotonic() >= self.deadline:
            self.status.clear()
            raise FollowTimeout(self.on_timeout())


# ----------------------------------------------------------------------------- following


@dataclass
class Options:
    """How to follow: `timeout` (seconds, None = until the end), colours on stdout."""

    timeout: float | None = None
    color: bool = False
    poll: float = POLL
    poll_idle: float = POLL_IDLE
    outage_limit: float = OUTAGE_LIMIT


@dataclass
class Outcome:
    """A followed job's end: the final record, its exit status, and the summary line printed."""

    job: dict
    code: Exit
    summary: str
    events: int = 0
    requests: int = 0


@dataclass
class _Progress:
    """What has been printed: the highest counter, every counter seen (to notice a late
    event), and when something last happened."""

    last: int | None = None
    seen: set[int] = field(default_factory=set)
    printed: int = 0
    changed_at: float = field(default_factory=time.monotonic)
    output_at: float | None = None


def follow(client, job: dict, options: Options, out: TextIO | None = None, status: StatusLine | None = None) -> Outcome:
    """Follow `job` (a record, as launch or GET returned it) to its end: a workflow job by its
    nodes, any other by its events."""
    out = out or sys.stdout
    status = status or StatusLine()
    try:
        if job.get("kind") == "workflow":
            return _Follower(client, job, options, out, status).workflow()
        return _Follower(client, job, options, out, status).events()
    except KeyboardInterrupt:
        status.clear()
        status.stream.write(f"{title(job)} was left as it is: `opsgrat job follow {job.get('id')}` picks it up again, "
                            f"`opsgrat job cancel {job.get('id')}` stops it\n")
        raise


class _Follower:
    def __init__(self, client, job: dict, options: Options, out: TextIO, status: StatusLine):
        self.client = client
        self.job = job
        self.id = int(job["id"])
        self.options = options
        self.out = out
        self.status = status
        self.started = time.monotonic()
        deadline = self.started + options.timeout if options.timeout else None
        self.poller = Poller(client, status, self._resume_hint, deadline, self._timed_out, options.outage_limit,
                             prefix=lambda: f"{self._status_text()} · ")
        self.progress = _Progress()
        self.view: dict = {}  # a workflow job's graph as last read

    # -- messages

    def _resume_hint(self) -> str:
        return f"{title(self.job)} may still be running: `opsgrat job follow {self.id}` picks it up again"

    def _timed_out(self) -> str:
        return (f"{title(self.job)} is still {self.job.get('state')} after {duration(self.options.timeout)} (--timeout); "
                f"it was left running: `opsgrat job follow {self.id}` picks it up again")

    # -- the loop both kinds share

    def _loop(self, poll_once: Callable[[], bool]) -> None:
        """Poll until the job is final. `poll_once` reads the job and prints what is new; it
        returns whether anything was printed."""
        while True:
            printed = poll_once()
            now = time.monotonic()
            if printed:
                self.progress.changed_at = now
                self.progress.output_at = now
            if self.job.get("state") in FINAL:
                self.status.clear()
                return
            self.poller.check_deadline()
            self._pause(now)

    def _pause(self, now: float) -> None:
        """Sleep until the next poll, redrawing the status line meanwhile."""
        idle = now - self.progress.changed_at
        wait = self.options.poll if idle < IDLE_AFTER else min(self.options.poll_idle, self.options.poll * 2 ** ((idle - IDLE_AFTER) / 2 + 1))
        end = now + wait
        while True:
            self._draw_status()
            left = end - time.monotonic()
            if left <= 0:
                return
            time.sleep(min(left, 0.1 if self.status.tty else left))

    def _draw_status(self) -> None:
        """While nothing is printed (waiting for a runner, no output yet, or a quiet task)."""
        if not self.status.tty:
            return
        quiet = self.progress.output_at is None or time.monotonic() - self.progress.output_at >= STATUS_AFTER_IDLE
        if quiet:
            self.status.show(self._status_text())

    def _status_text(self) -> str:
        return f"{title(self.job)} {self.job.get('state')} · {duration(age(self.job, self.started))}"

    def _read_job(self) -> None:
        job = self.poller.get(f"/api/job/job/{self.id}/")
        if job.get("state") != self.job.get("state"):
            self.progress.changed_at = time.monotonic()
        self.job = job
        self.status.state(job)

    def _write(self, text: str) -> None:
        self.status.clear()
        self.out.write(text)
        self.out.flush()

    # -- a playbook job: its events

    def events(self) -> Outcome:
        self.status.state(self.job)

        def poll_once() -> bool:
            self._read_job()  # the job first: once it is final, the events read next are all of them
            return self._new_events()

        self._loop(poll_once)
        self._late_events()
        summaries = self.poller.get(f"/api/job/job/{self.id}/host_summaries/").get("results", [])
        line = job_summary(self.job, summaries)
        self.status.line(line)
        return Outcome(self.job, exit_code(self.job), line, self.progress.printed, self.poller.requests)

    def _new_events(self) -> bool:
        """Every event after the last one printed, page by page; printed page by page, so a
        failure halfway resumes after what was printed."""
        printed = False
        while True:
            params: dict[str, Any] = {"limit": PAGE}
            if self.progress.last is not None:
                params["counter__gt"] = self.progress.last
            page = self.poller.get(f"/api/job/job/{self.id}/events/", **params)
            rows = page.get("results", [])
            printed = self._print(rows) or printed
            if not rows or not page.get("next"):
                return printed

    def _print(self, rows: list[dict]) -> bool:
        chunks = []
        for event in rows:
            counter = int(event.get("counter") or 0)
            if counter in self.progress.seen:
                continue
            self.progress.seen.add(counter)
            self.progress.last = counter if self.progress.last is None else max(self.progress.last, counter)
            if event.get("stdout"):
                chunks.append(clean(event["stdout"], self.options.color) + "\n")
        if chunks:
            self._write("".join(chunks))
            self.progress.printed += len(chunks)
        return bool(chunks)

    def _late_events(self) -> None:
        """Counters run 1..N without gaps; a gap means an event reached the API after a later
        one (a batch retried by the runner): read them all once and print what is missing."""
        seen = self.progress.seen
        if not seen or (min(seen) == 1 and len(seen) == max(seen)):
            return
        missing = []
        offset = 0
        while True:
            page = self.poller.get(f"/api/job/job/{self.id}/events/", limit=PAGE, offset=offset)
            rows = page.get("results", [])
            missing += [e for e in rows if int(e.get("counter") or 0) not in seen]
            offset += len(rows)
            if not rows or not page.get("next"):
                break
        if missing:
            self.status.line(f"({len(missing)} event(s) arrived late, printed here)")
            self._print(sorted(missing, key=lambda e: int(e.get("counter") or 0)))

    # -- a workflow job: its nodes

    def workflow(self) -> Outcome:
        self.status.state(self.job)
        states: dict[int, tuple] = {}

        def poll_once() -> bool:
            view = self.poller.get(f"/api/job/job/{self.id}/workflow/")
            lines = node_changes(view, states)
            if lines:
                self._write("".join(line + "\n" for line in lines))
            if view.get("state") in FINAL or view.get("state") != self.job.get("state"):
                self._read_job()  # the record: elapsed and reason; and the final state, for sure
            self.view = view
            return bool(lines)

        self._loop(poll_once)
        line = workflow_summary(self.job, self.view.get("nodes", []))
        self.status.line(line)
        return Outcome(self.job, exit_code(self.job), line, 0, self.poller.requests)


def node_changes(view: dict, states: dict[int, tuple]) -> list[str]:
    """A line for each node whose state (or job) changed since `states` (updated), from when it
    runs: a node's `new` and `waiting` are its job's business."""
    lines = []
    for node in view.get("nodes", []):
        if node.get("is_start_node"):
            continue
        key = (node.get("state"), node.get("job"))
        if node.get("state") not in (None, "new", "waiting") and states.get(node["id"]) != key:
            lines.append(node_line(node))
        states[node["id"]] = key
    return lines


def node_line(node: dict) -> str:
    """`node build: running`, `node build: successful (job 12)`, with the reason when there is one."""
    text = f"node {node.get('name') or node.get('id')}: {node.get('state')}"
    if node.get("job"):
        text += f" (job {node['job']}{', reused' if node.get('reused') else ''})"
    if node.get("reason") and node.get("state") not in ("successful", "running"):
        text += f" — {node['reason']}"
    return text


# ----------------------------------------------------------------------------- summaries

_COUNTS = (("ok", "ok"), ("changed", "changed"), ("failed", "failures"), ("unreachable", "unreachable"),
           ("skipped", "skipped"))
#: up to this many hosts are listed one by one; more are added up
_HOSTS_LISTED = 4


def _head(job: dict) -> str:
    """`job 12 failed in 3.2 s (reason)`; no time for a job that never ran."""
    head = f"{title(job)} {job.get('state')}"
    if job.get("elapsed") is not None:
        head += f" in {duration(job['elapsed'])}"
    if job.get("reason") and job.get("state") != "successful":
        head += f" ({job['reason']})"
    return head


def job_summary(job: dict, summaries: list[dict]) -> str:
    """`job 12 successful in 3.2 s — localhost: ok=2 changed=0 failed=0 unreachable=0 skipped=0`."""
    head = _head(job)
    if not summaries:
        return head

    def counts(row: dict) -> str:
        return " ".join(f"{label}={int(row.get(key) or 0)}" for label, key in _COUNTS)

    if len(summaries) <= _HOSTS_LISTED:
        return head + " — " + ", ".join(f"{s.get('host')}: {counts(s)}" for s in summaries)
    total = {key: sum(int(s.get(key) or 0) for s in summaries) for _, key in _COUNTS}
    bad = [s.get("host") for s in summaries if s.get("failures") or s.get("unreachable")]
    text = f"{head} — {len(summaries)} hosts: {counts(total)}"
    if bad:
        text += f" (failed or unreachable: {', '.join(map(str, bad[:10]))}{', …' if len(bad) > 10 else ''})"
    return text


def workflow_summary(job: dict, nodes: list[dict]) -> str:
    """`workflow job 10 successful in 8.1 s — 3 nodes: 2 successful, 1 skipped`."""
    head = _head(job)
    shown = [n for n in nodes if not n.get("is_start_node")]
    if not shown:
        return head
    tally: dict[str, int] = {}
    for node in shown:
        tally[node.get("state") or "not run"] = tally.get(node.get("state") or "not run", 0) + 1
    text = f"{head} — {len(shown)} nodes: " + ", ".join(f"{n} {state}" for state, n in tally.items())
    failed = [str(n.get("name")) for n in shown if n.get("state") in ("failed", "canceled")]
    if failed:
        text += f" (failed: {', '.join(failed)})"
    return text

"""Limits on failed logins, so that passwords cannot be guessed at speed and scrypt (slow on
purpose) cannot be made to burn the API's CPU.

Two scopes are counted, in the spirit of django-axes: a username at a source address and the
source address alone (a larger limit, so that one address cannot spray many usernames either).
A scope's window opens at its first failure; once the scope has failed `limit` times in it, every
login of the scope, right or wrong, is refused until the window ends, without looking at the
password. A successful login clears its username+address count, not the address's: one valid
account must not reset a spray. Unknown usernames count like known ones, so the answers do not
tell which logins exist.

Counts are rows of the login-failures table changed with atomic ADDs (no reads): an attempt
claims its place in the address's count, then in the username's, *before* the password is
checked, so a burst of parallel requests cannot all slip past a limit; a success gives its place
back. Their TTL removes the rows once the window has ended.
"""
from __future__ import annotations

import datetime
import hashlib
import time
from dataclasses import dataclass

from pynamodb.exceptions import DeleteError, PutError, UpdateError

from chalicelib import config
from chalicelib.models import LoginFailures
from chalicelib.services.errors import TooManyRequests

DEFAULT_FAILURES_PER_USER = 5
DEFAULT_FAILURES_PER_SOURCE = 30
DEFAULT_WINDOW_SECONDS = 300
_CONDITION_FAILED = "ConditionalCheckFailedException"


@dataclass(frozen=True)
class Limits:
    per_user: int  # failures of one username from one source address
    per_source: int  # failures from one source address, any username
    window: int  # seconds


def limits() -> Limits:
    """The limits in force (environment variables, read at each login so tests can set them)."""
    return Limits(per_user=_positive("OPSGRAT_LOGIN_FAILURES_PER_USER", DEFAULT_FAILURES_PER_USER),
                  per_source=_positive("OPSGRAT_LOGIN_FAILURES_PER_SOURCE", DEFAULT_FAILURES_PER_SOURCE),
                  window=_positive("OPSGRAT_LOGIN_WINDOW_SECONDS", DEFAULT_WINDOW_SECONDS))


def _positive(name: str, default: int) -> int:
    try:
        value = int(config.env(name, str(default)))
    except ValueError:
        return default
    return value if value > 0 else default


def now() -> int:
    """Epoch seconds (the one clock of this module: tests replace it)."""
    return int(time.time())


@dataclass(frozen=True)
class _Count:
    """A scope's count after this attempt claimed its place in it."""

    key: str
    limit: int
    failures: int  # this attempt included
    window_end: int

    @property
    def over(self) -> bool:
        return self.failures > self.limit

    @property
    def reached(self) -> bool:
        return self.failures >= self.limit


@dataclass(frozen=True)
class Attempt:
    """One login attempt, counted as a failure until it `succeeded`."""

    user: _Count
    source: _Count

    def failed(self) -> None:
        """TooManyRequests if this failure reached a limit (it is counted already)."""
        reached = [count for count in (self.user, self.source) if count.reached]
        if reached:
            raise _refusal(reached, now())

    def succeeded(self) -> None:
        """Clear the username's failures and give the address its place back."""
        LoginFailures(self.user.key).delete()
        row = LoginFailures(self.source.key)
        try:
            row.update(actions=[LoginFailures.failures.add(-1)],
                       condition=LoginFailures.window_end == self.source.window_end)
            if row.failures <= 0:  # no failure left: the next one opens its own window
                row.delete(condition=LoginFailures.failures <= 0)
        except (UpdateError, DeleteError) as exc:
            if exc.cause_response_code != _CONDITION_FAILED:
                raise  # else: that window has ended, or a failure came in meanwhile


def begin(username: str, source: str) -> Attempt:
    """Count an attempt of `username` from `source`; TooManyRequests, before any password is
    checked, if the address or the username at that address is over its limit."""
    current, t = limits(), now()
    source_count = _claim("source|" + source, current.per_source, t, current.window)
    if source_count.over:
        raise _refusal([source_count], t)
    # the username is hashed: people type passwords into the username field
    user_key = "user|" + hashlib.sha256(f"{source}\0{username}".encode()).hexdigest()
    user_count = _claim(user_key, current.per_user, t, current.window)
    if user_count.over:
        raise _refusal([user_count], t)
    return Attempt(user=user_count, source=source_count)


def _refusal(counts: list[_Count], t: int) -> TooManyRequests:
    seconds = max(1, max(count.window_end for count in counts) - t)
    return TooManyRequests(f"Too many failed logins; try again in {seconds} seconds.", seconds)


def _claim(key: str, limit: int, t: int, window: int) -> _Count:
    """Add one to the scope's open window, or open a window with it (atomic either way)."""
    row = LoginFailures(key)
    try:
        row.update(actions=[LoginFailures.failures.add(1)], condition=LoginFailures.window_end > t)
    except UpdateError as exc:
        if exc.cause_response_code != _CONDITION_FAILED:
            raise
        row = _open_window(key, t, window)
    return _Count(key, limit, int(row.failures), int(row.window_end))


def _open_window(key: str, t: int, window: int) -> LoginFailures:
    """No open window: the first failure, or the row outlived its window (TTL deletion lags)."""
    end = t + window
    row = LoginFailures(key, failures=1, window_end=end,
                        expires=datetime.datetime.fromtimestamp(end, tz=datetime.UTC))
    try:
        row.save(condition=LoginFailures.scope.does_not_exist() | (LoginFailures.window_end <= t))
        return row
    except PutError as exc:
        if exc.cause_response_code != _CONDITION_FAILED:
            raise
    # a concurrent attempt opened the window first: count in it
    row = LoginFailures(key)
    row.update(actions=[LoginFailures.failures.add(1)])
    return row

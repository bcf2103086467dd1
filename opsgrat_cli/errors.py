"""Exit codes and the one error type every command raises (main prints it as one line)."""
from __future__ import annotations

import enum


class Exit(enum.IntEnum):
    """The process's exit status. A followed job maps its final state onto the first four."""

    SUCCESSFUL = 0
    FAILED = 1
    CANCELED = 2
    #: the job hit its timeout, or its runner stopped sending heartbeats
    TIMED_OUT = 3
    #: a usage error, an API error, or an installation that cannot be reached
    ERROR = 4


class CliError(Exception):
    """A failure the user can act on: printed as `Error: <message>`, never as a traceback."""

    def __init__(self, message: str, code: Exit = Exit.ERROR):
        super().__init__(message)
        self.message = message
        self.code = code


class ApiError(CliError):
    """A non-2xx answer: its status and the API's `detail`."""

    def __init__(self, status: int, detail: str):
        super().__init__(f"{detail} (HTTP {status})")
        self.status = status
        self.detail = detail

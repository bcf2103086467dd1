"""Running a user's program (an inventory script, `ansible-inventory` with the project's plugins).

Both run code from users, so they go through a `CommandRunner` hook: the default runs the program
as a plain subprocess; the runner container can pass one that runs it inside its job sandbox. A
hook gets everything the program needs as arguments: `argv` is the program (the script, written
into the fetch's scratch directory `workdir`, or the installed `ansible-inventory`) and paths under
`workdir` or the project checkout, `cwd` is one of the two, and `env` is complete (the program
must not inherit the caller's environment, which holds AWS credentials).
"""
from __future__ import annotations

import os
import subprocess
from dataclasses import dataclass
from typing import Protocol

from chalicelib.services.host_sources.parse import SourceError

#: seconds a user's program (or an HTTP call) may take
FETCH_TIMEOUT = 120
#: bytes a program may print (or an HTTP call answer)
MAX_OUTPUT = 64 * 1024 * 1024


@dataclass(frozen=True)
class CommandResult:
    returncode: int
    stdout: bytes
    stderr: bytes


class CommandRunner(Protocol):
    def __call__(self, argv: list[str], *, cwd: str, env: dict[str, str], timeout: float) -> CommandResult:
        """Run `argv` in `cwd` with exactly `env`, and return how it ended.

        Raise `TimeoutError` when it has not finished after `timeout` seconds (and stop it), or
        `OSError` when it cannot start; a non-zero exit is a result, not an exception.
        """
        ...


def run_subprocess(argv: list[str], *, cwd: str, env: dict[str, str], timeout: float) -> CommandResult:
    """The default `CommandRunner`: a subprocess of this process, without a sandbox."""
    try:
        proc = subprocess.run(argv, capture_output=True, timeout=timeout, cwd=cwd, env=env)
    except subprocess.TimeoutExpired:
        raise TimeoutError(f"{argv[0]} did not finish within {timeout} s") from None
    return CommandResult(proc.returncode, proc.stdout, proc.stderr)


def clean_env(**extra: str) -> dict[str, str]:
    """The environment of a user's program: nothing of ours (AWS credentials, tokens) leaks into it."""
    keep = ("PATH", "LANG", "LC_ALL", "TZ")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.setdefault("PATH", "/usr/local/bin:/usr/bin:/bin")
    return {**env, **extra}


def run(run_command: CommandRunner, argv: list[str], what: str, *, cwd: str, env: dict[str, str]) -> str:
    """Run a user's program through `run_command`; its stdout, or a SourceError saying what went wrong."""
    try:
        result = run_command(argv, cwd=cwd, env=env, timeout=FETCH_TIMEOUT)
    except TimeoutError:
        raise SourceError(f"{what} did not finish within {FETCH_TIMEOUT} s") from None
    except OSError as exc:
        raise SourceError(f"{what} could not start: {exc.strerror or exc}") from None
    if result.returncode != 0:
        tail = result.stderr.decode("utf-8", "replace").strip().splitlines()[-3:]
        raise SourceError(f"{what} exited with {result.returncode}: {' | '.join(tail)[:500]}")
    if len(result.stdout) > MAX_OUTPUT:
        raise SourceError(f"{what} printed more than {MAX_OUTPUT} bytes")
    return result.stdout.decode("utf-8", "replace")

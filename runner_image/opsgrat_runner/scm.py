"""Running a source-control command (git, svn) for a checkout: bounded in time, its output
redacted before it can become a job's failure reason."""
from __future__ import annotations

import subprocess

from .keys import decrypt
from .redact import Redactor

TIMEOUT = 600  # seconds for one command: a hung server must not hang the job forever


class ScmError(RuntimeError):
    """A source-control command failed; the message is its redacted output."""


def redactor(password: str | None, ssh_key: str | None, ssh_key_passphrase: str | None,
             *extra: str | None) -> Redactor:
    """What a checkout's output must never show: the credential's secrets, the key in clear when
    a passphrase opens it, and `extra` (e.g. a password written into the URL itself)."""
    secrets = [password, ssh_key, ssh_key_passphrase, *extra]
    if ssh_key and ssh_key_passphrase:
        try:
            secrets.append(decrypt(ssh_key, ssh_key_passphrase))
        except ValueError:
            pass  # writing the key file reports it
    return Redactor(secrets)


def run(tool: str, args: list[str], *, env: dict[str, str], redactor: Redactor, error: type[ScmError],
        cwd: str | None = None, stdin: str | None = None, name: str | None = None) -> str:
    """`tool args` and its stdout; `error(<tool> <name> failed: <redacted output>)` otherwise.
    stdin is `stdin`'s text, else empty: a prompt must never wait for a terminal."""
    what = f"{tool} {name or args[0]}"
    try:
        proc = subprocess.run([tool, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT,
                              input=stdin if stdin is not None else "")
    except subprocess.TimeoutExpired as exc:
        raise error(f"{what}: no answer within {TIMEOUT}s") from exc
    if proc.returncode != 0:
        raise error(f"{what} failed: {redactor.text((proc.stderr or proc.stdout).strip())}")
    return proc.stdout.strip()

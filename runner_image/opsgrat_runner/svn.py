"""Check out a project's Subversion repository (project_type `svn`).

`svn checkout --non-interactive --no-auth-cache` with a private, empty configuration directory
(nothing of the machine's ~/.subversion is read, nothing is stored). The password reaches svn on
its standard input (`--password-from-stdin`), never in its arguments; an svn+ssh key is written
0600 into a private temp dir and named in SVN_SSH. svn's output is redacted before it is shown.
"""
from __future__ import annotations

import os
import shlex
import shutil
import tempfile

from . import scm
from .keys import write_private_key
from .redact import Redactor


class SvnError(scm.ScmError):
    """An svn command failed; the message is svn's redacted output."""


def _svn(args: list[str], env: dict[str, str], redactor: Redactor, stdin: str | None = None) -> str:
    return scm.run("svn", args, env=env, redactor=redactor, error=SvnError, stdin=stdin)


def repository_url(url: str, path: str | None) -> str:
    """The URL checked out: the project's URL, with the path within the repository (`trunk`,
    `branches/x`) appended when one is given."""
    path = (path or "").strip().strip("/")
    return f"{url.rstrip('/')}/{path}" if path else url


def checkout(url: str, path: str | None, dest: str, *, revision: str | None = None, username: str | None = None,
             password: str | None = None, ssh_key: str | None = None, ssh_key_passphrase: str | None = None) -> str:
    """Check ``url`` (at ``path`` within it) out into ``dest`` at ``revision`` (empty = HEAD) and
    return the working copy's revision number."""
    redactor = scm.redactor(password, ssh_key, ssh_key_passphrase)
    rev = (revision or "").strip()
    if rev and not rev.isdigit():
        raise SvnError(f"svn checkout failed: {rev!r} is not a revision number")
    tmp = tempfile.mkdtemp(prefix="opsgrat-svn-")
    try:
        config = os.path.join(tmp, "config")
        os.mkdir(config, 0o700)
        env = {key: value for key, value in os.environ.items() if not key.startswith("SVN_")}
        env["LC_ALL"] = "C"
        if ssh_key or url.startswith("svn+ssh://"):
            ssh = ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                   "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
            if ssh_key:
                ssh += ["-o", "IdentitiesOnly=yes", "-i", write_private_key(ssh_key, ssh_key_passphrase, tmp)]
            env["SVN_SSH"] = shlex.join(ssh)
        common = ["--non-interactive", "--no-auth-cache", "--config-dir", config,
                  "--config-option", "config:auth:password-stores=",
                  "--config-option", "servers:global:store-passwords=no"]
        args = ["checkout", "--quiet", *common]
        if username:
            args += ["--username", username]
        stdin = None
        if password and not url.startswith("svn+ssh://"):
            args.append("--password-from-stdin")
            stdin = password + "\n"
        if rev:
            args += ["--revision", rev]
        args += ["--", repository_url(url, path), dest]
        _svn(args, env, redactor, stdin)
        return _svn(["info", "--show-item", "revision", *common, "--", dest], env, redactor)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

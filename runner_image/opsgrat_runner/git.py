"""Check out a project's git repository and list the playbooks in it.

Credentials never reach process arguments or git's own output: an http(s) password is handed to
git by a GIT_ASKPASS helper that reads it from the environment of the git process, and an ssh key
is written 0600 into a private temp dir and named in GIT_SSH_COMMAND. The temp dir is removed
before ``checkout`` returns.
"""
from __future__ import annotations

import os
import shlex
import shutil
import tempfile
from urllib.parse import urlsplit

import yaml

from . import scm
from .keys import write_private_key
from .redact import Redactor

SKIP_DIRS = {"roles", "group_vars", "host_vars", ".git", ".svn"}
MAX_PLAYBOOK_BYTES = 1_000_000

_ASKPASS = """#!/bin/sh
case "$1" in
  Username*|username*) printf '%s\\n' "$OPSGRAT_GIT_USERNAME" ;;
  *) printf '%s\\n' "$OPSGRAT_GIT_PASSWORD" ;;
esac
"""


class GitError(scm.ScmError):
    """A git command failed; the message is git's redacted output."""


def _is_ssh(url: str) -> bool:
    if "://" in url:
        return urlsplit(url).scheme in ("ssh", "git+ssh", "ssh+git")
    # scp-like syntax: [user@]host:path (a local path has no colon before the first slash)
    head = url.split("/", 1)[0]
    return ":" in head


def _git(args: list[str], cwd: str | None, env: dict[str, str], redactor: Redactor) -> str:
    command = next((arg for arg in args if not arg.startswith("-") and "=" not in arg), "git")
    return scm.run("git", args, cwd=cwd, env=env, redactor=redactor, error=GitError, name=command)


def _auth_env(url: str, tmp: str, username: str | None, password: str | None, ssh_key: str | None,
              ssh_key_passphrase: str | None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("GIT_")}
    env.update({"GIT_TERMINAL_PROMPT": "0", "GIT_CONFIG_NOSYSTEM": "1", "LC_ALL": "C"})
    if _is_ssh(url):
        ssh = ["ssh", "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
               "-o", "BatchMode=yes", "-o", "LogLevel=ERROR"]
        if ssh_key:
            ssh += ["-o", "IdentitiesOnly=yes", "-i", write_private_key(ssh_key, ssh_key_passphrase, tmp)]
        if username:
            ssh += ["-l", username]  # a user in the URL itself still wins
        env["GIT_SSH_COMMAND"] = shlex.join(ssh)
    elif username or password:
        askpass = os.path.join(tmp, "askpass.sh")
        fd = os.open(askpass, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o700)
        with os.fdopen(fd, "w") as handle:
            handle.write(_ASKPASS)
        env.update({"GIT_ASKPASS": askpass, "OPSGRAT_GIT_USERNAME": username or "",
                    "OPSGRAT_GIT_PASSWORD": password or ""})
    return env


def checkout(url: str, branch: str | None, dest: str, *, username: str | None = None,
             password: str | None = None, ssh_key: str | None = None,
             ssh_key_passphrase: str | None = None, revision: str | None = None, clean: bool = False,
             track_submodules: bool = False) -> str:
    """Clone ``url`` into ``dest`` (absent or empty) at ``branch`` and return the commit SHA.

    ``branch`` may be a branch, a tag or a commit SHA (full or abbreviated); empty means the
    remote's default branch. A branch or tag (or the default) is one `git clone --branch` (two
    git commands in all); a commit, which clone cannot name, is cloned and then checked out.
    ``revision`` (the project's `scm_revision`, a commit or a tag) pins the checkout: after the
    clone of the branch, HEAD is detached at it. ``clean`` resets and cleans the work tree
    (`git reset --hard`, `git clean -ffdx`). Submodules are always initialised recursively, at
    the commits the checkout records, or with ``track_submodules`` at the newest commit of their
    branch (`--remote`). A file:// submodule is fetched only when the project itself is a file://
    repository (git refuses the file transport for submodules by default; a project that already
    reads local paths gains nothing by it).
    """
    in_url = urlsplit(url).password if "://" in url else None  # a password written into the URL itself
    redactor = scm.redactor(password, ssh_key, ssh_key_passphrase, in_url)
    tmp = tempfile.mkdtemp(prefix="opsgrat-git-")
    try:
        env = _auth_env(url, tmp, username, password, ssh_key, ssh_key_passphrase)
        ref = (branch or "").strip()
        if ref.startswith("-"):
            raise GitError(f"git checkout failed: {ref!r} is not a branch, tag or commit")
        # An empty credential.helper list stops helpers of the machine from storing our password.
        clone = ["-c", "credential.helper=", "clone", "--quiet"]
        try:  # a branch, a tag or the default branch: one clone checks it out
            _git([*clone, *(["--branch", ref] if ref else []), "--", url, dest], None, env, redactor)
            sha = _git(["rev-parse", "--verify", "HEAD^{commit}"], dest, env, redactor)
        except GitError as exc:
            if not ref or "not found in upstream" not in str(exc):  # git's words for a ref clone cannot take
                raise
            _empty(dest)  # keep the directory itself: the job's sandbox may already have it mounted
            sha = _checkout_commit(clone, url, ref, dest, env, redactor)
        pin = (revision or "").strip()
        if pin:
            if pin.startswith("-"):
                raise GitError(f"git checkout failed: {pin!r} is not a commit or tag")
            sha = _resolve(pin, dest, env, redactor)
            _git(["checkout", "--quiet", "--detach", sha], dest, env, redactor)
        if clean:
            _git(["reset", "--hard", "--quiet"], dest, env, redactor)
            _git(["clean", "-ffdx", "--quiet"], dest, env, redactor)
        if os.path.exists(os.path.join(dest, ".gitmodules")):
            local = ["-c", "protocol.file.allow=always"] if url.startswith("file://") else []
            _git(["-c", "credential.helper=", *local, "submodule", "update", "--init", "--recursive", "--quiet",
                  *(["--remote"] if track_submodules else [])], dest, env, redactor)
        return sha
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _empty(directory: str) -> None:
    """What a failed clone left in `directory` (git removes a directory it made itself)."""
    if not os.path.isdir(directory):
        return
    for name in os.listdir(directory):
        path = os.path.join(directory, name)
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)


def _checkout_commit(clone: list[str], url: str, ref: str, dest: str, env: dict[str, str], redactor: Redactor) -> str:
    """A ref `clone --branch` does not know: a commit SHA, full or abbreviated."""
    _git([*clone, "--no-checkout", "--", url, dest], None, env, redactor)
    sha = _resolve(ref, dest, env, redactor)
    _git(["checkout", "--quiet", "--detach", sha], dest, env, redactor)
    return sha


def _resolve(ref: str, dest: str, env: dict[str, str], redactor: Redactor) -> str:
    """The commit a branch, tag or (abbreviated) commit SHA of the clone in ``dest`` names."""
    for candidate in (f"origin/{ref}", f"refs/tags/{ref}", ref):
        try:
            sha = _git(["rev-parse", "--verify", "--quiet", f"{candidate}^{{commit}}"], dest, env, redactor)
        except GitError:
            continue
        if sha:
            return sha
    raise GitError(f"git checkout failed: no branch, tag or commit named {ref!r} in the repository")


class _TolerantLoader(yaml.SafeLoader):
    """Safe YAML that accepts ansible's custom tags (``!vault``, ``!unsafe``) as plain values."""


def _any_tag(loader: yaml.SafeLoader, suffix: str, node: yaml.Node):
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node)
    return loader.construct_mapping(node)


_TolerantLoader.add_multi_constructor("!", _any_tag)

_PLAY_KEYS = {"hosts", "import_playbook", "ansible.builtin.import_playbook"}


def is_playbook(path: str) -> bool:
    """True when the file is a YAML list of plays (mappings), one at least naming hosts or an import."""
    try:
        if os.path.getsize(path) > MAX_PLAYBOOK_BYTES:
            return False
        with open(path, encoding="utf-8") as handle:
            data = yaml.load(handle, Loader=_TolerantLoader)  # noqa: S506 - a SafeLoader subclass
    except (OSError, UnicodeDecodeError, yaml.YAMLError):
        return False
    if not isinstance(data, list) or not data or not all(isinstance(play, dict) for play in data):
        return False
    return any(_PLAY_KEYS & set(play) for play in data)


def find_playbooks(directory: str) -> list[str]:
    """Paths (relative to ``directory``, sorted) of the playbooks at any depth.

    Role, group_vars, host_vars, .git and .svn trees are skipped: their YAML files are never playbooks
    and a large role tree would make a project sync slow.
    """
    found: list[str] = []
    for root, dirs, files in os.walk(directory):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS)
        for name in files:
            if name.endswith((".yml", ".yaml")):
                path = os.path.join(root, name)
                if is_playbook(path):
                    found.append(os.path.relpath(path, directory))
    return sorted(found)

"""Run one ansible job (playbook or ad-hoc) with ansible-runner and report what happened.

Every run gets a fresh private data dir (ansible-runner remembers extra vars, passwords and keys
left in one from earlier runs), removed when the run ends. Secrets reach ansible through
pexpect prompt answers (ssh, become and vault passwords) and a 0600 key file, never through
process arguments or files outside that dir. Events and stdout are redacted before they leave.
"""
from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ansible_runner

from . import ptyclose
from .inventory import write_inventory
from .keys import PrivateKeyError, decrypt, write_private_key
from .proctree import kill_job_processes
from .redact import Redactor
from .summary import HostSummary, SummaryCollector

STATUSES = ("successful", "failed", "canceled", "timeout")
#: ansible's own search paths (its DEFAULT_ROLES_PATH and COLLECTIONS_PATHS), kept after a project's
#: installed requirements; collections installed in the Python environment are found besides
#: (ansible scans sys.path), and so are the project's own roles/ and collections/ directories
DEFAULT_ROLES_PATH = "~/.ansible/roles:/usr/share/ansible/roles:/etc/ansible/roles"
DEFAULT_COLLECTIONS_PATH = "~/.ansible/collections:/usr/share/ansible/collections"
PEXPECT_TIMEOUT = 0.5  # seconds between checks of should_cancel and the timeouts
SSH_PROMPT = r"SSH password:\s*?$"
BECOME_PROMPT = r"BECOME password.*:\s*?$"

ptyclose.install()  # 0.1 s less per job: no sleep after closing the pty of an exited ansible


@dataclass
class RunSpec:
    """Everything one run needs, as plain data (credentials already decrypted)."""

    kind: str = "playbook"                  # "playbook" | "adhoc"
    project_dir: str | None = None          # checked-out project; playbooks resolve against it
    playbook: str | None = None             # path relative to project_dir
    module: str | None = None               # adhoc: module name, e.g. "command"
    module_args: str = ""                   # adhoc: the module's "-a" arguments
    host_pattern: str = "all"               # adhoc: which hosts (playbooks name theirs)
    inventory: dict[str, Any] | None = None  # `ansible-inventory --list` JSON
    inventory_str: str | None = None        # INI/YAML inventory text; wins over `inventory`
    extravars: dict[str, Any] = field(default_factory=dict)
    limit: str = ""
    tags: str = ""                          # playbook only
    skip_tags: str = ""                     # playbook only
    job_type: str = "run"                   # "run" | "check"
    verbosity: int = 0                      # 0-4
    forks: int = 0                          # 0 = ansible's default
    diff_mode: bool = False
    become_enabled: bool = False
    become_method: str = ""
    become_user: str = ""
    become_password: str = ""
    force_handlers: bool = False            # playbook only
    start_at_task: str = ""                 # playbook only
    ssh_user: str = ""
    ssh_password: str = ""
    ssh_private_key: str = ""
    ssh_key_passphrase: str = ""
    vault_password: str = ""
    vault_id: str = ""
    env: dict[str, str] = field(default_factory=dict)  # exported into ansible's environment
    job_timeout: int = 0                    # seconds, 0 = none
    idle_timeout: int = 0                   # seconds without output, 0 = none
    secrets: list[str] = field(default_factory=list)   # more values to mask in the output
    workdir: str | None = None              # where the run's private data dir is made (None: the temp dir)
    requirements_dir: str | None = None     # the project's installed requirements (roles/, collections/)

    def secret_values(self) -> list[str]:
        """Every value of this spec that must never be shown."""
        return [self.ssh_password, self.ssh_private_key, self.ssh_key_passphrase, self.become_password,
                self.vault_password, *self.secrets]


@dataclass
class RunResult:
    status: str                             # one of STATUSES
    rc: int
    stdout: str                             # redacted, with ANSI colours
    host_summaries: list[HostSummary]
    events_count: int
    error: str = ""                         # why the run could not start (also in stdout)


class SpecError(ValueError):
    """The spec cannot be run (missing playbook, unknown kind, unreadable key...)."""


def _validate(spec: RunSpec) -> str | None:
    """The absolute playbook path (None for adhoc); SpecError when the spec cannot run."""
    if spec.job_type not in ("run", "check"):
        raise SpecError(f"job_type: {spec.job_type!r} is not 'run' or 'check'")
    if spec.kind == "adhoc":
        if not spec.module:
            raise SpecError("module: an ad-hoc command needs a module")
        return None
    if spec.kind != "playbook":
        raise SpecError(f"kind: {spec.kind!r} is not 'playbook' or 'adhoc'")
    if not spec.project_dir or not spec.playbook:
        raise SpecError("playbook: a playbook run needs project_dir and playbook")
    root = os.path.realpath(spec.project_dir)
    path = os.path.realpath(os.path.join(root, spec.playbook))
    if not path.startswith(root + os.sep):
        raise SpecError(f"playbook: {spec.playbook!r} is outside the project")
    if not os.path.isfile(path):
        raise SpecError(f"playbook: {spec.playbook!r} not found in the project")
    return path


def _cmdline(spec: RunSpec, key_path: str | None) -> tuple[list[str], dict[str, str]]:
    """Extra ansible arguments and the pexpect prompt answers they call for."""
    args: list[str] = []
    passwords: dict[str, str] = {}
    if spec.job_type == "check":
        args.append("--check")
    if spec.diff_mode:
        args.append("--diff")
    if spec.become_enabled:
        args.append("--become")
    if spec.become_method:
        args += ["--become-method", spec.become_method]
    if spec.become_user:
        args += ["--become-user", spec.become_user]
    if spec.become_password:
        args.append("--ask-become-pass")
        passwords[BECOME_PROMPT] = spec.become_password
    if spec.ssh_user:
        args += ["--user", spec.ssh_user]
    if spec.ssh_password:
        args.append("--ask-pass")
        passwords[SSH_PROMPT] = spec.ssh_password
    if key_path:
        args += ["--private-key", key_path]
    if spec.vault_password:
        if spec.vault_id:
            args += ["--vault-id", f"{spec.vault_id}@prompt"]
            passwords[r"Vault password \(" + re.escape(spec.vault_id) + r"\):\s*?$"] = spec.vault_password
        else:
            args.append("--ask-vault-pass")
            passwords[r"Vault password:\s*?$"] = spec.vault_password
    if spec.kind == "playbook":
        if spec.force_handlers:
            args.append("--force-handlers")
        if spec.start_at_task:
            args += ["--start-at-task", spec.start_at_task]
    return args, passwords


def _environment(spec: RunSpec, data_dir: str, inventory_plugins: str = "") -> dict[str, str]:
    """ansible settings for a job run by a machine: no host-key prompts, nothing left behind."""
    env = {
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        # Host keys are not remembered: a host whose key changed would otherwise lose password
        # logins ("disabled to avoid man-in-the-middle attacks"). Extra args, because ssh_args may
        # be set by the project's ansible.cfg and an environment variable would override it.
        "ANSIBLE_SSH_EXTRA_ARGS": "-o UserKnownHostsFile=/dev/null",
        # ControlPersist masters live in the job's dir and are told to exit when the run ends.
        "ANSIBLE_SSH_CONTROL_PATH_DIR": os.path.join(data_dir, "cp"),
        "ANSIBLE_LOCAL_TEMP": os.path.join(data_dir, "tmp"),
        "ANSIBLE_RETRY_FILES_ENABLED": "False",
        "ANSIBLE_FORCE_COLOR": "True",
    }
    # The ansible installed next to this interpreter (a venv need not be on PATH).
    bin_dir = os.path.dirname(sys.executable)
    if os.access(os.path.join(bin_dir, "ansible-playbook"), os.X_OK):
        env["PATH"] = bin_dir + os.pathsep + os.environ.get("PATH", os.defpath)
    if inventory_plugins:
        env["ANSIBLE_INVENTORY_ENABLED"] = inventory_plugins
    env.update({str(k): str(v) for k, v in (spec.env or {}).items()})
    if spec.requirements_dir:  # ahead of the paths ansible would search without them
        for name, sub, default in (("ANSIBLE_ROLES_PATH", "roles", DEFAULT_ROLES_PATH),
                                   ("ANSIBLE_COLLECTIONS_PATH", "collections", DEFAULT_COLLECTIONS_PATH)):
            after = env.get(name) or os.environ.get(name) or default
            env[name] = os.path.join(spec.requirements_dir, sub) + os.pathsep + after
    return env


def _write_env_file(data_dir: str, name: str, value: dict[str, Any]) -> None:
    """Write ``env/<name>`` (0600 JSON) for ansible-runner to read.

    Extra vars go there rather than on the command line (visible in ``ps``). Settings must go
    there too: ansible-runner 2.4 drops the ``settings=`` argument when no env/settings file
    exists (its prepare_env replaces them with ``{}``).
    """
    env_dir = os.path.join(data_dir, "env")
    os.makedirs(env_dir, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(env_dir, name), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        json.dump(value, handle)


def _stop_ssh_masters(control_dir: str) -> None:
    """Ask every persistent ssh connection of this run to exit, so no process outlives the job."""
    if not os.path.isdir(control_dir):
        return
    for name in os.listdir(control_dir):
        subprocess.run(["ssh", "-o", f"ControlPath={os.path.join(control_dir, name)}", "-O", "exit", "opsgrat"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       timeout=10, check=False)


def _asks_to_cancel(should_cancel: Callable[[], bool]) -> bool:
    """The caller's answer; a failing check (say, a throttled database read) is not a cancel."""
    try:
        return bool(should_cancel())
    except Exception:  # noqa: BLE001 - the job must survive a broken check
        return False


def _read(path: str) -> str:
    try:
        with open(path, encoding="utf-8", errors="replace") as handle:
            return handle.read()
    except OSError:
        return ""


def run(spec: RunSpec, *, on_event: Callable[[dict[str, Any]], None] = lambda event: None,
        should_cancel: Callable[[], bool] = lambda: False) -> RunResult:
    """Run the spec to the end and return its result; never raises for a job that cannot run.

    ``on_event`` gets each ansible-runner event, redacted, as it happens; if it raises, the job
    is stopped and ends ``failed`` with the exception in ``error``.
    ``should_cancel`` is polled about twice a second; True stops ansible (status ``canceled``).
    A job or idle timeout stops it the same way (status ``timeout``). Stopping kills every
    process of the job, including ansible's workers.
    """
    secrets = spec.secret_values()
    if spec.ssh_private_key and spec.ssh_key_passphrase:
        try:
            secrets.append(decrypt(spec.ssh_private_key, spec.ssh_key_passphrase))
        except PrivateKeyError:
            pass
    redactor = Redactor(secrets)
    data_dir = tempfile.mkdtemp(prefix="opsgrat-run-", dir=spec.workdir)
    try:
        try:
            playbook = _validate(spec)
            key_path = None
            if spec.ssh_private_key:
                key_dir = os.path.join(data_dir, "keys")
                os.mkdir(key_dir, 0o700)
                key_path = write_private_key(spec.ssh_private_key, spec.ssh_key_passphrase, key_dir)
        except (SpecError, PrivateKeyError) as exc:
            message = redactor.text(str(exc))
            return RunResult(status="failed", rc=-1, stdout=message + "\n", host_summaries=[], events_count=0,
                             error=message)
        return _run(spec, playbook, key_path, data_dir, redactor, on_event, should_cancel)
    finally:
        _stop_ssh_masters(os.path.join(data_dir, "cp"))
        shutil.rmtree(data_dir, ignore_errors=True)


def _run(spec: RunSpec, playbook: str | None, key_path: str | None, data_dir: str, redactor: Redactor,
         on_event: Callable[[dict[str, Any]], None], should_cancel: Callable[[], bool]) -> RunResult:
    os.makedirs(os.path.join(data_dir, "tmp"), mode=0o700)
    os.makedirs(os.path.join(data_dir, "cp"), mode=0o700)
    inventory = write_inventory(os.path.join(data_dir, "inventory"), spec.inventory, spec.inventory_str)
    if spec.extravars:
        _write_env_file(data_dir, "extravars", spec.extravars)
    args, passwords = _cmdline(spec, key_path)
    collector = SummaryCollector()
    count = 0
    started = last_output = time.monotonic()
    stop_reason: list[str] = []  # "canceled" | "timeout", once decided
    timeout_error: list[str] = []  # which timeout stopped the job, for RunResult.error

    def handle_event(event: dict[str, Any]) -> bool:
        nonlocal count, last_output
        count += 1
        last_output = time.monotonic()
        collector.add(event)
        on_event(redactor.value(event))
        return False  # keep unredacted events off the disk; we have what we need

    def cancel_callback() -> bool:
        # The timeouts are ours, not ansible-runner's: its kill leaves ansible's workers running
        # (see proctree), and this is the one hook that runs before it kills.
        if not stop_reason:
            now = time.monotonic()
            if _asks_to_cancel(should_cancel):
                stop_reason.append("canceled")
            elif spec.job_timeout and now - started > spec.job_timeout:
                stop_reason.append("timeout")
                timeout_error.append(f"job timed out after {spec.job_timeout} s")
            elif spec.idle_timeout and now - last_output > spec.idle_timeout:
                stop_reason.append("timeout")
                timeout_error.append(f"no output for {spec.idle_timeout} s (idle timeout)")
        if stop_reason:
            kill_job_processes(data_dir)
            return True
        return False

    _write_env_file(data_dir, "settings", {"pexpect_timeout": PEXPECT_TIMEOUT, "suppress_ansible_output": True})
    kwargs: dict[str, Any] = {
        "private_data_dir": data_dir,
        "ident": "job",
        "inventory": inventory.path,
        "envvars": _environment(spec, data_dir, inventory.plugins),
        "passwords": passwords,
        "cmdline": shlex.join(args) if args else None,
        "limit": spec.limit or None,
        "verbosity": int(spec.verbosity or 0) or None,
        "forks": int(spec.forks or 0) or None,
        "suppress_env_files": True,
        "quiet": True,
        "event_handler": handle_event,
        "cancel_callback": cancel_callback,
    }
    if spec.kind == "adhoc":
        kwargs.update(module=spec.module, module_args=spec.module_args or None,
                      host_pattern=spec.host_pattern or "all", project_dir=spec.project_dir or data_dir)
    else:
        kwargs.update(playbook=playbook, project_dir=spec.project_dir, tags=spec.tags or None,
                      skip_tags=spec.skip_tags or None)
    try:
        runner = ansible_runner.run(**kwargs)
    except Exception as exc:  # noqa: BLE001 - a runner failure (or an on_event that raised) ends the job
        message = redactor.text(f"the runner failed: {type(exc).__name__}: {exc}")
        stdout = redactor.text(_read(os.path.join(data_dir, "artifacts", "job", "stdout")))
        return RunResult(status="failed", rc=-1, stdout=f"{stdout}{message}\n", host_summaries=collector.summaries(),
                         events_count=count, error=message)
    finally:
        kill_job_processes(data_dir)  # normally none are left; after a kill, the orphans
    stdout = redactor.text(_read(os.path.join(data_dir, "artifacts", "job", "stdout")))
    status = stop_reason[0] if stop_reason else runner.status
    status = status if status in STATUSES else "failed"
    rc = runner.rc if isinstance(runner.rc, int) else -1
    return RunResult(status=status, rc=rc, stdout=stdout, host_summaries=collector.summaries(), events_count=count,
                     error=timeout_error[0] if timeout_error else "")

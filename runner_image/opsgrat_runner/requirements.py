"""A project's Ansible requirements: roles and collections installed with `ansible-galaxy` for
the revision a job runs, in the job zone.

Which files (the first found of each line, as AWX):

    roles/requirements.yml|yaml        ansible-galaxy role install -r ... -p <dir>/roles
    collections/requirements.yml|yaml  ansible-galaxy collection install -r ... -p <dir>/collections
    requirements.yml|yaml (root)       ansible-galaxy install -r ... (roles and collections, each
                                       into its directory through ANSIBLE_ROLES_PATH/_COLLECTIONS_PATH)

`<dir>` is the job's requirements directory, `<zone>/requirements` (`requirements_dir`). A
requirements file is user content that names sources anywhere (git repositories, tarball URLs,
galaxy servers): `ansible-galaxy` runs in the job zone (the sandbox, as the job user, with the
job's environment), never in the runner. So do packing and unpacking the directory's archive,
which the runner stores by (project, revision) so that the jobs of a revision reuse the sync's
install: the runner only moves the archive's bytes between S3 and a file of the job's zone.

A galaxy credential reaches `ansible-galaxy` as environment variables
(ANSIBLE_GALAXY_SERVER_LIST and ANSIBLE_GALAXY_SERVER_OPSGRAT_URL/_TOKEN), never on its command
line; whatever it prints goes through the job's redactor.

Nothing here imports the platform: the runner gives it the sandbox, the job's directories and a
`note` callable for the job's output.
"""
from __future__ import annotations

import hashlib
import os
import re
import signal
import stat
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from .redact import Redactor
from .sandbox import Sandbox
from .workdir import JobDirs

#: (what it installs, candidate files relative to the checkout, the ansible-galaxy subcommand)
SOURCES = (
    ("roles", ("roles/requirements.yml", "roles/requirements.yaml"), ("role", "install")),
    ("collections", ("collections/requirements.yml", "collections/requirements.yaml"), ("collection", "install")),
    ("roles and collections", ("requirements.yml", "requirements.yaml"), ("install",)),
)
#: the name of the galaxy server a galaxy credential defines
SERVER_NAME = "opsgrat"
#: seconds one ansible-galaxy command may take
INSTALL_TIMEOUT = 900
#: the largest archive of a requirements directory that is cached (bytes); a bigger one is not stored
MAX_ARCHIVE = 1024 ** 3
ARCHIVE_NAME = "requirements.tar.gz"
#: archive and unpack in the job zone (tarfile's "data" filter: no absolute or escaping names,
#: no links out of the directory, no special files, no set-id bits)
_PACK = ("import sys, tarfile\n"
         "with tarfile.open(sys.argv[1], 'w:gz') as t:\n"
         "    t.add(sys.argv[2], arcname='.')\n")
_UNPACK = ("import sys, tarfile\n"
           "with tarfile.open(sys.argv[1], 'r:gz') as t:\n"
           "    t.extractall(sys.argv[2], filter='data')\n")
_SAFE_REVISION = re.compile(r"[A-Za-z0-9._-]{1,128}")


class RequirementsError(RuntimeError):
    """The requirements could not be installed (the reason is the command's last words)."""


@dataclass(frozen=True)
class Galaxy:
    """A galaxy server from the project's galaxy credential."""

    url: str
    token: str = ""

    def environment(self) -> dict[str, str]:
        prefix = f"ANSIBLE_GALAXY_SERVER_{SERVER_NAME.upper()}_"
        env = {"ANSIBLE_GALAXY_SERVER_LIST": SERVER_NAME, prefix + "URL": self.url}
        if self.token:
            env[prefix + "TOKEN"] = self.token
        return env


def requirements_dir(dirs: JobDirs) -> str:
    return os.path.join(dirs.zone, "requirements")


def found(project_dir: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """The requirements files of a checkout: (what, relative path, subcommand), in install order."""
    out = []
    for what, candidates, command in SOURCES:
        for rel in candidates:
            if os.path.isfile(os.path.join(project_dir, rel)):
                out.append((what, rel, command))
                break
    return out


def archive_key(project_id: int, revision: str) -> str:
    """Where the archive of (project, revision) is kept in the artifacts bucket."""
    name = revision if _SAFE_REVISION.fullmatch(revision) and revision not in (".", "..") \
        else hashlib.sha256(revision.encode()).hexdigest()
    return f"requirements/{int(project_id)}/{name}.tar.gz"


class ZoneCommand:
    """Runs one program in the job zone as the job user and streams its output, line by line, to
    `note` (redacted). Stopped at its timeout or when `should_cancel` says so.

    Unlike a job zone's own end, this kills only the command (its sandbox, or its process group):
    the job's zone may be waiting for its run meanwhile, as the same user."""

    def __init__(self, sandbox: Sandbox, dirs: JobDirs, note: Callable[[str], None], redactor: Redactor,
                 should_cancel: Callable[[], bool] = lambda: False):
        self.sandbox = sandbox
        self.dirs = dirs
        self.note = note
        self.redactor = redactor
        self.should_cancel = should_cancel

    def __call__(self, argv: list[str], *, cwd: str, env: dict[str, str], timeout: float = INSTALL_TIMEOUT,
                 quiet: bool = False) -> tuple[int, list[str]]:
        """The exit status and the last lines of output (all shown unless `quiet`)."""
        command = self.sandbox.command(argv, writable=[self.dirs.project, self.dirs.zone], cwd=cwd,
                                       job_home=self.dirs.home)
        process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, cwd=cwd, start_new_session=True,
                                   env=self.sandbox.environment(self.dirs.home, env))
        tail: list[str] = []

        def read() -> None:
            assert process.stdout is not None
            for raw in process.stdout:
                line = self.redactor.text(raw.decode("utf-8", "replace").rstrip())[:2000]
                if not line:
                    continue
                tail.append(line)
                del tail[:-20]
                if not quiet:
                    self.note(line)

        reader = threading.Thread(target=read, name="zone-command", daemon=True)
        reader.start()
        deadline = time.monotonic() + timeout
        stopped = ""
        try:
            while process.poll() is None:
                if time.monotonic() > deadline:
                    stopped = f"{os.path.basename(argv[0])} did not finish within {int(timeout)} s"
                elif _asks(self.should_cancel):
                    stopped = "canceled"
                if stopped:
                    break
                try:
                    process.wait(0.25)
                except subprocess.TimeoutExpired:
                    pass
        finally:
            _kill(process)
            reader.join(timeout=5)
        if stopped:
            raise RequirementsError(stopped)
        return process.returncode, tail


def _asks(should_cancel: Callable[[], bool]) -> bool:
    try:
        return bool(should_cancel())
    except Exception:  # noqa: BLE001 - a failing check is not a cancel
        return False


def _kill(process: subprocess.Popen) -> None:
    """The command and whatever it started (bwrap: its PID namespace dies with it)."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    try:
        process.kill()
    except ProcessLookupError:
        pass
    process.wait()


def galaxy_bin() -> str:
    """The ansible-galaxy installed next to this interpreter (as ansible-playbook is)."""
    candidate = os.path.join(os.path.dirname(sys.executable), "ansible-galaxy")
    return candidate if os.access(candidate, os.X_OK) else "ansible-galaxy"


def install(run: ZoneCommand, dirs: JobDirs, files: list[tuple[str, str, tuple[str, ...]]],
            env: dict[str, str], galaxy: Galaxy | None = None) -> str:
    """Install every requirements file into the job's requirements directory; returns it.

    RequirementsError names the file whose install failed (its output is in the job's log)."""
    target = requirements_dir(dirs)
    roles, collections = os.path.join(target, "roles"), os.path.join(target, "collections")
    for path in (target, roles, collections):
        os.makedirs(path, mode=0o700, exist_ok=True)
    run.sandbox.hand_over(target)
    run.sandbox.hand_over(dirs.project)
    environment = {**env, "ANSIBLE_ROLES_PATH": roles, "ANSIBLE_COLLECTIONS_PATH": collections,
                   "ANSIBLE_NOCOLOR": "1", "ANSIBLE_FORCE_COLOR": "0", "ANSIBLE_GALAXY_DISPLAY_PROGRESS": "0",
                   **(galaxy.environment() if galaxy else {})}
    for what, rel, command in files:
        argv = [galaxy_bin(), *command, "-r", rel]
        if command[0] == "role":
            argv += ["-p", roles]
        elif command[0] == "collection":
            argv += ["-p", collections]
        # else both, each into the first entry of ANSIBLE_ROLES_PATH / ANSIBLE_COLLECTIONS_PATH
        # (ansible-galaxy install skips the collections when given a path)
        run.note(f"requirements: ansible-galaxy {' '.join(command)} -r {rel} ({what})")
        rc, tail = run(argv, cwd=dirs.project, env=environment)
        if rc != 0:
            last = next((line for line in tail if "NOT installed" in line), "") \
                or next((line for line in tail if "ERROR" in line), tail[-1] if tail else "")
            raise RequirementsError(f"ansible-galaxy could not install {rel} (exit {rc})" + (f": {last}" if last else ""))
    return target


def pack(run: ZoneCommand, dirs: JobDirs) -> str:
    """Archive the requirements directory (in the job zone); returns the archive's path."""
    archive = os.path.join(dirs.zone, ARCHIVE_NAME)
    rc, tail = run([sys.executable, "-I", "-c", _PACK, archive, requirements_dir(dirs)], cwd=dirs.zone, env={},
                   quiet=True)
    if rc != 0:
        raise RequirementsError("could not archive the requirements: " + (tail[-1] if tail else f"exit {rc}"))
    return archive


def open_archive(path: str):
    """The job's archive, opened for the runner to upload: a regular file (not a link the job
    left there), within MAX_ARCHIVE; None when it is not one."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError:
        return None
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_size > MAX_ARCHIVE:
        os.close(fd)
        return None
    return os.fdopen(fd, "rb")


def unpack(run: ZoneCommand, dirs: JobDirs, body) -> str:
    """Write the archive's bytes (a file-like `body`) into the zone and unpack them there, as the
    job user; returns the requirements directory."""
    archive = os.path.join(dirs.zone, ARCHIVE_NAME)
    fd = os.open(archive, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "wb") as handle:
        while chunk := body.read(1024 * 1024):
            handle.write(chunk)
    target = requirements_dir(dirs)
    os.makedirs(target, mode=0o700, exist_ok=True)
    run.sandbox.hand_over(target)
    run.sandbox.hand_over(archive)
    rc, tail = run([sys.executable, "-I", "-c", _UNPACK, archive, target], cwd=dirs.zone, env={}, quiet=True)
    os.unlink(archive)
    if rc != 0:
        raise RequirementsError("could not unpack the cached requirements: " + (tail[-1] if tail else f"exit {rc}"))
    return target

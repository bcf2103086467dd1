"""The job zone's walls: how a job's own code (playbooks, modules, inventory scripts) is started
so that it reaches only what its launch gave it.

The runner (privileged: it holds the job's record, its decrypted credentials, its task token and
the platform's AWS credentials) never runs user code itself. It starts it through `Sandbox`:

* ``bwrap`` (the local stack's default): bubblewrap gives the job its own mount, PID, IPC and UTS
  namespaces. Only the system directories, the Python installation and the runner's own code are
  mounted (read-only), plus the job's directories (writable); the stack's home (token file,
  snapshot, KMS material), other jobs' directories and every other process do not exist in
  there. `/proc` is the job's own and `/tmp` is empty. Run as root, the job then drops to the
  unprivileged job user (setpriv, no new privileges); run as another user, bubblewrap maps that
  user into a user namespace without capabilities. Killing the sandbox ends every process of
  the job at once (the PID namespace dies with its first process, which dies with the runner).
* ``user`` (the runner image on ECS, one job per container): the job runs as the unprivileged
  job user with no new privileges; the container is its wall. Killing the job kills every
  process of the job user.
* ``none``: no isolation, for development machines that choose it explicitly.

In every mode the job's environment is built from nothing: no AWS credentials or container
credentials URI, no OPSGRAT_* paths, nothing of the runner's environment but the locale.
"""
from __future__ import annotations

import enum
import os
import pwd
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: the runner's own code (runner_image/ and its parent), mounted read-only for the job zone
CODE_ROOT = str(Path(__file__).resolve().parent.parent.parent)
SANDBOX_ENV = "OPSGRAT_SANDBOX"
JOB_USER_ENV = "OPSGRAT_JOB_USER"
DEFAULT_JOB_USER = "opsgrat-job"
#: variables the job zone inherits from the runner (everything else is built from scratch)
INHERITED = ("LANG", "LC_ALL", "TZ")
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


class Mode(enum.StrEnum):
    BWRAP = "bwrap"
    USER = "user"
    NONE = "none"


class SandboxUnavailable(RuntimeError):
    """The configured isolation cannot be set up on this machine: the job must not run."""


@dataclass(frozen=True)
class JobUser:
    name: str
    uid: int
    gid: int
    #: the user's home in the password database (what `~user` expands to, e.g. for ansible's remote_tmp)
    home: str = "/nonexistent"


def _job_user(name: str) -> JobUser | None:
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        return None
    return JobUser(name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


def _current_user() -> JobUser:
    entry = pwd.getpwuid(os.geteuid())
    return JobUser(entry.pw_name, entry.pw_uid, entry.pw_gid, entry.pw_dir)


@dataclass
class Sandbox:
    mode: Mode
    #: the unprivileged user the job runs as (None: the runner's own user, in a user namespace)
    user: JobUser | None = None
    bwrap: str = "bwrap"
    #: paths mounted read-only in bwrap mode, besides the job's own directories
    system_paths: list[str] = field(default_factory=list)

    @classmethod
    def from_environment(cls) -> "Sandbox":
        """The sandbox this runner is configured for (OPSGRAT_SANDBOX: auto, bwrap, user, none).

        `auto` takes bubblewrap when it is installed, else the job user when the runner is root;
        with neither, jobs do not run (SandboxUnavailable) rather than run unisolated."""
        wanted = os.environ.get(SANDBOX_ENV, "auto") or "auto"
        root = os.geteuid() == 0
        user = _job_user(os.environ.get(JOB_USER_ENV, DEFAULT_JOB_USER)) if root else None
        if root and user is None and wanted != Mode.NONE:
            raise SandboxUnavailable(f"the job user {os.environ.get(JOB_USER_ENV, DEFAULT_JOB_USER)!r} does not exist "
                                     "(scripts/bootstrap creates it; the runner image has it)")
        bwrap = shutil.which("bwrap")
        if wanted == "auto":
            wanted = Mode.BWRAP if bwrap else (Mode.USER if root else "")
            if not wanted:
                raise SandboxUnavailable("no isolation for jobs: install bubblewrap (scripts/bootstrap does), run the "
                                         f"runner as root with a job user, or set {SANDBOX_ENV}=none")
        mode = Mode(wanted)
        if mode == Mode.BWRAP and not bwrap:
            raise SandboxUnavailable("bubblewrap (bwrap) is not installed")
        if mode == Mode.USER and not root:
            raise SandboxUnavailable("the user sandbox needs a runner running as root")
        return cls(mode, user if mode != Mode.NONE else None, bwrap or "bwrap", _system_paths())

    # ------------------------------------------------------------ preparing

    def mount_python(self, python: str) -> None:
        """Also mount (read-only) another Python's installation for the job zone: a venv of an
        execution environment, and the installation its interpreter links to."""
        venv = os.path.dirname(os.path.dirname(os.path.abspath(python)))
        base = os.path.dirname(os.path.dirname(os.path.realpath(python)))
        for path in (venv, base):
            covered = any(path == p or path.startswith(p.rstrip("/") + "/") for p in self.system_paths)
            if not covered and os.path.isdir(path):
                self.system_paths.append(path)

    def hand_over(self, path: str) -> None:
        """Give a directory tree the runner prepared (a checkout, the zone dir) to the job user.
        Symbolic links are changed themselves, never followed."""
        if self.user is None:
            return
        uid, gid = self.user.uid, self.user.gid
        os.chown(path, uid, gid, follow_symlinks=False)
        for root, dirs, files in os.walk(path):
            for name in dirs + files:
                os.chown(os.path.join(root, name), uid, gid, follow_symlinks=False)

    @property
    def runs_as(self) -> JobUser:
        """The user whose identity the job has (the job user, or the runner's own)."""
        return self.user or _current_user()

    def home(self, job_home: str) -> str:
        """Where the job's home directory is, as the job sees it. In bwrap mode the job's own
        directory is mounted on the user's home from the password database, so that `~` and
        `~user` (ansible's remote_tmp for local connections) both lead into the job's directory."""
        if self.mode == Mode.BWRAP and self.runs_as.home not in ("", "/"):
            return self.runs_as.home
        return job_home

    def environment(self, job_home: str, extra: dict[str, str] | None = None) -> dict[str, str]:
        """The whole environment of the job zone: built, not inherited."""
        env = {name: os.environ[name] for name in INHERITED if name in os.environ}
        env.setdefault("LANG", "C.UTF-8")
        env["PATH"] = os.path.dirname(sys.executable) + os.pathsep + SYSTEM_PATH  # ansible beside this Python
        home = self.home(job_home)
        env.update(HOME=home, TMPDIR=os.path.join(home, "tmp"), USER=self.runs_as.name, LOGNAME=self.runs_as.name)
        env.update(extra or {})
        return env

    # ------------------------------------------------------------ starting

    def command(self, argv: list[str], *, writable: list[str], cwd: str, job_home: str | None = None) -> list[str]:
        """`argv` wrapped so that it runs in the job zone, seeing `writable` (the job's own
        directories, mounted at the same paths), `job_home` at the job's home (see `home`) and
        the read-only system paths."""
        drop = self._drop_privileges()
        if self.mode != Mode.BWRAP:
            return drop + argv
        args = [self.bwrap, "--die-with-parent", "--new-session", "--unshare-pid", "--unshare-ipc",
                "--unshare-uts", "--unshare-cgroup-try", "--hostname", "job", "--proc", "/proc", "--dev", "/dev",
                "--perms", "1777", "--tmpfs", "/dev/shm", "--perms", "1777", "--tmpfs", "/tmp",
                "--perms", "1777", "--tmpfs", "/var/tmp"]
        if os.geteuid() != 0:
            args += ["--unshare-user", "--cap-drop", "ALL"]
        # mount points' parents (/root/.pyenv, the checkout's directory...) exist in the new root
        # only as bwrap makes them: make them traversable for the job user
        for parent in _parents([*self.system_paths, *writable, self.home(job_home or "/")]):
            args += ["--perms", "0755", "--dir", parent]
        for path in self.system_paths:
            if os.path.islink(path):
                args += ["--symlink", os.readlink(path), path]
            else:
                args += ["--ro-bind", path, path]
        for path in writable:
            args += ["--bind", path, path]
        if job_home and self.home(job_home) != job_home:
            args += ["--bind", job_home, self.home(job_home)]
        return args + ["--chdir", cwd, "--", *drop, *argv]

    def _drop_privileges(self) -> list[str]:
        if self.user is None:
            return []
        return ["setpriv", f"--reuid={self.user.uid}", f"--regid={self.user.gid}", "--clear-groups",
                "--inh-caps=-all", "--no-new-privs", "--"]

    # ------------------------------------------------------------ ending

    def kill(self, process: subprocess.Popen) -> None:
        """End the job zone and everything it started, now."""
        try:
            process.kill()  # bwrap: its PID namespace, and every process in it, dies with it
        except ProcessLookupError:
            pass
        if self.mode == Mode.USER and self.user is not None:
            kill_user_processes(self.user)

    def cleanup(self) -> None:
        """After the job zone ended: nothing of the job may keep running (ansible's workers leave
        their process group; an ssh ControlPersist master may linger)."""
        if self.mode == Mode.USER and self.user is not None:
            kill_user_processes(self.user)


def _system_paths() -> list[str]:
    """What a job needs to run ansible: the OS, the Python installation, the runner's code."""
    paths = ["/usr", "/etc", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt"]
    python = {sys.prefix, sys.base_prefix, os.path.dirname(os.path.dirname(os.path.realpath(sys.executable)))}
    paths += sorted(p for p in python if not p.startswith(("/usr/", "/opt/")) and p != "/usr")
    paths.append(os.path.join(CODE_ROOT, "runner_image"))
    resolv = "/etc/resolv.conf"
    if os.path.islink(resolv):  # e.g. systemd-resolved's file under /run
        paths.append(os.path.dirname(os.path.realpath(resolv)))
    return [p for p in paths if os.path.lexists(p)]


def _parents(paths: list[str]) -> list[str]:
    """The ancestors of `paths` (not `/`), shallowest first, each once."""
    found: set[str] = set()
    for path in paths:
        parent = os.path.dirname(path.rstrip("/"))
        while parent not in ("", "/"):
            found.add(parent)
            parent = os.path.dirname(parent)
    return sorted(found, key=lambda p: (p.count("/"), p))


def user_processes(uid: int) -> list[int]:
    """Pids of the processes whose real user id is `uid` (from /proc)."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status", encoding="ascii", errors="replace") as handle:
                for line in handle:
                    if line.startswith("Uid:"):
                        if int(line.split()[1]) == uid:
                            pids.append(int(entry))
                        break
        except OSError:
            continue
    return pids


def kill_user_processes(user: JobUser, rounds: int = 20) -> None:
    """SIGKILL every process of the job user, until none is left (a process may fork meanwhile:
    kill(-1) from the job user's own identity reaches them all at once, so a round ends them)."""
    for _ in range(rounds):
        if not user_processes(user.uid):
            return
        pid = os.fork()
        if pid == 0:  # the child becomes the job user and signals everything that user owns
            try:
                os.setgroups([])
                os.setgid(user.gid)
                os.setuid(user.uid)
                os.kill(-1, signal.SIGKILL)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        time.sleep(0.01)

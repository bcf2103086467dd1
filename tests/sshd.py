"""A real sshd on 127.0.0.1 for the runner's ssh tests (session scoped, stopped at the end).

It logs in a local user ``opsgrat-test`` (created if missing; we run as root) by password or by
one of two generated ed25519 keys, one of them passphrase-protected. The user may sudo with
its password, so become with a become password can be tested over ssh. The session's sudoers
entry is removed at the end; the user and its password (a root-only file) are kept, because
test sessions may overlap and share them.
"""
from __future__ import annotations

import dataclasses
import os
import secrets
import shutil
import socket
import subprocess
import tempfile
import time

import pytest

SSHD = "/usr/sbin/sshd"
USER = "opsgrat-test"
SUDOERS = f"/etc/sudoers.d/opsgrat-test-{os.getpid()}"  # one per session: sessions may overlap
PASSWORD_FILE = "/var/lib/opsgrat-test/password"


@dataclasses.dataclass
class SshServer:
    host: str
    port: int
    user: str
    password: str
    private_key: str             # unencrypted OpenSSH ed25519 key
    protected_key: str           # the same kind of key, encrypted with `passphrase`
    passphrase: str

    def inventory(self, name: str = "sshhost") -> dict:
        """An `ansible-inventory --list` inventory with this server as one host."""
        return {"all": {"children": ["ungrouped"]}, "ungrouped": {"hosts": [name]},
                "_meta": {"hostvars": {name: {"ansible_host": self.host, "ansible_port": self.port,
                                              "ansible_connection": "ssh"}}}}


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _keygen(path: str, passphrase: str = "") -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", passphrase, "-C", "opsgrat-test", "-f", path],
                   check=True)
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def _user_password() -> str:
    """One random password per machine, kept root-only: concurrent test sessions (the runner's
    and the end-to-end ones) share the user, so a fresh password per session would break the
    other session's logins."""
    os.makedirs(os.path.dirname(PASSWORD_FILE), mode=0o700, exist_ok=True)
    try:
        fd = os.open(PASSWORD_FILE, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        with open(PASSWORD_FILE, encoding="utf-8") as handle:
            return handle.read().strip()
    password = "pw-" + secrets.token_hex(8)
    with os.fdopen(fd, "w") as handle:
        handle.write(password)
    return password


def _ensure_user(password: str) -> None:
    if subprocess.run(["id", USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--create-home", "--shell", "/bin/bash", USER], check=True)
    subprocess.run(["chpasswd"], input=f"{USER}:{password}\n", text=True, check=True)


def _wait_for_port(port: int, proc: subprocess.Popen, log: str) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"sshd exited: {open(log).read()}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError("sshd did not start listening")


@pytest.fixture(scope="session")
def sshd():
    if os.geteuid() != 0 or not os.path.exists(SSHD):
        pytest.fail("the ssh tests need root and openssh-server (scripts/bootstrap installs it)")
    password = _user_password()
    _ensure_user(password)
    workdir = tempfile.mkdtemp(prefix="opsgrat-sshd-")
    os.chmod(workdir, 0o755)  # sshd reads authorized_keys as the test user
    os.makedirs("/run/sshd", exist_ok=True)  # privilege separation dir
    host_key = os.path.join(workdir, "host_key")
    _keygen(host_key)
    private_key = _keygen(os.path.join(workdir, "client_key"))
    passphrase = "pp-" + secrets.token_hex(6)
    protected_key = _keygen(os.path.join(workdir, "client_key_protected"), passphrase)
    authorized = os.path.join(workdir, "authorized_keys")
    with open(authorized, "w", encoding="utf-8") as out:
        for name in ("client_key.pub", "client_key_protected.pub"):
            with open(os.path.join(workdir, name), encoding="utf-8") as pub:
                out.write(pub.read())
    os.chmod(authorized, 0o644)
    port = _free_port()
    config = os.path.join(workdir, "sshd_config")
    with open(config, "w", encoding="utf-8") as handle:
        handle.write("\n".join([
            f"Port {port}", "ListenAddress 127.0.0.1", f"HostKey {host_key}",
            f"PidFile {os.path.join(workdir, 'sshd.pid')}", f"AuthorizedKeysFile {authorized}",
            "StrictModes no", "UsePAM no", "PasswordAuthentication yes", "PubkeyAuthentication yes",
            "KbdInteractiveAuthentication no", "PermitRootLogin no", f"AllowUsers {USER}",
            "Subsystem sftp internal-sftp", "LogLevel ERROR", "MaxStartups 50", "MaxSessions 50", "",
        ]))
    with open(SUDOERS, "w", encoding="utf-8") as handle:
        handle.write(f"{USER} ALL=(ALL:ALL) ALL\n")
    os.chmod(SUDOERS, 0o440)
    log = os.path.join(workdir, "sshd.log")
    log_handle = open(log, "w", encoding="utf-8")  # noqa: SIM115 - closed in the finally below
    proc = subprocess.Popen([SSHD, "-D", "-e", "-f", config], stdout=subprocess.DEVNULL, stderr=log_handle)
    try:
        _wait_for_port(port, proc, log)
        yield SshServer(host="127.0.0.1", port=port, user=USER, password=password, private_key=private_key,
                        protected_key=protected_key, passphrase=passphrase)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log_handle.close()
        if os.path.exists(SUDOERS):
            os.remove(SUDOERS)
        shutil.rmtree(workdir, ignore_errors=True)

"""SSH private keys on disk: written 0600 into a caller's private temp dir, never encrypted.

ssh and git cannot be fed a passphrase without a prompt, so a passphrase-protected key is
decrypted in memory with ``cryptography`` and written unencrypted into a directory that only the
runner can read and that the caller removes when the job ends. Nothing has to answer a prompt
and no agent process outlives the job. ``cryptography`` is imported when a key is handled: a job
without one does not pay its ~10 ms import.
"""
from __future__ import annotations

import os


class PrivateKeyError(ValueError):
    """The key text cannot be read (malformed, or the passphrase is wrong or missing)."""


def normalize(key_text: str) -> str:
    """ssh refuses keys with CRLF line ends or without a final newline (common after copy-paste)."""
    text = key_text.replace("\r\n", "\n").replace("\r", "\n").strip()
    return text + "\n"


def _load(data: bytes, password: bytes | None):
    from cryptography.hazmat.primitives import serialization

    if b"BEGIN OPENSSH PRIVATE KEY" in data:
        return serialization.load_ssh_private_key(data, password=password)
    return serialization.load_pem_private_key(data, password=password)


def _require_unencrypted(text: str) -> None:
    """An encrypted key without its passphrase would make ssh fail later as 'unreachable'; say why now.

    Keys that cryptography cannot parse at all (say, hardware-backed sk- keys) are left to ssh.
    """
    from cryptography.exceptions import UnsupportedAlgorithm

    try:
        _load(text.encode(), None)
    except TypeError as exc:  # "Password was not given but private key is encrypted"
        raise PrivateKeyError("ssh private key: it is encrypted and no passphrase was given") from exc
    except (ValueError, UnsupportedAlgorithm):
        pass


def decrypt(key_text: str, passphrase: str | None) -> str:
    """The key as unencrypted OpenSSH text; unchanged (normalized) when there is no passphrase."""
    text = normalize(key_text)
    if not passphrase:
        _require_unencrypted(text)
        return text
    from cryptography.exceptions import UnsupportedAlgorithm
    from cryptography.hazmat.primitives import serialization

    data = text.encode()
    password = passphrase.encode()
    try:
        key = _load(data, password)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        # The library's messages never include the key or passphrase; keep ours generic anyway.
        raise PrivateKeyError("ssh private key: cannot decrypt it (wrong passphrase or not a private key)") from exc
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                             serialization.NoEncryption()).decode()


def write_private_key(key_text: str, passphrase: str | None, directory: str, name: str = "ssh_key") -> str:
    """Write the (decrypted) key to ``directory/name`` with mode 0600 and return its path.

    The file is created with O_EXCL and mode 0600 from the start, so it is never readable by
    others, not even for a moment.
    """
    path = os.path.join(directory, name)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(decrypt(key_text, passphrase))
    return path

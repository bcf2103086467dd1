"""Structural checks of SSH private keys, without a crypto library.

Why not `cryptography`: it is 15 MB, and the API Lambda must stay light (budget 15 MB in all).
Parsing the container formats is enough to reject what is not a key (a public key, a truncated
paste, a certificate, random text) with a clear 400; the runner, which has the crypto libraries,
decrypts the key at run time and fails the job with a clear reason if the passphrase is wrong.

Formats: OpenSSH (`openssh-key-v1`), PEM PKCS#1/SEC1/DSA (`RSA|EC|DSA PRIVATE KEY`, legacy
encrypted with `Proc-Type: 4,ENCRYPTED`), PKCS#8 (`PRIVATE KEY`, `ENCRYPTED PRIVATE KEY`).
"""
from __future__ import annotations

import base64
import binascii
import re
import struct
from dataclasses import dataclass

_PEM = re.compile(r"-----BEGIN ([A-Z0-9 ]+)-----\r?\n(.*?)-----END \1-----", re.DOTALL)
_OPENSSH_MAGIC = b"openssh-key-v1\x00"
_KEY_TYPES = {"ssh-rsa", "ssh-dss", "ssh-ed25519", "ecdsa-sha2-nistp256", "ecdsa-sha2-nistp384",
              "ecdsa-sha2-nistp521", "sk-ssh-ed25519@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com"}
_PEM_KINDS = {"RSA PRIVATE KEY", "EC PRIVATE KEY", "DSA PRIVATE KEY", "PRIVATE KEY", "ENCRYPTED PRIVATE KEY",
              "OPENSSH PRIVATE KEY"}


class KeyFormatError(ValueError):
    """Not a private key this product can use; the message says why."""


@dataclass(frozen=True)
class KeyInfo:
    kind: str          # "openssh" | "pem" | "pkcs8"
    key_type: str      # e.g. "ssh-ed25519", "RSA", "unknown"
    encrypted: bool


def inspect(text: str) -> KeyInfo:
    """Parse the key's container; raise KeyFormatError when it is not a private key."""
    text = (text or "").strip().replace("\r\n", "\n")
    match = _PEM.search(text + "\n")
    if not match:
        if text.startswith(("ssh-", "ecdsa-", "sk-")):
            raise KeyFormatError("this is a public key; paste the private key")
        raise KeyFormatError("not a PEM or OpenSSH private key (no -----BEGIN ... PRIVATE KEY----- block)")
    label, body = match.group(1), match.group(2)
    if label not in _PEM_KINDS:
        raise KeyFormatError(f'"{label}" is not a private key')
    headers, _, payload = body.partition("\n\n") if ":" in body.split("\n", 1)[0] else ("", "", body)
    try:
        der = base64.b64decode("".join(payload.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError("the key's base64 body is damaged") from None
    if label == "OPENSSH PRIVATE KEY":
        return _openssh(der)
    if "ENCRYPTED" in headers:  # legacy PEM encryption: the body is ciphertext, not DER
        if not der or len(der) % 8:
            raise KeyFormatError("the encrypted key body is damaged")
        return KeyInfo("pem", label.split()[0], True)
    _der_sequence(der)
    if label == "PRIVATE KEY":
        return KeyInfo("pkcs8", "unknown", False)
    if label == "ENCRYPTED PRIVATE KEY":
        return KeyInfo("pkcs8", "unknown", True)
    return KeyInfo("pem", label.split()[0], False)


def _openssh(blob: bytes) -> KeyInfo:
    if not blob.startswith(_OPENSSH_MAGIC):
        raise KeyFormatError("not an openssh-key-v1 key")
    reader = _Reader(blob[len(_OPENSSH_MAGIC):])
    cipher = reader.string().decode(errors="replace")
    kdf = reader.string().decode(errors="replace")
    reader.string()  # kdf options
    if reader.uint32() != 1:
        raise KeyFormatError("keys holding several private keys are not supported")
    public = _Reader(reader.string())
    key_type = public.string().decode(errors="replace")
    if key_type not in _KEY_TYPES:
        raise KeyFormatError(f'unknown key type "{key_type}"')
    private = reader.string()
    encrypted = cipher != "none"
    if encrypted:
        if kdf != "bcrypt" or len(private) % 16:
            raise KeyFormatError("the encrypted key section is damaged")
    else:
        section = _Reader(private)
        if section.uint32() != section.uint32():
            raise KeyFormatError("the key's check integers differ (damaged key)")
        if section.string().decode(errors="replace") != key_type:
            raise KeyFormatError("the private and public halves of the key disagree")
    return KeyInfo("openssh", key_type, encrypted)


def _der_sequence(der: bytes) -> None:
    """The DER body must be exactly one SEQUENCE (what every PEM private key is)."""
    if len(der) < 2 or der[0] != 0x30:
        raise KeyFormatError("the key body is not a DER sequence")
    length = der[1]
    offset = 2
    if length & 0x80:
        count = length & 0x7F
        if count == 0 or count > 4 or len(der) < 2 + count:
            raise KeyFormatError("the key body has a bad length")
        length = int.from_bytes(der[2:2 + count], "big")
        offset += count
    if offset + length != len(der):
        raise KeyFormatError("the key body is truncated or has trailing data")


class _Reader:
    def __init__(self, data: bytes):
        self.data = data
        self.pos = 0

    def uint32(self) -> int:
        if self.pos + 4 > len(self.data):
            raise KeyFormatError("the key is truncated")
        (value,) = struct.unpack(">I", self.data[self.pos:self.pos + 4])
        self.pos += 4
        return value

    def string(self) -> bytes:
        size = self.uint32()
        if self.pos + size > len(self.data):
            raise KeyFormatError("the key is truncated")
        value = self.data[self.pos:self.pos + size]
        self.pos += size
        return value

"""Secrets at rest: every secret field is encrypted with the installation's KMS key.

Stored values look like ``kms:<base64 ciphertext>``; the API only ever shows "$encrypted$".
The encryption context binds a ciphertext to its family and field, so a value copied into
another field does not decrypt.
"""
from __future__ import annotations

import base64

from chalicelib import aws, config

PREFIX = "kms:"


def key_id() -> str:
    return config.env("OPSGRAT_KMS_KEY") or f"alias/{config.resource_name('secrets')}"


def encrypt(plaintext: str, family: str, field_name: str) -> str:
    if not plaintext:
        return ""
    blob = aws.client("kms").encrypt(
        KeyId=key_id(), Plaintext=plaintext.encode(),
        EncryptionContext={"family": family, "field": field_name},
    )["CiphertextBlob"]
    return PREFIX + base64.b64encode(blob).decode()


def decrypt(stored: str, family: str, field_name: str) -> str:
    if not stored:
        return ""
    if not stored.startswith(PREFIX):
        raise ValueError("not an encrypted value")
    blob = base64.b64decode(stored[len(PREFIX):])
    return aws.client("kms").decrypt(
        CiphertextBlob=blob, EncryptionContext={"family": family, "field": field_name},
    )["Plaintext"].decode()


def revealed(resource, rec: dict) -> dict:
    """The record with every secret field of `resource` (a declared family) decrypted, for the
    code that uses them (the runner, the notify handler); never for a response."""
    out = dict(rec)
    for f in resource.secrets:
        out[f.name] = decrypt(rec.get(f.name) or "", resource.family, f.name)
    return out

"""Mask secret values in everything a job prints: stdout text and every string in an event.

A playbook can print any variable, including a credential's password, so redaction works on the
output, not on the inputs. Each secret is masked as given, JSON-escaped (ansible prints results as
JSON) and, for multi-line secrets such as private keys, line by line (a task may print part of a
key file).
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterable
from typing import Any

MASK = "********"
_MIN_LINE = 8  # shorter lines of a multi-line secret (blank, "-----BEGIN …") are not secret


def _variants(secret: str) -> set[str]:
    variants = {secret, secret.strip(), json.dumps(secret)[1:-1], json.dumps(secret.strip())[1:-1]}
    if "\n" in secret.strip():
        for line in secret.splitlines():
            line = line.strip()
            if len(line) >= _MIN_LINE and not line.startswith("-----"):
                variants.add(line)
    return {v for v in variants if v}


class Redactor:
    """Replaces every occurrence of the given secrets with ``MASK``."""

    def __init__(self, secrets: Iterable[str | None] = ()):
        values: set[str] = set()
        for secret in secrets:
            if secret:
                values |= _variants(str(secret))
        # Longest first, so a secret containing another one is masked whole.
        ordered = sorted(values, key=len, reverse=True)
        self._pattern = re.compile("|".join(re.escape(v) for v in ordered)) if ordered else None

    def text(self, value: str) -> str:
        """The string with every secret masked."""
        if self._pattern is None or not value:
            return value
        return self._pattern.sub(MASK, value)

    def value(self, obj: Any) -> Any:
        """A copy of a JSON-like value (dicts, lists, strings) with every nested string masked."""
        if isinstance(obj, str):
            return self.text(obj)
        if isinstance(obj, dict):
            return {self.value(k) if isinstance(k, str) else k: self.value(v) for k, v in obj.items()}
        if isinstance(obj, (list, tuple)):
            return [self.value(item) for item in obj]
        return obj

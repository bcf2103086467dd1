"""The runner's ansible-facing core: check out a project, run ansible, redact what it prints.

Data in, data out: nothing here knows DynamoDB, HTTP or AWS, so the same code serves the
container entrypoint, the local-stack subprocess and the tests. The names below load their
module on first use: the job zone imports only what a run needs (its interpreter starts for
every job), and the local stack's process, which only cleans job directories, imports no ansible.
"""
from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "STATUSES": "execute", "HostSummary": "execute", "RunResult": "execute", "RunSpec": "execute",
    "SpecError": "execute", "run": "execute",
    "GitError": "git", "checkout": "git", "find_playbooks": "git",
    "PrivateKeyError": "keys",
    "MASK": "redact", "Redactor": "redact",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)

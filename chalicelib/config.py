"""Settings read from the environment, in one place.

Everything that differs between AWS and the local stack is an environment variable set by
`.chalice/config.json` (on AWS) or by `chalicelib.local` (on one machine); code never asks
"am I local?".
"""
from __future__ import annotations

import os

PREFIX_ENV = "OPSGRAT_PREFIX"


def prefix() -> str:
    """Name prefix of every AWS resource of one installation (tables, queues, bucket...)."""
    return os.environ.get(PREFIX_ENV, "opsgrat")


def region() -> str:
    return os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"


def resource_name(short: str) -> str:
    return f"{prefix()}-{short}"


def env(name: str, default: str = "") -> str:
    return os.environ.get(name, default)

"""Cached boto3 clients. botocore honours AWS_ENDPOINT_URL, which is how the local stack
points every client at its moto server."""
from __future__ import annotations

import functools

import boto3

from chalicelib import config


@functools.lru_cache(maxsize=None)
def client(service: str):
    return boto3.session.Session().client(service, region_name=config.region())


def reset() -> None:
    """Forget cached clients (tests and the local stack change endpoints)."""
    client.cache_clear()

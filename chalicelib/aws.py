"""Cached boto3 clients. botocore honours AWS_ENDPOINT_URL, which is how the local stack
points every client at its moto server."""
from __future__ import annotations

import functools

import boto3
import botocore.loaders
import botocore.session

from chalicelib import config


@functools.lru_cache(maxsize=1)
def _loader() -> botocore.loaders.Loader:
    """One botocore data loader for every session: it caches the parsed service models and
    endpoint rules (~0.1 s of JSON per client otherwise), which do not depend on the endpoint."""
    return botocore.loaders.create_loader()


@functools.cache
def client(service: str):
    core = botocore.session.get_session()
    core.register_component("data_loader", _loader())
    return boto3.session.Session(botocore_session=core).client(service, region_name=config.region())


def reset() -> None:
    """Forget cached clients (tests and the local stack change endpoints)."""
    client.cache_clear()

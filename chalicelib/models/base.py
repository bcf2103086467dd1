"""Shared Meta for every table: on-demand billing, names from the installation prefix."""
from __future__ import annotations

import os

from chalicelib import config


def meta(short_name: str) -> type:
    """A PynamoDB `Meta` class for table `<prefix>-<short_name>`.

    `host` is the endpoint the environment names when the models are imported
    (AWS_ENDPOINT_URL_DYNAMODB, else AWS_ENDPOINT_URL: the local stack's moto server, which is why
    the local stack starts moto before importing chalicelib), and None on AWS, where PynamoDB uses
    the region's endpoint.
    """

    class Meta:
        table_name = config.resource_name(short_name)
        region = config.region()
        billing_mode = "PAY_PER_REQUEST"
        host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None

    return Meta

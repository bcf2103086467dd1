"""Shared Meta for every table: on-demand billing, names from the installation prefix."""
from __future__ import annotations

import os

from chalicelib import config


def meta(short_name: str) -> type:
    """A PynamoDB `Meta` class for table `<prefix>-<short_name>`.

    `host` stays None so that botocore's AWS_ENDPOINT_URL (set by the local stack) applies.
    """

    class Meta:
        table_name = config.resource_name(short_name)
        region = config.region()
        billing_mode = "PAY_PER_REQUEST"
        host = os.environ.get("AWS_ENDPOINT_URL_DYNAMODB") or os.environ.get("AWS_ENDPOINT_URL") or None

    return Meta

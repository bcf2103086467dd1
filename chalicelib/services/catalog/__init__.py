"""Declarations of every resource family, by API area. Importing this package registers them."""
from chalicelib.services.catalog import (  # noqa: F401
    credential,
    execution_environment,
    grants,
    host_source,
    inventory,
    job,
    notification,
    project,
    schedule,
    system,
    template,
    users,
    workflow,
)

"""Declarations of every resource family, by API area. Importing this package registers them."""
from chalicelib.services.catalog import credential, grants, host_source, inventory, job, project, schedule, system, template, users, workflow  # noqa: F401

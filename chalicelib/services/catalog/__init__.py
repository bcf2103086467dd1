"""Declarations of every resource family, by API area. Importing this package registers them."""
from chalicelib.services.catalog import users, system, grants, credential, project, inventory, host_source, template, job  # noqa: F401

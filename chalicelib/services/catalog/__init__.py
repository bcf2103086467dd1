"""Declarations of every resource family, by API area. Importing this package registers them."""
from chalicelib.services.catalog import users, system, grants, inventory  # noqa: F401

"""Imported by the local backend's fork server: the runner's modules and AWS clients, ready
before any job forks (see `chalicelib.local.runners`)."""
from chalicelib.services import host_sources, inventory_render  # noqa: F401
from runner_image import entrypoint
from runner_image.opsgrat_runner import execute, git, sandbox, zone  # noqa: F401

entrypoint.warm_up()

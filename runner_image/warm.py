"""Imported by the local backend's fork server: the runner's modules and AWS clients, ready
before any job forks (see `chalicelib.services.runners`)."""
from runner_image import entrypoint

entrypoint.warm_up()

"""Imported first by the local backend's fork server (before `runner_image.warm`): the runners
are other processes than the stack, so they reach its moto server over HTTP
(`chalicelib.local.moto_server`): it becomes their AWS endpoint before any client is made."""
import os

#: where other processes of the stack (its runners) reach the moto server
ENDPOINT_ENV = "OPSGRAT_LOCAL_ENDPOINT"

if os.environ.get(ENDPOINT_ENV):
    os.environ["AWS_ENDPOINT_URL"] = os.environ[ENDPOINT_ENV]

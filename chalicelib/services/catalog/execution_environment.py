"""Execution environments: what a job's ansible runs in (AWX's execution environments).

On AWS an execution environment names a container `image`: the dispatcher runs the job's runner
in a task definition for that image (a copy of the installation's, registered once per image and
reused: `chalicelib.services.runners`). In the local stack it may name a Python virtualenv
instead (`venv`): the job zone runs ansible with `<venv>/bin/python`. A template (and an ad-hoc
job) names one in `execution_environment`; none means the installation's runner image (locally,
the stack's own Python). A job records the one it ran with.

Using one needs read on it (checked when it is attached and again at every launch). Its image and
venv decide what code runs with the runner's privileges (an image *is* the runner on AWS, with
its task role) or is mounted into every job's sandbox (a venv), so only superusers set them.
"""
from __future__ import annotations

import posixpath

from chalicelib.services.catalog.grants import protect
from chalicelib.services.errors import PermissionDenied, ValidationError
from chalicelib.services.fields import Int, Label, Str
from chalicelib.services.resources import Access, Resource, register

#: AWX's pull policies; ECS on Fargate pulls the image at every task start whatever is chosen
PULL_LABELS = {"always": "Always pull container before running.",
               "missing": "Only pull the image if not present before running.",
               "never": "Never pull container before running."}
#: a container image reference: [registry[:port]/]path[:tag][@sha256:digest] (Docker's grammar, simplified)
IMAGE_PATTERN = (r"(?:[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?(?::[0-9]{1,5})?/)?"
                 r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*"
                 r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(?:@sha256:[a-f0-9]{64})?")
#: the fields that choose what runs (superusers only)
TRUSTED_FIELDS = ("image", "venv")


def normalize_venv(value: str) -> str:
    """An absolute, normalized directory path ("" stays ""); raises a 400 naming `venv`."""
    if not value:
        return ""
    if "\x00" in value or "\n" in value or not value.startswith("/") or ".." in value.split("/"):
        raise ValidationError("venv", f'"{value}" must be an absolute path (starting with /, no ..)')
    path = posixpath.normpath(value)
    if path in ("/", "//"):
        raise ValidationError("venv", "must be the directory of a virtualenv, not /")
    return path


def _validate(change) -> None:
    data = change.data
    data["venv"] = normalize_venv(data.get("venv") or "")
    if not change.principal.is_superuser:
        for name in TRUSTED_FIELDS:
            before = (change.existing or {}).get(name) or ""
            if (data.get(name) or "") != before:
                raise PermissionDenied(f"{name}: only superusers may set an execution environment's {name} "
                                       "(it decides what code runs with the runner)")


EXECUTION_ENVIRONMENTS = register(Resource(
    family="execution_environment", path="/api/system/execution_environment", title="Execution environments",
    description="What a job's ansible runs in: a container image (AWS: the dispatcher runs the job in a task "
                "definition for it, registered once per image) or, in the local stack, a Python virtualenv with "
                "ansible-core and ansible-runner (venv). Templates and ad-hoc jobs name one in "
                "execution_environment (none: the installation's runner image); using one needs read on it. "
                "Only superusers set image and venv.",
    access=Access.protected(),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Name."),
        Str("description", max_length=1024, description="Description."),
        Str("image", max_length=1024, pattern=IMAGE_PATTERN,
            description="Container image for AWS, e.g. 123456789012.dkr.ecr.eu-west-1.amazonaws.com/ee:2.18 "
                        "(pin a digest, @sha256:..., for a reproducible one). It replaces the runner image, so it "
                        "must be built from it. Empty: the installation's runner image. Superusers only."),
        Str("pull", choices=tuple(PULL_LABELS),
            description="Pull policy (always, missing, never; empty: the platform's default). Fargate pulls the "
                        "image at every task start whatever it says; kept for AWX compatibility and EC2 launch types."),
        Str("venv", max_length=1024,
            description="Local stack only: absolute path of a Python virtualenv with ansible-core and ansible-runner "
                        "(its bin/python runs the job's ansible). Refused on AWS. Superusers only."),
        Int("cuser", read_only=True, default=None, description="Creator's user id."),
    ],
    labels=[Label("pull_name", "pull", choices=PULL_LABELS),
            Label("cuser_name", "cuser", family="user", attr="username")],
    search=("name", "description", "image"), filters=("name", "image"), ordering=("name",), unique=(("name",),),
    validate=_validate,
))

EXECUTION_ENVIRONMENT_USERS, EXECUTION_ENVIRONMENT_TEAMS = protect(
    EXECUTION_ENVIRONMENTS, "/api/system/execution_environment/permission/users",
    "/api/system/execution_environment/permission/team")

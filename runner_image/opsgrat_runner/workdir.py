"""A job's directories on the runner's disk, created per job and removed with it.

    <base>/opsgrat-job-<id>-<random>/   the runner's (0711: the job user may pass, not list)
        project/   the project checkout, made by the runner, then handed to the job user
        zone/      the job zone's own directory (job user, 0700): ansible-runner's private data
                   dir, key files, HOME and TMPDIR

`<base>` is the job settings' `workspace` when it is a writable directory, else the system's
temporary directory. The names start with the job id, so that whoever outlives a killed runner
(the local stack's backend) can remove what it left: `remove_job_dirs`.
"""
from __future__ import annotations

import glob
import os
import shutil
import tempfile
from dataclasses import dataclass

PREFIX = "opsgrat-job-"


@dataclass(frozen=True)
class JobDirs:
    root: str

    @property
    def project(self) -> str:
        return os.path.join(self.root, "project")

    @property
    def zone(self) -> str:
        return os.path.join(self.root, "zone")

    @property
    def home(self) -> str:
        return os.path.join(self.zone, "home")


def base(workspace: str | None) -> str:
    if workspace and os.path.isdir(workspace) and os.access(workspace, os.W_OK):
        return workspace
    return tempfile.gettempdir()


def create(job_id: int, workspace: str | None) -> JobDirs:
    """The job's directories, empty; the zone's are for the sandbox to hand over."""
    root = tempfile.mkdtemp(prefix=f"{PREFIX}{job_id}-", dir=base(workspace))
    os.chmod(root, 0o711)
    dirs = JobDirs(root)
    os.mkdir(dirs.project, 0o700)
    os.mkdir(dirs.zone, 0o700)
    os.mkdir(dirs.home, 0o700)
    os.mkdir(os.path.join(dirs.home, "tmp"), 0o700)
    return dirs


def remove(dirs: JobDirs) -> None:
    shutil.rmtree(dirs.root, ignore_errors=True)


def remove_job_dirs(job_id: int, workspace: str | None = None) -> int:
    """Remove every directory a runner of job `job_id` left behind; returns how many."""
    found = set(glob.glob(os.path.join(base(workspace), f"{PREFIX}{job_id}-*")))
    found |= set(glob.glob(os.path.join(tempfile.gettempdir(), f"{PREFIX}{job_id}-*")))
    for path in found:
        shutil.rmtree(path, ignore_errors=True)
    return len(found)

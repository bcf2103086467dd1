"""The runner's ansible-facing core: check out a project, run ansible, redact what it prints.

Data in, data out: nothing here knows DynamoDB, HTTP or AWS, so the same code serves the
container entrypoint, the local-stack subprocess and the tests.
"""
from .execute import STATUSES, HostSummary, RunResult, RunSpec, SpecError, run
from .git import GitError, checkout, find_playbooks
from .keys import PrivateKeyError
from .redact import MASK, Redactor

__all__ = ["GitError", "HostSummary", "MASK", "PrivateKeyError", "Redactor", "RunResult", "RunSpec", "STATUSES",
           "SpecError", "checkout", "find_playbooks", "run"]

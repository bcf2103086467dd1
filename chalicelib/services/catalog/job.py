"""Jobs (spec §2.1), job logs (§2.3) and per-host summaries.

Jobs are created only by `chalicelib.services.launch` (template run, ad-hoc `POST /api/job/job/`,
project and host source syncs, relaunch) and then only change state; they cannot be edited. A job
is visible to whoever launched it (the creator's admin grant), to superusers, and to whoever may
read its template.
"""
from __future__ import annotations

from chalicelib.services.catalog.grants import protect
from chalicelib.services.catalog.template import run_fields, run_labels
from chalicelib.services.fields import Float, Int, Label, Ref, Str, Text
from chalicelib.services.jobs import KIND_LABELS, JobState
from chalicelib.services.resources import Access, Resource, register

STATES = {state.value: state.label for state in JobState}


JOBS = register(Resource(
    family="job", path="/api/job/job", title="Jobs",
    description="Runs of playbooks, ad-hoc commands and syncs. POST creates an ad-hoc command (module + arguments) "
                "or a template-less playbook run; jobs are never edited.",
    access=Access.protected(readable_via=("template", "template")), updatable=False,
    fields=[
        *run_fields(),
        Str("module", max_length=128, description="Ad-hoc module (from /api/system/system/module/)."),
        Text("arguments", max_length=16_384, description="Ad-hoc module arguments."),
        Text("inventory_str", max_length=262_144, description="Inline inventory (host per line) overriding inventory."),
        Ref("template", family="template", read_only=True, description="Template id (null for ad-hoc)."),
        Str("kind", read_only=True, description="job, adhoc, project_update, inventory_update or workflow."),
        Str("state", read_only=True, description="new, waiting, running, successful, failed, canceled."),
        Int("start_time", read_only=True, default=None, description="Epoch seconds."),
        Int("finish_time", read_only=True, default=None, description="Epoch seconds."),
        Str("started", read_only=True, default=None, description="When the runner started it: ISO 8601 UTC, microseconds (as AWX)."),
        Str("finished", read_only=True, default=None, description="When it reached its final state: ISO 8601 UTC, microseconds."),
        Float("elapsed", read_only=True, description="Seconds from started to finished (as AWX)."),
        Int("ctime", read_only=True, default=None, description="Creation time (epoch seconds)."),
        Str("created", read_only=True, default=None, description="Creation time: ISO 8601 UTC, microseconds (as AWX)."),
        Int("cuser", read_only=True, default=None, description="Id of the user who launched it."),
        Str("revision", read_only=True, description="Project revision the job ran."),
        Str("reason", read_only=True, description="Why the job failed or was canceled, when not the playbook's own error."),
        Int("node", read_only=True, default=None, description="Workflow node (workflow child jobs)."),
        Int("job", read_only=True, default=None, description="Parent workflow job."),
        Ref("schedule", family="schedule", read_only=True, description="Schedule that launched it."),
        Int("relaunch_of", read_only=True, default=None, description="The job this one relaunched."),
        Ref("host_source", family="host_source", read_only=True, description="Host source synced (inventory_update)."),
    ],
    labels=[
        *run_labels(),
        Label("template_name", "template", family="template"),
        Label("user", "cuser", family="user", attr="last_name"),
        Label("user_name", "cuser", family="user", attr="username"),
        Label("state_name", "state", choices=STATES),
        Label("kind_name", "kind", choices=KIND_LABELS),
        Label("schedule_name", "schedule", family="schedule"),
    ],
    filters=("template", "inventory", "credential", "state", "kind", "schedule", "project", "job"),
    indexes=("template", "state", "schedule"),
    extra=lambda rec: {"pending_approvals": _pending(rec)}, extra_fields=("pending_approvals",),
))


def _pending(rec: dict) -> list[dict]:
    """A workflow job's approvals waiting for a decision (POST .../approve/ or .../deny/)."""
    if rec.get("kind") != "workflow":
        return []
    from chalicelib.services.workflows.engine import pending_approvals

    return pending_approvals(rec)


def _log_text(rec: dict) -> dict:
    from chalicelib.services import joblogs

    return {"log": joblogs.stdout_text(int(rec["job"]))}


JOB_LOGS = register(Resource(
    family="job_log", path="/api/job/log", title="Job logs",
    description="A job's output as text; readable while the job runs.",
    access=Access.parent("job", "job"), read_only=True,
    fields=[
        Ref("job", family="job", required=True, on_delete="cascade", description="Job id."),
        Int("ctime", read_only=True, default=None, description="Creation time (epoch seconds)."),
    ],
    extra=_log_text, extra_fields=("log",), filters=("job",), indexes=("job",),
))

HOST_SUMMARIES = register(Resource(
    family="job_host_summary", path="/api/job/host_summary", title="Job host summaries",
    description="Per-host totals of one job.",
    access=Access.parent("job", "job"), read_only=True,
    fields=[
        Ref("job", family="job", required=True, on_delete="cascade", description="Job id."),
        Str("host", description="Host name."),
        *[Int(name, default=0) for name in ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")],
    ],
    filters=("job", "host"), ordering=("host",), indexes=("job",),
))

# registered for the permission mechanism (the creator's admin grant); not exposed over HTTP
JOB_USERS, JOB_TEAMS = protect(JOBS, "/api/job/job/permission/users", "/api/job/job/permission/team")

"""Job templates (spec §4.1) and their grants (§4.4, §4.5). Launching needs `execute`."""
from __future__ import annotations

from chalicelib.services import store
from chalicelib.services.catalog.grants import protect
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Bool01, Int, Label, Ref, Str, Yaml
from chalicelib.services.resources import Access, Resource, register

YES_NO = {0: "No", 1: "Yes"}
JOB_TYPES = {"run": "Run", "check": "Check"}
VERBOSITY = {0: "Normal", 1: "Verbose", 2: "More Verbose", 3: "Debug", 4: "Connection Debug"}


def run_options() -> list:
    """The ansible-playbook options shared by templates and jobs (spec §2.1/§4.1)."""
    return [
        Str("job_type", default="run", choices=tuple(JOB_TYPES), blank=False, description="run, or check (dry run)."),
        Ref("inventory", family="inventory", aliases=("inventory_id",), description="Inventory id."),
        Ref("project", family="project", aliases=("project_id",), description="Project id."),
        Str("playbook", max_length=1024, description="Playbook file, relative to the project."),
        Ref("credential", family="credential", aliases=("credential_id",), description="Machine (ssh) credential id."),
        Ref("vault_credential", family="credential", description="Vault credential id."),
        Int("forks", default=0, minimum=0, maximum=500, description="Parallelism; 0 = Ansible's default."),
        Str("limit", max_length=4096, description="ansible --limit."),
        Str("tags", max_length=4096, description="ansible --tags."),
        Str("skip_tags", max_length=4096, description="ansible --skip-tags."),
        Int("verbosity", default=0, choices=tuple(VERBOSITY), description="0 Normal .. 4 Connection Debug."),
        Yaml("variables", description="Extra variables (YAML or JSON mapping)."),
        Bool01("become_enabled", description="Privilege escalation (become)."),
        Bool01("diff_mode", description="--diff."),
        Bool01("force_handlers", description="--force-handlers."),
        Str("start_at_task", max_length=1024, description="--start-at-task."),
    ]


def run_labels() -> list:
    return [
        Label("inventory_name", "inventory", family="inventory"),
        Label("project_name", "project", family="project"),
        Label("credential_name", "credential", family="credential"),
        Label("verbosity_name", "verbosity", choices=VERBOSITY),
        Label("become_enabled_name", "become_enabled", choices=YES_NO),
        Label("diff_mode_name", "diff_mode", choices=YES_NO),
        Label("force_handlers_name", "force_handlers", choices=YES_NO),
    ]


def check_playbook(data: dict, field_name: str = "playbook") -> None:
    """The playbook must be one the project's last sync found (when it has synced)."""
    if not data.get("project") or not data.get(field_name):
        return
    project = store.get("project", data["project"])
    known = (project or {}).get("playbooks") or []
    if known and data[field_name] not in known:
        raise ValidationError(field_name, f'"{data[field_name]}" is not a playbook of project {data["project"]} '
                                          f'(known: {", ".join(known[:20])})')


def _validate(change) -> None:
    data = change.data
    if data.get("template_type", "job") == "job":
        for name in ("project", "playbook"):
            if not data.get(name):
                raise ValidationError(name, "This field is required for a job template.")
    check_playbook(data)


TEMPLATES = register(Resource(
    family="template", path="/api/template/template", title="Templates",
    description="Job templates: what to run (project + playbook), where (inventory) and as whom (credential).",
    access=Access.protected(),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Template name."),
        Str("description", max_length=1024, description="Description."),
        Str("template_type", default="job", choices=("job",), blank=False, description="job."),
        *run_options(),
        Int("cuser", read_only=True, default=None, description="Creator's user id."),
    ],
    labels=[*run_labels(), Label("jobtype_name", "job_type", choices=JOB_TYPES)],
    extra=lambda rec: {"bind_templates": [], "is_bind_templates": "No"},
    extra_fields=("bind_templates", "is_bind_templates"),
    search=("name", "description"), filters=("name", "template_type", "project", "inventory"),
    ordering=("name",), unique=(("name",),), validate=_validate,
))

TEMPLATE_USERS, TEMPLATE_TEAMS = protect(TEMPLATES, "/api/template/template/permission/users",
                                         "/api/template/template/permission/team")

"""Job and workflow templates (spec §4.1), their grants (§4.4, §4.5) and the run options they share
with jobs (and workflow nodes, which override them).

Launching needs `execute` on the template; attaching an inventory, project or credential needs
`execute` ("use") on it, an execution environment `read`."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from chalicelib.services import store
from chalicelib.services.catalog.grants import protect
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Bool01, Field, Int, Label, Ref, RelativePath, Str, Yaml
from chalicelib.services.resources import Access, Resource, register

YES_NO = {0: "No", 1: "Yes"}
JOB_TYPES = {"run": "Run", "check": "Check"}
VERBOSITY = {0: "Normal", 1: "Verbose", 2: "More Verbose", 3: "Debug", 4: "Connection Debug"}


@dataclass(frozen=True)
class RunOption:
    """One ansible-playbook option: a template field, copied onto every job the template starts,
    and handed to the runner. `RUN_OPTIONS` is the one list; the template and job declarations,
    the launch copy and the runner's RunSpec are all derived from it."""

    field: Field
    label: Label | None = None
    #: who launches may set it (the body of POST /api/template/template/run/)
    on_launch: bool = False
    #: the runner's RunSpec attribute it becomes ("" for ids, which the runner resolves itself)
    spec: str = ""

    @property
    def name(self) -> str:
        return self.field.name

    def runner_value(self, job: dict) -> Any:
        """The job's value in the type RunSpec wants (0/1 flags as booleans, "" for unset text)."""
        value = job.get(self.name)
        if isinstance(self.field, Bool01):
            return bool(value)
        if isinstance(self.field, Int):
            return int(value or 0)
        return value or ""


RUN_OPTIONS: tuple[RunOption, ...] = (
    RunOption(Str("job_type", default="run", choices=tuple(JOB_TYPES), blank=False, description="run, or check (dry run)."),
              Label("jobtype_name", "job_type", choices=JOB_TYPES), on_launch=True, spec="job_type"),
    RunOption(Ref("inventory", family="inventory", needs="execute", aliases=("inventory_id",),
                  description="Inventory id; needs execute (use) on it."),
              Label("inventory_name", "inventory", family="inventory")),
    RunOption(Ref("project", family="project", needs="execute", aliases=("project_id",),
                  description="Project id; needs execute (use) on it."),
              Label("project_name", "project", family="project")),
    RunOption(RelativePath("playbook", max_length=1024, description="Playbook file, relative to the project."),
              spec="playbook"),
    RunOption(Ref("credential", family="credential", needs="execute", aliases=("credential_id",),
                  description="Machine (ssh) credential id; needs execute (use) on it."),
              Label("credential_name", "credential", family="credential")),
    RunOption(Ref("vault_credential", family="credential", needs="execute",
                  description="Vault credential id; needs execute (use) on it.")),
    RunOption(Ref("execution_environment", family="execution_environment", aliases=("execution_environment_id",),
                  description="Execution environment id (/api/system/execution_environment/); needs read on it. "
                              "Empty: the installation's runner image."),
              Label("execution_environment_name", "execution_environment", family="execution_environment")),
    RunOption(Int("forks", default=0, minimum=0, maximum=500, description="Parallelism; 0 = Ansible's default."),
              spec="forks"),
    RunOption(Str("limit", max_length=4096, description="ansible --limit."), on_launch=True, spec="limit"),
    RunOption(Str("tags", max_length=4096, description="ansible --tags."), on_launch=True, spec="tags"),
    RunOption(Str("skip_tags", max_length=4096, description="ansible --skip-tags."), on_launch=True, spec="skip_tags"),
    RunOption(Int("verbosity", default=0, choices=tuple(VERBOSITY), description="0 Normal .. 4 Connection Debug."),
              Label("verbosity_name", "verbosity", choices=VERBOSITY), on_launch=True, spec="verbosity"),
    # merged over the template's at launch (not replaced); the runner parses it into extra vars
    RunOption(Yaml("variables", description="Extra variables (YAML or JSON mapping)."), on_launch=True),
    RunOption(Bool01("become_enabled", description="Privilege escalation (become)."),
              Label("become_enabled_name", "become_enabled", choices=YES_NO), spec="become_enabled"),
    RunOption(Bool01("diff_mode", description="--diff."), Label("diff_mode_name", "diff_mode", choices=YES_NO),
              spec="diff_mode"),
    RunOption(Bool01("force_handlers", description="--force-handlers."),
              Label("force_handlers_name", "force_handlers", choices=YES_NO), spec="force_handlers"),
    RunOption(Str("start_at_task", max_length=1024, description="--start-at-task."), spec="start_at_task"),
)


def run_fields() -> list[Field]:
    return [option.field for option in RUN_OPTIONS]


def run_labels() -> list[Label]:
    return [option.label for option in RUN_OPTIONS if option.label is not None]


def check_playbook(data: dict, field_name: str = "playbook") -> None:
    """The playbook must be one the project's last sync found (when it has synced)."""
    if not data.get("project") or not data.get(field_name):
        return
    project = store.get("project", data["project"])
    known = (project or {}).get("playbooks") or []
    if known and data[field_name] not in known:
        raise ValidationError(field_name, f'"{data[field_name]}" is not a playbook of project {data["project"]} '
                                          f'(known: {", ".join(known[:20])})')


TEMPLATE_TYPES = ("job", "workflow")
#: what a job template runs and a workflow template leaves to its nodes' bound templates
WORKFLOW_UNUSED = ("project", "playbook", "credential", "vault_credential", "execution_environment")


def _validate(change) -> None:
    data = change.data
    kind = data.get("template_type") or "job"
    before = (change.existing or {}).get("template_type") or "job"
    if change.existing is not None and kind != before:
        # a workflow's nodes and lines, or the jobs of a job template, mean nothing to the other kind
        raise ValidationError("template_type", f"cannot change from {before} to {kind}; create a new template instead")
    if kind == "workflow":
        for name in WORKFLOW_UNUSED:
            if data.get(name) not in (None, ""):
                raise ValidationError(name, "not used by workflow templates: their nodes bind the templates that run")
        return
    for name in ("project", "playbook"):
        if not data.get(name):
            raise ValidationError(name, "This field is required for a job template.")
    check_playbook(data)


def _after_save(principal, rec: dict, previous: dict | None) -> None:
    """A new workflow starts with its start node, as the UI always drew it (spec §4.8); a renamed
    one gets its state machine under its new name (the AWS console lists workflows by name)."""
    if rec.get("template_type") != "workflow":
        return
    if previous is None:
        from chalicelib.services.catalog import workflow  # it declares the nodes, and imports this module

        workflow.create_start_node(rec)
    elif previous.get("name") != rec.get("name"):
        from chalicelib.services.workflows import machines

        machines.graph_changed(rec["id"])


def _after_delete(principal, rec: dict) -> None:
    """A deleted workflow takes its state machines with it."""
    if rec.get("template_type") == "workflow":
        from chalicelib.services.workflows import machines

        machines.template_deleted(rec)


def _bindings(rec: dict) -> dict[str, Any]:
    """Which workflows bind this template in a node (spec §4.1 `bind_templates`), so that a UI can
    say why deleting it is refused before trying."""
    from chalicelib.services.catalog import workflow

    ids = workflow.binding_workflows(rec["id"])
    return {"bind_templates": ids, "is_bind_templates": YES_NO[1 if ids else 0]}


TEMPLATES = register(Resource(
    family="template", path="/api/template/template", title="Templates",
    description="Job templates (template_type job) run a playbook of a project against an inventory as a credential; "
                "workflow templates (template_type workflow) run a graph of nodes (/api/template/workflow/node/) "
                "joined by lines (/api/template/workflow/line/), shown whole by GET /api/template/template/{id}/workflow/. "
                "A workflow's inventory, limit and variables apply to every node.",
    access=Access.protected(),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Template name."),
        Str("description", max_length=1024, description="Description."),
        Str("template_type", default="job", choices=TEMPLATE_TYPES, blank=False,
            description="job or workflow; cannot change after creation."),
        *run_fields(),
        Int("cuser", read_only=True, default=None, description="Creator's user id."),
    ],
    labels=run_labels(),
    extra=_bindings,
    extra_fields=("bind_templates", "is_bind_templates"),
    search=("name", "description"), filters=("name", "template_type", "project", "inventory"),
    ordering=("name",), unique=(("name",),), validate=_validate, after_save=_after_save, after_delete=_after_delete,
))

TEMPLATE_USERS, TEMPLATE_TEAMS = protect(TEMPLATES, "/api/template/template/permission/users",
                                         "/api/template/template/permission/team")

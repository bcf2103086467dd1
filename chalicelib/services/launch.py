"""The one door through which every job is created: template runs, ad-hoc commands, template-less
playbook runs, project and host source syncs, relaunches (and, as they land, workflow nodes and
schedules).

Whoever asks, a launch is a `JobRequest` passed to `launch()`, which
  1. checks that the launcher may use everything the job will use (`authorize`): `execute` on
     the template, and "use" (`execute`) on every inventory, project, credential and host source
     the job reaches, and `read` on its execution environment, checked now (a grant may have been
     withdrawn since the template was saved);
  2. stores the job (state `new`) and gives the launcher admin on it;
  3. creates its log row and stream and starts one execution of the `RunJob` state machine, which
     hands the job to the dispatch queue and waits for the runner's task token (architecture
     brief, "Flow of one job").

"Use" may come from the launcher's own grant or be vouched for: an object attached to a template
(or project, inventory, host source) records who attached it (`attached_by`), and someone who
may only execute the template runs it with what its editor attached, as long as that editor still
holds use on it. Withdraw the editor's grant and the template stops running with that object.
Vouching covers the template as its editor left it: a run with extra variables of the launcher's
own (they can redirect where a playbook connects) uses only what the launcher may use himself.
"""
from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import yaml

from chalicelib import aws, config
from chalicelib.services import joblogs, jobs, rbac, store
from chalicelib.services.catalog.template import RUN_OPTIONS
from chalicelib.services.errors import PermissionDenied, ValidationError
from chalicelib.services.fields import Ref, Str, load_mapping
from chalicelib.services.jobs import JobKind, JobState
from chalicelib.services.resources import LEVELS, get

#: fields of a job that are not template options: what an ad-hoc command or a sync runs
JOB_ONLY_FIELDS = ("module", "arguments", "inventory_str", "template", "kind", "host_source", "attached_by")
#: what a job copies from its template, and a relaunch from its job
RUN_FIELDS = tuple(option.name for option in RUN_OPTIONS) + JOB_ONLY_FIELDS
#: the job's references to objects it uses, and their families
JOB_REFS = (("inventory", "inventory"), ("project", "project"), ("credential", "credential"),
            ("vault_credential", "credential"), ("host_source", "host_source"))
#: what `POST /api/template/template/run/` may set
ON_LAUNCH = tuple(option.name for option in RUN_OPTIONS if option.on_launch) + ("inventory_str",)
#: seconds the state machine waits beyond job_timeout before it declares the runner lost
TIMEOUT_GRACE = 30
NO_TIMEOUT = 365 * 24 * 3600


@dataclass(frozen=True)
class Use:
    """One object a job uses, and who vouches for its use besides the launcher."""

    field: str
    family: str
    id: int
    #: the user who attached it to the template/project/inventory/source the job comes from
    voucher: int | None = None
    #: the level using it needs: execute ("use"), or read (an execution environment)
    level: str = "execute"


@dataclass
class JobRequest:
    """A job to create: its kind, its fields, and where they came from."""

    kind: JobKind
    fields: dict
    #: the template it runs (the launcher needs execute on it)
    template: dict | None = None
    #: vouchers for the job's own Ref fields (from the template, or the relaunched job)
    attached_by: dict = field(default_factory=dict)
    #: whether vouchers count; None: unless the launch brings variables of its own
    vouch: bool | None = None
    #: the state machine that runs it (a workflow's); None: RunJob
    state_machine: str | None = None
    #: the id to give the job (a workflow records its node's child before launching it)
    job_id: int | None = None


@dataclass(frozen=True)
class Origin:
    """What started a launch other than a user's request: the schedule it stamps on the job
    (`schedule`, shown as `schedule_name`) and the job id it reserved beforehand (a schedule's
    fire reserves one per due time, so that a duplicate delivery finds the job, not a new one)."""

    schedule: int | None = None
    job_id: int | None = None

    def stamp(self) -> dict:
        return {"schedule": self.schedule} if self.schedule is not None else {}


#: a launch a user asked for
BY_REQUEST = Origin()


def state_machine_arn() -> str:
    arn = config.env("OPSGRAT_RUNJOB_ARN")
    if not arn:
        raise RuntimeError("OPSGRAT_RUNJOB_ARN is not set")
    return arn


# ---------------------------------------------------------------- who may use what


def voucher(rec: dict | None, field_name: str) -> int | None:
    """Who attached the record's `field_name` (see the module docstring), or None."""
    return ((rec or {}).get("attached_by") or {}).get(field_name)


def uses(request: JobRequest) -> list[Use]:
    """Every object the job will reach, with its voucher: the job's own refs, and the credentials
    that its project, host source and (when the job has no machine credential of its own) its
    inventory bring along."""
    data = request.fields
    out = [Use(name, family, int(data[name]), request.attached_by.get(name))
           for name, family in JOB_REFS if data.get(name)]
    carried = [("project", ("credential", "vault_credential", "galaxy_credential")), ("host_source", ("credential",))]
    if not data.get("credential") and request.kind in (JobKind.JOB, JobKind.ADHOC):
        carried.append(("inventory", ("credential",)))
    for carrier, refs in carried:
        rec = store.get(carrier, int(data[carrier])) if data.get(carrier) else None
        out.extend(Use(f"{carrier}.{ref}", "credential", int(rec[ref]), voucher(rec, ref))
                   for ref in refs if rec and rec.get(ref))
    if data.get("execution_environment"):  # read on it, the launcher's own (nobody vouches for it)
        out.append(Use("execution_environment", "execution_environment", int(data["execution_environment"]),
                       level="read"))
    return out


def authorize(principal: rbac.Principal, request: JobRequest) -> None:
    """403 unless the launcher may start this job (see the module docstring)."""
    if request.template is not None:
        rbac.require(principal, get("template"), request.template, "execute")
    environment = request.fields.get("execution_environment")
    if environment and store.get("execution_environment", int(environment)) is None:  # deleted since it was attached
        raise ValidationError("execution_environment", f"no execution_environment with id {environment}")
    if principal.is_superuser:
        return
    if request.fields.get("inventory_str"):
        raise PermissionDenied("inventory_str: only superusers may run against an inline inventory; "
                               "use an inventory you may execute")
    principals: dict[int, rbac.Principal | None] = {principal.id: principal}
    vouched = not _own_variables(request) if request.vouch is None else request.vouch
    for use in uses(request):
        if not _may_use(principals, principal.id, use) and not (vouched and _may_use(principals, use.voucher, use)):
            why = "" if vouched else " (with launch-time variables, nobody vouches for you)"
            need = "execute (use)" if use.level == "execute" else use.level
            raise PermissionDenied(f"{use.field}: you need {need} permission on {use.family} {use.id}{why}")


def _own_variables(request: JobRequest) -> bool:
    """True when a template's job runs with extra variables other than the template's own.

    Variables can point a playbook's connections elsewhere (`ansible_host`, `ansible_ssh_common_args`)
    and so hand a credential to whoever set them; an editor vouches for the template as it is,
    not for what its launchers add, so such a run uses only what the launcher may use himself."""
    if request.template is None:
        return False
    return load_mapping(request.fields.get("variables") or "", "variables") \
        != load_mapping(request.template.get("variables") or "", "variables")


def _may_use(principals: dict[int, rbac.Principal | None], user_id: int | None, use: Use) -> bool:
    if user_id is None:
        return False
    if user_id not in principals:
        user = store.get("user", int(user_id))
        principals[user_id] = rbac.Principal(user) if user and user.get("active", 1) else None
    who = principals[user_id]
    if who is None:
        return False
    rec = store.get(use.family, use.id)
    if rec is None:
        raise ValidationError(use.field, f"no {use.family} with id {use.id}")
    return rbac.record_level(who, get(use.family), rec) >= LEVELS[use.level]


# ---------------------------------------------------------------- the door


def launch(principal: rbac.Principal, request: JobRequest) -> dict:
    """Authorize, store and start one job; returns the stored job.

    The job and its log row are stored in one transaction, with the ARN of the execution that
    will run it (known before it starts: so no write of ours races the dispatcher, which may
    claim the job as soon as the execution exists); the log stream is created meanwhile. Launch
    latency is what a user waits for on every run."""
    authorize(principal, request)
    machine = request.state_machine or state_machine_arn()
    job_id = request.job_id or store.next_id("job")
    name = f"job-{job_id}-{uuid.uuid4().hex[:8]}"
    moment = time.time()
    now = int(moment)
    data = {**request.fields, "id": job_id, "kind": request.kind, "state": JobState.NEW, "ctime": now,
            "created": jobs.iso(moment),
            "cuser": principal.id, "attached_by": dict(request.attached_by),
            "execution_arn": machine.replace(":stateMachine:", ":execution:", 1) + ":" + name}
    if request.kind == JobKind.WORKFLOW:
        jobs.running(data)  # its execution is its runner: it runs from the start
    with ThreadPoolExecutor(max_workers=2) as pool:  # the settings are read meanwhile
        stream = pool.submit(joblogs.create_stream, job_id)
        reading = pool.submit(jobs.settings)
        job, _ = store.create_many([(get("job"), data), (get("job_log"), {"job": job_id, "ctime": now})])
        rbac.grant_creator_admin(principal, "job", job_id)
        stream.result()
        job_settings = reading.result()
    if request.kind == JobKind.WORKFLOW:
        jobs.announce(job, "started")
        execution_input = {"workflow_job": job_id}
    else:
        timeout = int(job_settings.get("job_timeout") or 0)
        execution_input = {"job_id": job_id, "timeout": timeout + TIMEOUT_GRACE if timeout else NO_TIMEOUT,
                           "heartbeat": jobs.heartbeat_seconds()}
    aws.client("stepfunctions").start_execution(stateMachineArn=machine, name=name, input=json.dumps(execution_input))
    _record_launch(principal, request, job)
    return job


#: what a launch's activity entry shows of the job (never its variables, which may hold anything)
_LAUNCH_SHOWN = ("kind", "template", "inventory", "project", "host_source", "playbook", "module", "limit",
                 "job_type", "schedule", "relaunch_of")


def _job_name(job: dict, template: dict | None) -> str:
    """What an activity entry calls a job: its template's name, else its playbook, module or kind."""
    return (template or {}).get("name") or job.get("playbook") or job.get("module") or str(job.get("kind") or "job")


def _record_launch(principal: rbac.Principal, request: JobRequest, job: dict) -> None:
    """The activity entry of a launch (`relaunch` when it reruns a job), for the user who asked
    or whose schedule fired (`schedule` in its changes). A workflow's node jobs are part of the
    workflow's launch, not launches of their own."""
    from chalicelib.services import activity

    if job.get("node") is not None:
        return
    action = activity.Action.RELAUNCH if job.get("relaunch_of") else activity.Action.LAUNCH
    activity.record(principal, action, "job", job["id"], _job_name(job, request.template),
                    {k: job[k] for k in _LAUNCH_SHOWN if job.get(k) not in (None, "")})


# ---------------------------------------------------------------- the kinds of launch


def merge_variables(base: str, override) -> str:
    """Template extra vars updated by the launch's (both YAML mappings); errors name `variables`."""
    if override in (None, ""):
        return base or ""
    merged = {**load_mapping(base or "", "variables"),
              **(override if isinstance(override, dict) else load_mapping(str(override), "variables"))}
    return yaml.safe_dump(merged, default_flow_style=False, sort_keys=False)


#: how `POST /api/template/template/run/` names the template: strictly, as every field parses
#: (`true` or 1.5 is no id; "1" from a form is)
TEMPLATE_ID = Ref("id", family="template", description="Template id.")
TEMPLATE_NAME = Str("name", max_length=512, description="Template name (when no id is given).")


def find_template(payload: dict) -> dict:
    templates = get("template")
    template_id = TEMPLATE_ID.parse(payload.get("id"))
    name = TEMPLATE_NAME.parse(payload.get("name"))
    if template_id is None and name:
        template_id = store.find_unique(templates, {"name": name})
        if template_id is None:
            raise ValidationError("name", f'no template named "{name}"')
    elif template_id is None:
        raise ValidationError("id", "Give the template's id or name.")
    template = store.get("template", template_id)
    if template is None:
        raise ValidationError("id", f"no template with id {template_id}")
    return template


def launch_template(principal: rbac.Principal, payload: dict, origin: Origin = BY_REQUEST) -> dict:
    """`POST /api/template/template/run/` (and a schedule's fire, with its `origin`): the
    template's options, with the launch's overrides."""
    template = find_template(payload)
    if template.get("template_type") == "workflow":
        from chalicelib.services.workflows import engine

        return engine.launch_workflow(principal, template, payload, origin=origin)
    data = {name: template.get(name) for name in RUN_FIELDS if name in template}
    data.update(template=template["id"], module="", arguments="", **origin.stamp())
    job_fields = get("job").by_name
    for name in ON_LAUNCH:
        if name in payload:
            data[name] = job_fields[name].parse(payload[name])
    data["variables"] = merge_variables(template.get("variables", ""), data.get("variables") if "variables" in payload else None)
    if not data.get("project") or not data.get("playbook"):
        raise ValidationError("project", "the template has no project and playbook to run")
    if not data.get("inventory") and not data.get("inventory_str"):
        raise ValidationError("inventory", "the template has no inventory; give one, or an inventory_str")
    return launch(principal, JobRequest(JobKind.JOB, data, template=template,
                                        attached_by=dict(template.get("attached_by") or {}), job_id=origin.job_id))


def launch_command(principal: rbac.Principal, data: dict) -> dict:
    """`POST /api/job/job/`: an ad-hoc command (module + arguments) or a template-less playbook run.

    `data` holds the job's fields as parsed by the job declaration; the objects it names are used
    on the launcher's own permissions (nothing vouches for them), what they bring along (the
    inventory's login, the project's credentials) on their attachers' as for any launch."""
    if data.get("module"):
        modules = get("module")
        if store.find_unique(modules, {"name": data["module"]}) is None:
            raise ValidationError("module", f'"{data["module"]}" is not in the modules list (/api/system/system/module/)')
        kind = JobKind.ADHOC
        data["playbook"] = ""
    elif data.get("project") and data.get("playbook"):
        kind = JobKind.JOB
    else:
        raise ValidationError("module", "Give a module (ad-hoc command) or a project and playbook.")
    if not data.get("inventory") and not data.get("inventory_str"):
        raise ValidationError("inventory", "Give an inventory or an inventory_str.")
    return launch(principal, JobRequest(kind, data))


def launch_sync(principal: rbac.Principal, kind: JobKind, record_id, relaunch_of: int | None = None) -> dict:
    """A project sync (`project_update`, needs execute on the project) or a host source sync
    (`inventory_update`, needs write on the source: it rewrites the inventory's hosts);
    `relaunch_of`: the sync job this one runs again."""
    from chalicelib.services import crud

    family = "project" if kind == JobKind.PROJECT_UPDATE else "host_source"
    resource = get(family)
    rec = crud.load(resource, record_id)
    rbac.require(principal, resource, rec, "execute" if family == "project" else "write")
    data = {"job_type": "run", "verbosity": 0, "forks": 0}
    if relaunch_of is not None:
        data["relaunch_of"] = int(relaunch_of)
    if family == "project":
        data["project"] = rec["id"]
        return launch(principal, JobRequest(kind, data))
    data.update(host_source=rec["id"], inventory=rec.get("inventory"), project=rec.get("project"))
    return launch(principal, JobRequest(kind, data, attached_by={"project": voucher(rec, "project")}))


def relaunch(principal: rbac.Principal, job_id, hosts: str = "all", start=None) -> dict:
    """Run a job again with the options it ran with; `failed` limits it to the hosts that failed.
    A workflow job is resumed (`start` = "failed") or re-run from a node (`start` = its id)."""
    from chalicelib.services import crud

    job = crud.load(get("job"), job_id)
    rbac.require(principal, get("job"), job, "read")
    if hosts not in ("all", "failed"):
        raise ValidationError("hosts", 'must be "all" or "failed"')
    if job.get("kind") == JobKind.WORKFLOW:
        from chalicelib.services.workflows import engine

        return engine.relaunch(principal, job, hosts, start)
    if start is not None:
        raise ValidationError("from", "only a workflow job can be resumed or re-run from a node")
    template = store.get("template", job["template"]) if job.get("template") else None
    if job.get("template") and template is None and not principal.is_superuser:
        # relaunching needs execute on the template, which nobody holds once it is deleted
        raise PermissionDenied(f"template: template {job['template']} was deleted; only superusers may relaunch its jobs")
    data = {name: job.get(name) for name in RUN_FIELDS if name in job}
    data["relaunch_of"] = job["id"]
    if hosts == "failed":
        if job.get("state") not in jobs.FINAL:
            raise ValidationError("hosts", "the job has not finished yet")
        summaries = store.scan_index(get("job_host_summary"), "job", job["id"])
        failed = sorted({s["host"] for s in summaries if s.get("failures") or s.get("unreachable")})
        if not failed:
            raise ValidationError("hosts", "no host failed in this job")
        data["limit"] = ",".join(failed)
    kind = JobKind(job.get("kind") or JobKind.JOB)
    if kind in (JobKind.PROJECT_UPDATE, JobKind.INVENTORY_UPDATE):  # a sync again: of the record as it is now
        return launch_sync(principal, kind, job.get("project") if kind == JobKind.PROJECT_UPDATE else job.get("host_source"),
                           relaunch_of=job["id"])
    return launch(principal, JobRequest(kind, data, template=template, attached_by=dict(job.get("attached_by") or {})))


def cancel(principal: rbac.Principal, job_id) -> dict:
    """Ask the runner to stop; a job that has no runner yet is canceled at once."""
    from chalicelib.services import crud

    resource = get("job")
    job = crud.load(resource, job_id)
    rbac.require(principal, resource, job, "write")
    if job.get("state") in jobs.FINAL:
        raise ValidationError(None, f"job {job['id']} has already finished ({job['state']})")
    stop(job)
    from chalicelib.services import activity

    template = store.get("template", int(job["template"])) if job.get("template") else None
    activity.record(principal, activity.Action.CANCEL, "job", job["id"], _job_name(job, template))
    return crud.serialize(resource, store.get("job", int(job_id)))


def stop(job: dict) -> None:
    """End a job whoever asks (a user's cancel, its workflow's): no permission check here."""
    from chalicelib.services import runners

    if job.get("kind") == JobKind.WORKFLOW:
        from chalicelib.services.workflows import engine

        engine.cancel(job)
        return
    job = jobs.mutate(job["id"], lambda j: j.update(cancel_requested=1))
    if job and job.get("state") in (JobState.NEW, JobState.WAITING) and not job.get("runner_id"):
        job = jobs.finish(job["id"], JobState.CANCELED, "canceled before it started") or job
        if job.get("execution_arn"):
            try:
                aws.client("stepfunctions").stop_execution(executionArn=job["execution_arn"], cause="canceled")
            except Exception:  # noqa: BLE001 - the execution may have ended already
                pass
    elif job and job.get("runner_id"):
        runners.cancel(job["runner_id"])

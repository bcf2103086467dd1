"""Starting, relaunching and canceling jobs.

Every kind of job takes the same path: a job record (state `new`), its log row and log stream,
then one execution of the `RunJob` state machine, which hands the job to the dispatch queue and
waits for the runner's task token (architecture brief, "Flow of one job").
"""
from __future__ import annotations

import json
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import yaml

from chalicelib import aws, config
from chalicelib.services import jobs, joblogs, rbac, store
from chalicelib.services.errors import PermissionDenied, ValidationError
from chalicelib.services.fields import Ref, Str, load_mapping
from chalicelib.services.resources import LEVELS, get

#: fields a job copies from its template (and a relaunch from its job)
RUN_FIELDS = ("job_type", "inventory", "project", "playbook", "credential", "vault_credential", "forks", "limit",
              "tags", "skip_tags", "verbosity", "variables", "become_enabled", "diff_mode", "force_handlers",
              "start_at_task", "module", "arguments", "inventory_str", "template", "kind", "host_source")
#: what `POST /api/template/template/run/` may override
OVERRIDES = ("variables", "inventory_str", "limit", "tags", "skip_tags", "job_type", "verbosity")
#: seconds the state machine waits beyond job_timeout before it declares the runner lost
TIMEOUT_GRACE = 30
NO_TIMEOUT = 365 * 24 * 3600


def state_machine_arn() -> str:
    arn = config.env("OPSGRAT_RUNJOB_ARN")
    if not arn:
        raise RuntimeError("OPSGRAT_RUNJOB_ARN is not set")
    return arn


def start(job: dict) -> dict:
    """Create the job's log row and stream, record its execution, then start the RunJob execution.

    The four steps before the start are independent round trips, made side by side: launch
    latency is what a user waits for on every run.
    """
    machine = state_machine_arn()
    name = f"job-{job['id']}-{uuid.uuid4().hex[:8]}"
    # The execution's ARN is known before it starts; recording it first means no write of ours
    # races the dispatcher, which may claim the job as soon as the execution exists.
    arn = machine.replace(":stateMachine:", ":execution:", 1) + ":" + name
    with ThreadPoolExecutor(max_workers=3) as pool:  # the settings are read meanwhile
        steps = [pool.submit(store.create, get("job_log"), {"job": job["id"], "ctime": int(time.time())}),
                 pool.submit(joblogs.create_stream, job["id"]),
                 pool.submit(jobs.mutate, job["id"], lambda j: j.update(execution_arn=arn), current=job)]
        job_settings = jobs.settings()
        job = [step.result() for step in steps][-1] or job
    timeout = int(job_settings.get("job_timeout") or 0)
    execution_input = {"job_id": job["id"], "timeout": timeout + TIMEOUT_GRACE if timeout else NO_TIMEOUT,
                       "heartbeat": jobs.heartbeat_seconds()}
    aws.client("stepfunctions").start_execution(stateMachineArn=machine, name=name, input=json.dumps(execution_input))
    return job


def create_job(principal: rbac.Principal, data: dict) -> dict:
    """Store a new job launched by `principal`, give them admin on it, and start it."""
    data = {**data, "state": "new", "ctime": int(time.time()), "cuser": principal.id}
    job = store.create(get("job"), data)
    rbac.grant_creator_admin(principal, "job", job["id"])
    return start(job)


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


def launch_template(principal: rbac.Principal, payload: dict) -> dict:
    template = find_template(payload)
    rbac.require(principal, get("template"), template, "execute")
    data = {name: template.get(name) for name in RUN_FIELDS if name in template}
    data.update(template=template["id"], kind="job", module="", arguments="")
    job_fields = get("job").by_name
    for name in OVERRIDES:
        if name in payload:
            data[name] = job_fields[name].parse(payload[name])
    data["variables"] = merge_variables(template.get("variables", ""), data.get("variables") if "variables" in payload else None)
    if not data.get("project") or not data.get("playbook"):
        raise ValidationError("project", "the template has no project and playbook to run")
    if not data.get("inventory") and not data.get("inventory_str"):
        raise ValidationError("inventory", "the template has no inventory; give one, or an inventory_str")
    return create_job(principal, data)


def launch_sync(principal: rbac.Principal, kind: str, family: str, record_id, **extra) -> dict:
    """A project sync (`project_update`) or host source sync (`inventory_update`) job."""
    resource = get(family)
    from chalicelib.services import crud

    rec = crud.load(resource, record_id)
    rbac.require(principal, resource, rec, "write" if family == "host_source" else "execute")
    data = {"kind": kind, "job_type": "run", "verbosity": 0, "forks": 0, **extra}
    if family == "project":
        data["project"] = rec["id"]
    else:
        data.update(host_source=rec["id"], inventory=rec.get("inventory"), project=rec.get("project"))
    return create_job(principal, data)


def relaunch(principal: rbac.Principal, job_id, hosts: str = "all") -> dict:
    from chalicelib.services import crud

    job = crud.load(get("job"), job_id)
    rbac.require(principal, get("job"), job, "read")
    if hosts not in ("all", "failed"):
        raise ValidationError("hosts", 'must be "all" or "failed"')
    if job.get("template"):
        template = store.get("template", job["template"])
        if template is not None:
            rbac.require(principal, get("template"), template, "execute")
    elif job.get("inventory") and not principal.is_superuser:
        inventory = store.get("inventory", job["inventory"])
        if inventory is None or rbac.record_level(principal, get("inventory"), inventory) < LEVELS["execute"]:
            raise PermissionDenied("You need execute permission on the job's inventory.")
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
    return create_job(principal, data)


def cancel(principal: rbac.Principal, job_id) -> dict:
    """Ask the runner to stop; a job that has no runner yet is canceled at once."""
    from chalicelib.services import crud

    resource = get("job")
    job = crud.load(resource, job_id)
    rbac.require(principal, resource, job, "write")
    if job.get("state") in jobs.FINAL:
        raise ValidationError(None, f"job {job['id']} has already finished ({job['state']})")
    job = jobs.mutate(job["id"], lambda j: j.update(cancel_requested=1))
    if job and job.get("state") in ("new", "waiting") and not job.get("runner_id"):
        job = jobs.finish(job["id"], "canceled", "canceled before it started") or job
        if job.get("execution_arn"):
            try:
                aws.client("stepfunctions").stop_execution(executionArn=job["execution_arn"], cause="canceled")
            except Exception:  # noqa: BLE001 - the execution may have ended already
                pass
    return crud.serialize(resource, store.get("job", int(job_id)))

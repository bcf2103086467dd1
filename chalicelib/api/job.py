"""`/api/job/...`: jobs, job logs, and the job actions AWX users expect (cancel, relaunch,
stdout, events, host summaries)."""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import endpoint, page, parse_body, query_params
from chalicelib.api.openapi import page_of, paging_params, ref
from chalicelib.api.resources import expose
from chalicelib.services import crud, joblogs, launch, rbac, store
from chalicelib.services.catalog import job as job_catalog
from chalicelib.services.catalog import notification as notification_catalog
from chalicelib.services.catalog import schedule as schedule_catalog
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Bool01, Int, Str
from chalicelib.services.schedules import preview

bp = Blueprint(__name__)



def _launch(request, principal):
    """POST on the jobs collection: an ad-hoc command or a template-less playbook run."""
    data = crud.clean(principal, job_catalog.JOBS, parse_body(request))
    return crud.serialize(job_catalog.JOBS, launch.launch_command(principal, data)), 201


expose(bp, job_catalog.JOBS, create=_launch)
expose(bp, job_catalog.JOB_LOGS)
for _resource in (schedule_catalog.SCHEDULES, schedule_catalog.SCHEDULE_USERS, schedule_catalog.SCHEDULE_TEAMS):
    expose(bp, _resource)


def _readable_job(principal, job_id) -> dict:
    job = crud.load(job_catalog.JOBS, job_id)
    rbac.require(principal, job_catalog.JOBS, job, "read")
    return job


def _cancel(request, principal, id):
    return launch.cancel(principal, id), 202


def _relaunch(request, principal, id):
    body = parse_body(request)
    hosts = body.get("hosts", "all")
    if not isinstance(hosts, str):
        raise ValidationError("hosts", 'must be "all" or "failed"')
    job = launch.relaunch(principal, id, hosts, body.get("from"))  # `from` is checked where it is used
    return crud.serialize(job_catalog.JOBS, job), 201


def _decide(approve: bool):
    def decide(request, principal, id):
        from chalicelib.services.workflows import engine

        return engine.decide_approval(principal, id, approve, parse_body(request).get("node")), 200
    return decide


def _workflow(request, principal, id):
    from chalicelib.services.workflows import engine

    job = _readable_job(principal, id)
    if job.get("kind") != "workflow":
        raise ValidationError(None, f"job {job['id']} is not a workflow job")
    return engine.view(job), 200


_FORMAT = Str("format", choices=("txt", "ansi", "json"), blank=False, default="txt",
              description="txt (plain text, the default), ansi (with colours) or json.")
_DOWNLOAD = Bool01("download", description="1: answer as an attachment (Content-Disposition).")


def _stdout(request, principal, id):
    job = _readable_job(principal, id)
    params = query_params(request)
    fmt = _FORMAT.parse(params.get("format"))
    download = _DOWNLOAD.parse(params.get("download"))
    ansi = joblogs.stdout_ansi(job["id"])
    headers = {}
    if download:
        ext = {"txt": "txt", "ansi": "ansi.txt", "json": "json"}[fmt]
        headers["Content-Disposition"] = f'attachment; filename="job_{job["id"]}.{ext}"'
    if fmt == "json":
        return Response(body={"id": job["id"], "state": job.get("state"), "content": joblogs.strip_ansi(ansi)},
                        status_code=200, headers={"Content-Type": "application/json", **headers})
    text = ansi if fmt == "ansi" else joblogs.strip_ansi(ansi)
    return Response(body=text, status_code=200, headers={"Content-Type": "text/plain; charset=utf-8", **headers})


_COUNTER_GT = Int("counter__gt", default=None, description="Only events whose counter is greater.")


def _events(request, principal, id):
    job = _readable_job(principal, id)
    params = query_params(request)
    q = crud.parse_list_query(job_catalog.JOBS, {k: v for k, v in params.items() if k in ("offset", "limit")})
    after = _COUNTER_GT.parse(params.get("counter__gt"))
    rows = sorted(joblogs.events(job["id"]), key=lambda e: e.get("counter", 0))
    if after is not None:
        rows = [e for e in rows if e.get("counter", 0) > after]
    return page(request, len(rows), q.offset, q.limit, rows[q.offset:q.offset + q.limit]), 200


def _notifications(request, principal, id):
    job = _readable_job(principal, id)
    rows = sorted(store.scan_index(notification_catalog.DELIVERIES, "job", job["id"]), key=lambda r: r["id"])
    results = crud.serialize_many(notification_catalog.DELIVERIES, rows)
    return {"count": len(results), "next": None, "previous": None, "results": results}, 200


def _host_summaries(request, principal, id):
    job = _readable_job(principal, id)
    rows = sorted(store.scan_index(job_catalog.HOST_SUMMARIES, "job", job["id"]), key=lambda r: r.get("host", ""))
    results = crud.serialize_many(job_catalog.HOST_SUMMARIES, rows)
    return {"count": len(results), "next": None, "previous": None, "results": results}, 200


_JOB = ref(job_catalog.JOBS)
_EVENT = {"type": "object", "description": "One ansible-runner event: counter, event, host, task, changed, "
                                           "failed, stdout and the event's data.",
          "properties": {"counter": {"type": "integer"}, "event": {"type": "string"}}}

endpoint(bp, "/api/job/job/{id}/cancel", {"POST": _cancel}, tag="job",
         docs={"POST": {"summary": "Cancel a job: the runner stops ansible; state becomes canceled", "status": 202,
                        "response": _JOB, "description": "Cancel requested; the job as it is now"}})
endpoint(bp, "/api/job/job/{id}/relaunch", {"POST": _relaunch}, tag="job",
         docs={"POST": {"summary": 'Run a job again: {"hosts": "all"|"failed"}; a workflow job also {"from": "failed"|<node id>}',
                        "status": 201, "response": _JOB, "description": "The new job",
                        "request": {"type": "object", "properties": {
                            "hosts": {"type": "string", "enum": ["all", "failed"]},
                            "from": {"oneOf": [{"type": "string", "enum": ["failed"]}, {"type": "integer"}],
                                     "description": "Workflow jobs: resume (failed) or re-run from a node."}}}}})
_APPROVAL_BODY = {"type": "object", "properties": {"node": {"type": "integer", "description": "The approval node (needed when several wait)."}}}
for _verb, _approve in (("approve", True), ("deny", False)):
    endpoint(bp, f"/api/job/job/{{id}}/{_verb}", {"POST": _decide(_approve)}, tag="job",
             docs={"POST": {"summary": f"{_verb.capitalize()} a workflow job's pending approval (needs execute on the workflow)",
                            "request": _APPROVAL_BODY, "response": _JOB, "description": "The workflow job"}})
_NODE_RUN = {"type": "object", "properties": {
    "id": {"type": "integer"}, "name": {"type": ["string", "null"]}, "type": {"type": "string"},
    "is_start_node": {"type": "integer"}, "top": {"type": ["integer", "null"]}, "left": {"type": ["integer", "null"]},
    "state": {"type": ["string", "null"], "description": "A job state, skipped, pending (approval), or null (not reached)."},
    "job": {"type": ["integer", "null"]}, "started": {"type": ["string", "null"]}, "finished": {"type": ["string", "null"]},
    "reused": {"type": "boolean"}, "reason": {"type": "string"}, "expires": {"type": ["integer", "null"]}}}
_WORKFLOW_RUN = {"type": "object", "properties": {
    "id": {"type": "integer"}, "template": {"type": ["integer", "null"]}, "state": {"type": ["string", "null"]},
    "nodes": {"type": "array", "items": _NODE_RUN},
    "lines": {"type": "array", "items": {"type": "object", "properties": {
        "id": {"type": "integer"}, "node": {"type": "integer"}, "next_node": {"type": "integer"},
        "result": {"type": "array", "items": {"type": "string"}}, "taken": {"type": "boolean"}}}},
    "levels": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}}},
    "pending_approvals": {"type": "array", "items": {"type": "object"}}}}
endpoint(bp, "/api/job/job/{id}/workflow", {"GET": _workflow}, tag="job",
         docs={"GET": {"summary": "A workflow job's graph as it ran: each node's state, job and times, the lines taken",
                       "response": _WORKFLOW_RUN}})
endpoint(bp, "/api/job/job/{id}/stdout", {"GET": _stdout}, tag="job",
         docs={"GET": {"summary": "Job output: ?format=txt|ansi|json, &download=1 for a file",
                       "content": {"text/plain": {"schema": {"type": "string"}},
                                   "application/json": {"schema": {
                                       "type": "object", "required": ["id", "state", "content"],
                                       "properties": {"id": {"type": "integer"}, "state": {"type": ["string", "null"]},
                                                      "content": {"type": "string"}}}}},
                       "description": "text/plain for txt and ansi, application/json for json",
                       "query": [_FORMAT, _DOWNLOAD]}})
endpoint(bp, "/api/job/job/{id}/events", {"GET": _events}, tag="job",
         docs={"GET": {"summary": "Structured ansible events, ordered by counter (offset/limit, counter__gt)",
                       "response": page_of(_EVENT), "query": [*paging_params(), _COUNTER_GT]}})
endpoint(bp, "/api/job/job/{id}/notifications", {"GET": _notifications}, tag="job",
         docs={"GET": {"summary": "Every attempt to send the job's notifications: channel, target, result, time, error",
                       "response": page_of(ref(notification_catalog.DELIVERIES))}})
endpoint(bp, "/api/job/job/{id}/host_summaries", {"GET": _host_summaries}, tag="job",
         docs={"GET": {"summary": "Per-host totals: ok, changed, failures, unreachable, skipped, rescued, ignored",
                       "response": page_of(ref(job_catalog.HOST_SUMMARIES))}})


def _preview_saved(request, principal, id):
    return preview.of_record(principal, id, query_params(request).get("count")), 200


def _preview_unsaved(request, principal):
    return preview.of_fields(parse_body(request), query_params(request).get("count")), 200


_RUN_TIME = {"type": "object", "required": ["time", "local", "utc", "shifted"], "properties": {
    "time": {"type": "integer", "description": "Epoch seconds."},
    "local": {"type": "string", "description": "ISO 8601 in the schedule's time zone, with its offset."},
    "utc": {"type": "string", "description": "ISO 8601 in UTC."},
    "shifted": {"type": "boolean", "description": "The wall time did not exist (daylight saving): it runs this much later."}}}
_PREVIEW = {"type": "object", "required": ["type", "timezone", "eventbridge", "count", "results"], "properties": {
    "schedule": {"type": ["integer", "null"]}, "type": {"type": "string"}, "timezone": {"type": "string"},
    "cron": {"type": ["string", "null"]},
    "eventbridge": {"type": "object", "description": "The EventBridge Scheduler expression and time zone it becomes.",
                    "properties": {"expression": {"type": "string"}, "timezone": {"type": "string"}}},
    "count": {"type": "integer"}, "results": {"type": "array", "items": _RUN_TIME}}}
_RULE_BODY = {"type": "object", "properties": {f.name: f.openapi(request=True) for f in schedule_catalog.RULE_FIELDS},
              "description": "The timing fields of a schedule (as POST /api/job/schedule/ takes them); nothing is saved."}

endpoint(bp, "/api/job/schedule/preview", {"POST": _preview_unsaved}, tag="job",
         docs={"POST": {"summary": "The next runs of an unsaved schedule: its fields are checked as a save checks them",
                        "request": _RULE_BODY, "response": _PREVIEW, "query": [preview.COUNT]}})
endpoint(bp, "/api/job/schedule/{id}/preview", {"GET": _preview_saved}, tag="job",
         docs={"GET": {"summary": "The next runs of a schedule, in its time zone and in UTC (?count=1..100, default 10)",
                       "response": _PREVIEW, "query": [preview.COUNT]}})

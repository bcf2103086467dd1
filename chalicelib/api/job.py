"""`/api/job/...`: jobs, job logs, and the job actions AWX users expect (cancel, relaunch,
stdout, events, host summaries)."""
from __future__ import annotations

from chalice import Blueprint, Response

from chalicelib.api.http import endpoint, page, parse_body, query_params
from chalicelib.api.resources import expose
from chalicelib.services import crud, joblogs, launch, rbac, store
from chalicelib.services.catalog import job as job_catalog
from chalicelib.services.errors import ValidationError

bp = Blueprint(__name__)



def _launch(request, principal):
    """POST on the jobs collection: an ad-hoc command or a template-less playbook run."""
    data = crud.clean(principal, job_catalog.JOBS, parse_body(request))
    return crud.serialize(job_catalog.JOBS, launch.launch_command(principal, data)), 201


expose(bp, job_catalog.JOBS, create=_launch)
expose(bp, job_catalog.JOB_LOGS)


def _readable_job(principal, job_id) -> dict:
    job = crud.load(job_catalog.JOBS, job_id)
    rbac.require(principal, job_catalog.JOBS, job, "read")
    return job


def _cancel(request, principal, id):
    return launch.cancel(principal, id), 202


def _relaunch(request, principal, id):
    body = parse_body(request)
    job = launch.relaunch(principal, id, str(body.get("hosts") or "all"))
    return crud.serialize(job_catalog.JOBS, job), 201


def _stdout(request, principal, id):
    job = _readable_job(principal, id)
    params = query_params(request)
    fmt = params.get("format", "txt")
    if fmt not in ("txt", "ansi", "json"):
        raise ValidationError("format", "must be txt, ansi or json")
    ansi = joblogs.stdout_ansi(job["id"])
    headers = {}
    if params.get("download") in ("1", "true"):
        ext = {"txt": "txt", "ansi": "ansi.txt", "json": "json"}[fmt]
        headers["Content-Disposition"] = f'attachment; filename="job_{job["id"]}.{ext}"'
    if fmt == "json":
        return Response(body={"id": job["id"], "state": job.get("state"), "content": joblogs.strip_ansi(ansi)},
                        status_code=200, headers={"Content-Type": "application/json", **headers})
    text = ansi if fmt == "ansi" else joblogs.strip_ansi(ansi)
    return Response(body=text, status_code=200, headers={"Content-Type": "text/plain; charset=utf-8", **headers})


def _events(request, principal, id):
    job = _readable_job(principal, id)
    params = query_params(request)
    q = crud.parse_list_query(job_catalog.JOBS, {k: v for k, v in params.items() if k in ("offset", "limit")})
    after = params.get("counter__gt")
    rows = sorted(joblogs.events(job["id"]), key=lambda e: e.get("counter", 0))
    if after not in (None, ""):
        if not after.lstrip("-").isdigit():
            raise ValidationError("counter__gt", "A valid integer is required.")
        rows = [e for e in rows if e.get("counter", 0) > int(after)]
    return page(request, len(rows), q.offset, q.limit, rows[q.offset:q.offset + q.limit]), 200


def _host_summaries(request, principal, id):
    job = _readable_job(principal, id)
    rows = sorted(store.scan_index(job_catalog.HOST_SUMMARIES, "job", job["id"]), key=lambda r: r.get("host", ""))
    results = crud.serialize_many(job_catalog.HOST_SUMMARIES, rows)
    return {"count": len(results), "next": None, "previous": None, "results": results}, 200


endpoint(bp, "/api/job/job/{id}/cancel", {"POST": _cancel}, tag="job",
         docs={"POST": {"summary": "Cancel a job: the runner stops ansible; state becomes canceled", "status": 202}})
endpoint(bp, "/api/job/job/{id}/relaunch", {"POST": _relaunch}, tag="job",
         docs={"POST": {"summary": 'Run a job again: {"hosts": "all"|"failed"}', "status": 201,
                        "request": {"type": "object", "properties": {"hosts": {"type": "string", "enum": ["all", "failed"]}}}}})
endpoint(bp, "/api/job/job/{id}/stdout", {"GET": _stdout}, tag="job",
         docs={"GET": {"summary": "Job output: ?format=txt|ansi|json, &download=1 for a file",
                       "response": {"type": ["string", "object"]},
                       "query": [{"name": "format", "in": "query", "schema": {"type": "string", "enum": ["txt", "ansi", "json"]}},
                                 {"name": "download", "in": "query", "schema": {"type": "integer", "enum": [0, 1]}}]}})
endpoint(bp, "/api/job/job/{id}/events", {"GET": _events}, tag="job",
         docs={"GET": {"summary": "Structured ansible events, ordered by counter (offset/limit, counter__gt)",
                       "query": [{"name": "offset", "in": "query", "schema": {"type": "integer"}},
                                 {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                                 {"name": "counter__gt", "in": "query", "schema": {"type": "integer"}}]}})
endpoint(bp, "/api/job/job/{id}/host_summaries", {"GET": _host_summaries}, tag="job",
         docs={"GET": {"summary": "Per-host totals: ok, changed, failures, unreachable, skipped, rescued, ignored"}})

"""`/api/template/...`: job templates, their permissions, and running them."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import endpoint, parse_body
from chalicelib.api.openapi import list_params, page_of, ref
from chalicelib.api.resources import expose, list_view, retrieve_view
from chalicelib.services import crud, launch
from chalicelib.services.catalog import job as job_catalog
from chalicelib.services.catalog import template

bp = Blueprint(__name__)

for _resource in (template.TEMPLATES, template.TEMPLATE_USERS, template.TEMPLATE_TEAMS):
    expose(bp, _resource)


def _run(request, principal):
    job = launch.launch_template(principal, parse_body(request))
    return crud.serialize(job_catalog.JOBS, job), 201


_RUN_BODY = {"type": "object", "properties": {
    "id": launch.TEMPLATE_ID.openapi(), "name": launch.TEMPLATE_NAME.openapi(),
    **{name: job_catalog.JOBS.by_name[name].openapi() for name in launch.ON_LAUNCH}},
    "description": "The template by id, or else by name; the other fields override the template's."}

endpoint(bp, "/api/template/template/run", {"GET": list_view(template.TEMPLATES), "POST": _run}, tag="template",
         docs={"GET": {"summary": "Templates that can be run (same as /api/template/template/)",
                       "response": page_of(ref(template.TEMPLATES)), "query": list_params(template.TEMPLATES)},
               "POST": {"summary": "Run a template by id or name; optional overrides. Returns the job.",
                        "request": _RUN_BODY, "status": 201, "response": ref(job_catalog.JOBS),
                        "description": "The new job"}})
endpoint(bp, "/api/template/template/run/{id}", {"GET": retrieve_view(template.TEMPLATES)}, tag="template",
         docs={"GET": {"summary": "One template (same as /api/template/template/{id}/)",
                       "response": ref(template.TEMPLATES)}})

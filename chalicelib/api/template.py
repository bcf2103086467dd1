"""`/api/template/...`: job and workflow templates, their permissions, workflow graphs (nodes and
lines), and running templates."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import endpoint, parse_body
from chalicelib.api.openapi import list_params, page_of, ref
from chalicelib.api.resources import expose, list_view, retrieve_view
from chalicelib.services import crud, launch, rbac
from chalicelib.services.catalog import job as job_catalog
from chalicelib.services.catalog import notification as notification_catalog
from chalicelib.services.catalog import template, workflow
from chalicelib.services.errors import ValidationError
from chalicelib.services.workflows import engine, machines
from chalicelib.services.workflows.graph import Graph

bp = Blueprint(__name__)

for _resource in (template.TEMPLATES, template.TEMPLATE_USERS, template.TEMPLATE_TEAMS, workflow.NODES, workflow.LINES,
                  notification_catalog.BINDINGS):
    expose(bp, _resource)


def _run(request, principal):
    job = launch.launch_template(principal, parse_body(request))
    return crud.serialize(job_catalog.JOBS, job), 201


_RUN_BODY = {"type": "object", "properties": {
    "id": launch.TEMPLATE_ID.openapi(), "name": launch.TEMPLATE_NAME.openapi(),
    **{name: job_catalog.JOBS.by_name[name].openapi() for name in launch.ON_LAUNCH},
    # workflow templates only: every node runs against this inventory; the run starts at this node
    "inventory": job_catalog.JOBS.by_name["inventory"].openapi(), "node": engine.START_NODE.openapi()},
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


def _workflow(request, principal, id):
    """A workflow's whole graph in one answer: what a canvas draws, and how it runs (levels)."""
    tpl = crud.load(template.TEMPLATES, id)
    rbac.require(principal, template.TEMPLATES, tpl, "read")
    if tpl.get("template_type") != "workflow":
        raise ValidationError("template_type", f'template {tpl["id"]} "{tpl.get("name")}" is a job template; only workflows have a graph')
    nodes, lines = workflow.graph_records(tpl["id"])
    graph = Graph.from_records(nodes, lines)
    return {"template": tpl["id"], "name": tpl.get("name"),
            "nodes": crud.serialize_many(workflow.NODES, nodes), "lines": crud.serialize_many(workflow.LINES, lines),
            "levels": graph.levels(), "state_machine": machines.describe(tpl, graph)}, 200


_GRAPH = {"type": "object", "required": ["template", "name", "nodes", "lines", "levels", "state_machine"], "properties": {
    "template": {"type": "integer", "description": "The workflow template's id."},
    "name": {"type": "string"},
    "nodes": {"type": "array", "items": ref(workflow.NODES)},
    "lines": {"type": "array", "items": ref(workflow.LINES)},
    "levels": {"type": "array", "items": {"type": "array", "items": {"type": "integer"}},
               "description": "Node ids by longest path from a root: every node comes after all its parents."},
    "state_machine": {"type": "object", "description": "The graph as compiled: name, arn, digest, definition, states "
                                                       "(empty until it is deployed)."}}}

endpoint(bp, "/api/template/template/{id}/workflow", {"GET": _workflow}, tag="template",
         docs={"GET": {"summary": "A workflow template's graph: nodes, lines, levels and its state machine "
                                  "(400 for a job template)", "response": _GRAPH}})

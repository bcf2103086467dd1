"""`POST /api/project/project/{id}/sync/` and `POST /api/project/host/source/{id}/sync/`:
syncs are jobs (kinds project_update and inventory_update) that run in the runner."""
from __future__ import annotations

from chalice import Blueprint

from chalicelib.api.http import endpoint
from chalicelib.api.openapi import ref
from chalicelib.services import crud, launch
from chalicelib.services.catalog import job as job_catalog
from chalicelib.services.jobs import JobKind

bp = Blueprint(__name__)


def _project_sync(request, principal, id):
    job = launch.launch_sync(principal, JobKind.PROJECT_UPDATE, id)
    return crud.serialize(job_catalog.JOBS, job), 201


def _source_sync(request, principal, id):
    job = launch.launch_sync(principal, JobKind.INVENTORY_UPDATE, id)
    return crud.serialize(job_catalog.JOBS, job), 201


endpoint(bp, "/api/project/project/{id}/sync", {"POST": _project_sync}, tag="project",
         docs={"POST": {"summary": "Sync a project: a project_update job checks it out and records revision and playbooks",
                        "status": 201, "response": ref(job_catalog.JOBS), "description": "The sync job"}})
endpoint(bp, "/api/project/host/source/{id}/sync", {"POST": _source_sync}, tag="project",
         docs={"POST": {"summary": "Sync a host source: an inventory_update job imports its hosts and groups",
                        "status": 201, "response": ref(job_catalog.JOBS), "description": "The sync job"}})

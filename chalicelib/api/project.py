"""`/api/project/...`: credentials, projects, inventories, hosts, groups, host sources, grants."""
from chalice import Blueprint

from chalicelib.api.http import CONTENT_TYPES, endpoint
from chalicelib.api.openapi import ref
from chalicelib.api.resources import expose
from chalicelib.services import archives, crud, inventory_render, rbac
from chalicelib.services.catalog import credential, host_source, inventory, project
from chalicelib.services.catalog import job as job_catalog

#: what an archive upload may be sent as (its format is told by its magic bytes, not by these);
#: app.py registers them as binary types, so that API Gateway hands the bytes over as they are
ARCHIVE_CONTENT_TYPES = ["application/gzip", "application/x-gzip", "application/zip", "application/octet-stream"]

bp = Blueprint(__name__)

for _resource in (credential.CREDENTIALS, credential.CREDENTIAL_USERS, credential.CREDENTIAL_TEAMS,
                  project.PROJECTS, project.PROJECT_USERS, project.PROJECT_TEAMS,
                  inventory.INVENTORIES, inventory.INVENTORY_USERS, inventory.INVENTORY_TEAMS,
                  inventory.HOSTS, inventory.GROUPS, inventory.CHILDREN, inventory.MEMBERSHIPS,
                  host_source.HOST_SOURCES):
    expose(bp, _resource)


def _playbooks(request, principal, id):
    rec = crud.load(project.PROJECTS, id)
    rbac.require(principal, project.PROJECTS, rec, "read")
    return project.playbooks(rec), 200


def _upload(request, principal, id):
    try:
        raw = request.raw_body or b""
    except UnicodeEncodeError:
        raw = b""  # a text body with a lone surrogate is no archive either
    job = archives.upload(principal, id, raw if isinstance(raw, bytes) else raw.encode())
    return crud.serialize(job_catalog.JOBS, job), 201


def _script(request, principal, id):
    rec = crud.load(inventory.INVENTORIES, id)
    rbac.require(principal, inventory.INVENTORIES, rec, "read")
    return inventory_render.render(rec["id"]), 200


endpoint(bp, "/api/project/project/{id}/playbooks", {"GET": _playbooks}, tag="project", docs={"GET": {
    "summary": "Playbooks found in the project by its last sync (empty before the first sync)",
    "response": {"type": "array", "items": {"type": "string"}}}})
endpoint(bp, "/api/project/project/{id}/upload", {"POST": _upload}, tag="project",
         content_types=CONTENT_TYPES + ARCHIVE_CONTENT_TYPES, docs={"POST": {
             "summary": "Upload an archive project's playbooks (.tar.gz or .zip, the raw bytes as the body; needs "
                        "write on the project): checked, stored by its sha256 as the project's revision, then "
                        "synced. Refused with a 400 naming `archive`: absolute or '..' paths, links leaving the "
                        f"project, special files, more than {archives.MAX_ARCHIVE_BYTES:,} bytes, more than "
                        f"{archives.MAX_UNPACKED_BYTES:,} bytes unpacked or {archives.MAX_MEMBERS:,} members",
             "request_content": {t: {"schema": {"type": "string", "format": "binary"}} for t in ARCHIVE_CONTENT_TYPES},
             "status": 201, "response": ref(job_catalog.JOBS), "description": "The sync job"}})
endpoint(bp, "/api/project/inventory/{id}/script", {"GET": _script}, tag="project", docs={"GET": {
    "summary": "The inventory as `ansible-inventory --list` JSON (_meta.hostvars, groups, all.vars); "
               "disabled hosts left out",
    "response": {"type": "object", "required": ["_meta", "all"],
                 "properties": {"_meta": {"type": "object"}, "all": {"type": "object"}},
                 "additionalProperties": {"type": "object"}}}})

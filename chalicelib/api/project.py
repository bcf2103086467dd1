"""`/api/project/...`: credentials, projects, inventories, hosts, groups, host sources, grants."""
from chalice import Blueprint

from chalicelib.api.http import endpoint
from chalicelib.api.resources import expose
from chalicelib.services import crud, inventory_render, rbac
from chalicelib.services.catalog import credential, host_source, inventory, project

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


def _script(request, principal, id):
    rec = crud.load(inventory.INVENTORIES, id)
    rbac.require(principal, inventory.INVENTORIES, rec, "read")
    return inventory_render.render(rec["id"]), 200


endpoint(bp, "/api/project/project/{id}/playbooks", {"GET": _playbooks}, tag="project", docs={"GET": {
    "summary": "Playbooks found in the project by its last sync (empty before the first sync)",
    "response": {"type": "array", "items": {"type": "string"}}}})
endpoint(bp, "/api/project/inventory/{id}/script", {"GET": _script}, tag="project", docs={"GET": {
    "summary": "The inventory as `ansible-inventory --list` JSON (_meta.hostvars, groups, all.vars); "
               "disabled hosts left out",
    "response": {"type": "object", "required": ["_meta", "all"],
                 "properties": {"_meta": {"type": "object"}, "all": {"type": "object"}},
                 "additionalProperties": {"type": "object"}}}})

"""`/api/project/...`: credentials, projects, inventories, hosts, groups, host sources, grants."""
from chalice import Blueprint

from chalicelib.api.resources import expose
from chalicelib.services.catalog import inventory

bp = Blueprint(__name__)

for _resource in (inventory.INVENTORIES, inventory.INVENTORY_USERS, inventory.INVENTORY_TEAMS):
    expose(bp, _resource)

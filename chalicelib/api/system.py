"""`/api/system/...`: users, teams, team members, environment variables, modules, tags, job settings."""
from chalice import Blueprint

from chalicelib.api.resources import expose
from chalicelib.services.catalog import system, users

bp = Blueprint(__name__)

for _resource in (users.USERS, system.TEAMS, system.TEAM_MEMBERS, system.ENVIRONMENT, system.MODULES,
                  system.TAGS, system.JOB_SETTINGS):
    expose(bp, _resource)

"""`/api/system/...`: users, teams, team members, environment variables, modules, tags, job settings,
execution environments and their grants."""
from chalice import Blueprint

from chalicelib.api.resources import expose
from chalicelib.services.catalog import execution_environment, system, users

bp = Blueprint(__name__)

for _resource in (users.USERS, system.TEAMS, system.TEAM_MEMBERS, system.ENVIRONMENT, system.MODULES,
                  system.TAGS, system.JOB_SETTINGS, execution_environment.EXECUTION_ENVIRONMENTS,
                  execution_environment.EXECUTION_ENVIRONMENT_USERS, execution_environment.EXECUTION_ENVIRONMENT_TEAMS):
    expose(bp, _resource)

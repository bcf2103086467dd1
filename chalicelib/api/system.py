"""`/api/system/...`: users, teams, team members, environment variables, modules, tags, job settings,
execution environments and their grants, and the activity stream."""
from chalice import Blueprint

from chalicelib.api.http import endpoint, page, query_params
from chalicelib.api.openapi import page_of, paging_params
from chalicelib.api.resources import expose
from chalicelib.services import activity
from chalicelib.services.catalog import execution_environment, system, users

bp = Blueprint(__name__)

for _resource in (users.USERS, system.TEAMS, system.TEAM_MEMBERS, system.ENVIRONMENT, system.MODULES,
                  system.TAGS, system.JOB_SETTINGS, execution_environment.EXECUTION_ENVIRONMENTS,
                  execution_environment.EXECUTION_ENVIRONMENT_USERS, execution_environment.EXECUTION_ENVIRONMENT_TEAMS):
    expose(bp, _resource)


def _activity(request, principal):
    """The activity stream: superusers see every entry, everyone else their own."""
    q = activity.parse_query(query_params(request))
    count, rows = activity.list_entries(principal, q)
    return page(request, count, q.offset, q.limit, rows), 200


_ENTRY = {"type": "object", "required": ["id", "ctime", "timestamp", "action", "user", "user_name", "family", "object",
                                         "object_name", "changes"],
          "description": "One activity entry. `id` is time-ordered (epoch ms * 1000 + a suffix).",
          "properties": {
              "id": {"type": "integer", "minimum": 1},
              **{f.name: f.openapi() for f in activity.ENTRIES.fields},
              "changes": {"type": "object", "description": 'Field -> new value; secrets as "$encrypted$". A failed '
                                                          'login has {"failed": 1}, a delete {"deleted_with": '
                                                          '{family: count}}, a grant the grantee and permission.'}}}
_TIME_PARAMS = [{"name": name, "in": "query", "schema": {"type": "string", "maxLength": 64},
                 "description": f"Entries {what}: epoch seconds (a fraction allowed) or ISO 8601 (UTC unless "
                                "an offset is given; a date alone is its whole day)."}
                for name, what in activity.TIME_PARAMS.items()]

endpoint(bp, "/api/system/activity", {"GET": _activity}, tag="system",
         docs={"GET": {"summary": "Activity stream: every create, update, delete, grant, revoke, launch, relaunch, "
                                  "cancel and login, newest first (superusers: everyone's; others: their own)",
                       "response": page_of(_ENTRY),
                       "query": [*paging_params(), activity.USER, activity.FAMILY_PARAM, activity.OBJECT,
                                 activity.ACTION, *_TIME_PARAMS]}})

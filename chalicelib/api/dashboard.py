"""`GET /api/dashboard/`: the console's first page in one request (see chalicelib.services.dashboard)."""
from chalice import Blueprint

from chalicelib.api.http import endpoint
from chalicelib.api.openapi import ref
from chalicelib.services import dashboard
from chalicelib.services.catalog.job import JOBS
from chalicelib.services.jobs import JobState

bp = Blueprint(__name__)

_COUNT = {"type": "integer", "minimum": 0}
_RATE = {"type": ["number", "null"], "minimum": 0, "maximum": 1,
         "description": "successful / (successful + failed); canceled runs are left out; null without runs"}
_EPOCH = {"type": ["integer", "null"]}
_FINAL = ("successful", "failed", "canceled")


def _object(properties: dict, description: str = "") -> dict:
    out = {"type": "object", "required": list(properties), "properties": properties}
    if description:
        out["description"] = description
    return out


_DOC = _object({
    "scope": {"enum": ["all", "granted"],
              "description": "all: a superuser's view of the installation; granted: what the caller's grants show"},
    "counts": _object({key: {"type": ["integer", "null"], "minimum": 0} for key in dashboard.FAMILIES},
                      "Objects the caller may read (users: null for non-superusers)"),
    "jobs": _object({**{state.value: _COUNT for state in JobState}, "total": _COUNT},
                    "Jobs by state (non-superusers: the jobs of the templates they may read)"),
    "success_rate": _object({
        "days": _COUNT, **dict.fromkeys(_FINAL, _COUNT), "rate": _RATE,
        "daily": {"type": "array", "items": _object({
            "date": {"type": "string", "format": "date", "description": "UTC day"},
            **dict.fromkeys(_FINAL, _COUNT), "total": _COUNT, "rate": _RATE})},
    }, "Jobs that finished in each of the last 30 UTC days, oldest first"),
    "failing_templates": {"type": "array", "description": "Most failed runs in the last 30 days first (at most 10)",
                          "items": _object({"id": {"type": "integer"}, "name": {"type": ["string", "null"]},
                                            "template_type": {"type": "string"}, "failures": _COUNT, "runs": _COUNT,
                                            "last_failure": _EPOCH, "rate": _RATE})},
    "recent_jobs": {"type": "array", "items": ref(JOBS), "description": "The 10 newest jobs the caller may see"},
    "upcoming": {"type": "array", "description": "The 10 soonest enabled schedules with a next run",
                 "items": _object({"id": {"type": "integer"}, "name": {"type": "string"},
                                   "template": {"type": ["integer", "null"]},
                                   "template_name": {"type": ["string", "null"]}, "type": {"type": ["string", "null"]},
                                   "cron": {"type": ["string", "null"]}, "timezone": {"type": ["string", "null"]},
                                   "next_time": _EPOCH, "last_time": _EPOCH,
                                   "last_result": {"type": ["string", "null"]}})},
    "activity": {"type": "array", "items": {"type": "object"},
                 "description": "The caller's own latest operations from the activity stream, newest first"},
})


def _dashboard(request, principal):
    return dashboard.overview(principal), 200


endpoint(bp, "/api/dashboard", {"GET": _dashboard}, tag="dashboard",
         docs={"GET": {"summary": "Counts, 30-day success rate, failing templates, recent jobs, upcoming runs and "
                                  "the caller's latest operations",
                       "response": _DOC}})

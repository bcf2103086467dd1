"""The dashboard (`GET /api/dashboard/`): counts, the 30-day success rate, the templates that fail
most, recent jobs, upcoming scheduled runs and the caller's latest operations.

Its cost does not grow with the number of jobs: counts are the row counters the records table
keeps (`count|<family>`, `count|job|state=<state>`), the job figures are the aggregates that
`chalicelib.services.job_stats` keeps as jobs finish, and all of them for a superuser are ONE
BatchGetItem. Recent jobs are the first page of the jobs list (crud.list_records: its RBAC;
10 items of the jobs partition), upcoming runs 10 items of the schedules' sparse `due` index.

What a non-superuser sees is what their grants let them see, computed from the grants (so it
costs what they hold, not what is stored): counts of the objects they may read (hosts: those
of the inventories they may read), no user count (users are for superusers), and job figures
over the jobs of the templates they may read (ad-hoc commands and syncs count for superusers
only); their recent jobs are the jobs list's first page as they see it, read as the newest 10
of each way a job becomes visible to them. Superusers see the whole installation.
"""
from __future__ import annotations

import time
from typing import Any

from chalicelib.services import crud, job_stats, rbac, store
from chalicelib.services.jobs import UNFINISHED, JobState
from chalicelib.services.limits import INT_MAX
from chalicelib.services.resources import LEVELS
from chalicelib.services.resources import get as get_resource

#: count name -> family (the family's row counter; for a non-superuser, what they may read)
FAMILIES = {"hosts": "host", "inventories": "inventory", "projects": "project", "templates": "template",
            "credentials": "credential", "schedules": "schedule", "users": "user", "teams": "team"}
#: families whose objects a non-superuser counts through their grants
_GRANTED = ("inventory", "project", "template", "credential", "schedule")
RECENT = 10
UPCOMING = 10
FAILING = 10


def overview(principal: rbac.Principal, now: float | None = None) -> dict[str, Any]:
    now = time.time() if now is None else now
    dates = job_stats.window(now)
    if principal.is_superuser:
        names = [f"count|{family}" for family in FAMILIES.values()] + ["count|job"]
        names += [f"count|job|state={state.value}" for state in JobState]
        items = store.counter_items([*names, *job_stats.window_keys(dates)])
        counts = {key: _value(items, f"count|{family}") for key, family in FAMILIES.items()}
        jobs = {state.value: _value(items, f"count|job|state={state.value}") for state in JobState}
        jobs["total"] = _value(items, "count|job")
        templates = None
    else:
        counts, jobs, items, templates = _granted(principal, dates)
    days = job_stats.days(items, dates, templates)
    totals = {state.value: sum(getattr(d, state.value) for d in days) for state in job_stats.FINAL_STATES}
    return {
        "scope": "all" if principal.is_superuser else "granted",
        "counts": counts,
        "jobs": jobs,
        "success_rate": {"days": len(days), **totals, "rate": job_stats.rate(totals["successful"], totals["failed"]),
                         "daily": [d.as_dict() for d in days]},
        "failing_templates": _failing(items, dates, templates),
        "recent_jobs": _recent(principal) if principal.is_superuser else _recent_granted(principal, templates),
        "upcoming": _upcoming(principal),
        "activity": latest_operations(principal),
    }


def _value(items: dict[str, dict], name: str) -> int:
    return int(items.get(name, {}).get("value", 0))


def _granted(principal: rbac.Principal, dates) -> tuple[dict, dict, dict, set[int]]:
    """Counts and job figures of what a non-superuser may read: one grant query per family and
    principal (the user, each team), then one BatchGetItem of their inventories' host counters,
    their templates' all-time figures and the window's day items."""
    readable = {family: set(rbac.readable_ids(principal, family)) for family in _GRANTED}
    templates = readable["template"]
    names = [f"count|host|inventory={i}" for i in sorted(readable["inventory"])]
    names += [job_stats.template_key(t) for t in sorted(templates)]
    names += ["count|team", *job_stats.window_keys(dates)]
    items = store.counter_items(names)
    counts: dict[str, int | None] = {key: len(readable[family]) if family in readable else None
                                     for key, family in FAMILIES.items()}
    counts["hosts"] = sum(_value(items, f"count|host|inventory={i}") for i in readable["inventory"])
    counts["teams"] = _value(items, "count|team")  # readable by every user
    jobs = {state.value: sum(items.get(job_stats.template_key(t), {}).get(state.value, 0) for t in templates)
            for state in job_stats.FINAL_STATES}
    # unfinished jobs are few: the state index partitions hold them alone (not all jobs)
    resource = get_resource("job")
    for state in UNFINISHED:
        jobs[state.value] = sum(1 for job in store.scan_index(resource, "state", state.value)
                                if job.get("template") in templates)
    jobs = {state.value: jobs[state.value] for state in JobState}
    jobs["total"] = sum(jobs.values())
    return counts, jobs, items, templates


def _failing(items: dict[str, dict], dates, templates: set[int] | None) -> list[dict]:
    """The templates with the most failed runs in the window, with their names (one BatchGetItem
    of a few more candidates than shown, since a ranked template may have been deleted)."""
    ranked = job_stats.failing(items, dates, templates)[:FAILING * 2]
    found = store.batch_get(("template", r.template) for r in ranked)
    out = []
    for figures in ranked:
        rec = found.get(("template", figures.template))
        if rec is None:
            continue
        out.append({"id": figures.template, "name": rec.get("name"), "template_type": rec.get("template_type") or "job",
                    "failures": figures.failures, "runs": figures.runs, "last_failure": figures.last_failure,
                    "rate": job_stats.rate(figures.successful, figures.failures)})
    return out[:FAILING]


def _recent(principal: rbac.Principal) -> list[dict]:
    """The newest jobs as the jobs list shows them to this caller (its permission rules)."""
    query = crud.ListQuery(limit=RECENT, ordering=[("id", True)])
    return crud.list_records(principal, get_resource("job"), query)[1]


def _recent_granted(principal: rbac.Principal, templates: set[int]) -> list[dict]:
    """The same 10 jobs for a non-superuser without reading every job they may see (the jobs list
    does, for its count): the newest 10 of each way a job becomes visible, merged. Those are the
    jobs granted to them or their teams (a launcher's grant: the newest grants, one query per
    principal) and the jobs of each template they may read (one query each, newest first)."""
    resource = get_resource("job")
    granted: set[int] = set()
    grant_sources = [(get_resource(rbac.user_grant_family("job")), "username", principal.id)]
    grant_sources += [(get_resource(rbac.team_grant_family("job")), "team", team) for team in principal.teams()]
    for grants, field_name, value in grant_sources:
        # a grant follows its job at once, so the newest grants are the newest jobs (twice as many
        # as shown: launches that interleave may grant out of order)
        for grant in store.scan_index(grants, field_name, value, ascending=False, limit=2 * RECENT):
            if LEVELS.get(grant.get("permission"), 0) >= LEVELS["read"]:
                granted.add(int(grant["data"]))
    rows = {rec["id"]: rec for rec in store.batch_get(("job", i) for i in granted).values()}
    for template in sorted(templates):
        for rec in store.scan_index(resource, "template", template, ascending=False, limit=RECENT):
            rows.setdefault(rec["id"], rec)
    newest = sorted(rows.values(), key=lambda rec: rec["id"], reverse=True)[:RECENT]
    return crud.serialize_many(resource, newest)


#: what the dashboard shows of a schedule
_SCHEDULE_KEYS = ("id", "name", "template", "template_name", "type", "cron", "timezone", "next_time", "last_time",
                  "last_result")


def _upcoming(principal: rbac.Principal) -> list[dict]:
    """The soonest enabled schedules with a next run: superusers read the sparse `due` index
    (its first 10 entries), others the schedules granted to them."""
    resource = get_resource("schedule")
    if principal.is_superuser:
        rows = list(store.due(resource, INT_MAX, limit=UPCOMING))
    else:
        rows = [r for r in rbac.readable_records(principal, resource)
                if r.get("enabled") and r.get("next_time") is not None]
        rows.sort(key=lambda r: (r["next_time"], r["id"]))
        rows = rows[:UPCOMING]
    return [{key: shown.get(key) for key in _SCHEDULE_KEYS} for shown in crud.serialize_many(resource, rows)]


def latest_operations(principal: rbac.Principal) -> list[dict]:
    """The caller's own latest entries of the activity stream, newest first."""
    try:
        from chalicelib.services import activity
    except ImportError:  # the activity stream is not installed in this version
        return []
    return list(activity.latest(principal, limit=10))

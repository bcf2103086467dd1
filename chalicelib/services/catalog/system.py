"""System resources (spec §6): teams, team members, environment variables, Ansible modules,
playbook tags and the global job settings. Everyone reads them; superusers change them."""
from __future__ import annotations

from chalicelib.services import store
from chalicelib.services.fields import Int, Label, Ref, Str, Text, UserRef
from chalicelib.services.resources import Access, Resource, get, register

TEAMS = register(Resource(
    family="team", path="/api/system/team", title="Teams",
    description="Groups of users that permissions can be granted to. Members are managed at /api/system/team/users/.",
    access=Access.open(),
    fields=[
        Str("name", required=True, blank=False, max_length=128, description="Team name."),
        Str("description", max_length=1024, description="Description."),
    ],
    extra=lambda rec: {"users": rec.get("users", [])}, extra_fields=("users",),
    search=("name", "description"), filters=("name",), ordering=("name",), unique=(("name",),),
))


def _refresh_team_users(principal, rec, previous=None) -> None:
    """Keep the team's `users` array (spec §6.3) in step with its member rows.

    Denormalized on purpose: a team list page then costs one query, not one per team.
    """
    team_ids = {rec.get("team")} | ({previous.get("team")} if previous else set())
    members = get("team_member")
    for team_id in filter(None, team_ids):
        team = store.get("team", team_id)
        if team is None:
            continue
        rows = list(store.scan_index(members, "team", team_id, ascending=True))
        users = store.batch_get(("user", r["username"]) for r in rows)
        team["users"] = [{"username": r["username"], "last_name": users.get(("user", r["username"]), {}).get("last_name", "")}
                         for r in rows]
        store.update(TEAMS, team, team)


def refresh_teams_of_user(user_id: int) -> None:
    """Rewrite the `users` array of every team the user is in (after their last_name changed)."""
    for row in list(store.scan_index(get("team_member"), "username", user_id)):
        _refresh_team_users(None, row)


TEAM_MEMBERS = register(Resource(
    family="team_member", path="/api/system/team/users", title="Team members",
    access=Access.open(),
    fields=[
        UserRef("username", required=True, aliases=("user", "user_id"), on_delete="cascade",
                description="The member's user id (or login on input)."),
        Ref("team", family="team", required=True, aliases=("team_id",), on_delete="cascade", description="Team id."),
    ],
    labels=[
        Label("last_name", "username", family="user", attr="last_name"),
        Label("user_name", "username", family="user", attr="username"),
        Label("team_name", "team", family="team"),
    ],
    search=("team", "username"), filters=("username", "team"), indexes=("team", "username"),
    unique=(("team", "username"),),
    after_save=_refresh_team_users, after_delete=lambda principal, rec: _refresh_team_users(principal, rec),
))

ENVIRONMENT = register(Resource(
    family="environment_variable", path="/api/system/system/environment/variable", title="Environment variables",
    description="Exported into the process environment of every job.",
    access=Access.open(),
    fields=[
        Str("name", required=True, blank=False, max_length=256, pattern=r"[A-Za-z_][A-Za-z0-9_]*",
            description="Variable name (a valid environment variable name)."),
        Text("value", max_length=32_768, description="Value."),
        Str("remark", max_length=1024, description="Remark."),
    ],
    search_index=False, search=("name",), filters=("name",), ordering=("name",), unique=(("name",),),
))

MODULES = register(Resource(
    family="module", path="/api/system/system/module", title="Ansible modules",
    description="Modules offered for ad-hoc commands.",
    access=Access.open(),
    fields=[
        Str("name", required=True, blank=False, max_length=128, pattern=r"[A-Za-z0-9_.]+", description="Module name."),
        Int("weight", default=0, description="Sort weight; larger first in the UI."),
        Str("comment", max_length=1024, description="Description."),
    ],
    search_index=False, search=("name", "comment"), filters=("name",), ordering=("name", "weight"), default_ordering="id",
    unique=(("name",),),
))

#: spec §6.5: the 13 modules a new installation offers
SEED_MODULES = [
    ("command", "Command"), ("yum", "Manage packages on Red Hat with yum"),
    ("pip", "Manage Python libraries with pip"), ("service", "Service management"),
    ("copy", "Copy files to remote nodes"), ("file", "Set file/directory attributes"),
    ("script", "Transfer a local script to remote nodes and run it"), ("user", "Manage user accounts"),
    ("group", "Add/remove a group"), ("template", "Transfer template files to remote servers"),
    ("unarchive", "Unpack an archive onto remote servers"),
    ("mysql_db", "Manage MySQL databases: create/remove users and databases, import tables"),
    ("shell", "Shell command"),
]

TAGS = register(Resource(
    family="tag", path="/api/system/tag", title="Playbook tags",
    description="Tags offered for a template's tags and skip_tags. Lists sort by weight, largest first.",
    access=Access.open(),
    fields=[
        Str("tag", required=True, blank=False, max_length=128, description="Tag name."),
        Int("weight", default=0, description="Weight; larger first."),
        Str("comment", max_length=1024, description="Description."),
    ],
    search_index=False, search=("tag", "comment"), filters=("tag",), ordering=("tag", "weight"), default_ordering="-weight,id",
    unique=(("tag",),),
))

JOB_SETTINGS = register(Resource(
    family="job_settings", path="/api/system/system/jobsettings", title="Job settings",
    description="The one global record of job execution settings. job_timeout and idle_timeout map to the "
                "runner's timeouts and the RunJob state machine; keep_days to DynamoDB TTL and S3 lifecycle.",
    access=Access.open(), singleton=True,
    fields=[
        Str("workspace", required=True, blank=False, max_length=1024, description="Working directory for job runs."),
        Int("job_timeout", required=True, minimum=0, maximum=7 * 24 * 3600, description="Seconds; 0 = no timeout."),
        Int("idle_timeout", required=True, minimum=0, maximum=24 * 3600, description="Seconds without output; 0 = none."),
        Int("keep_days", required=True, minimum=0, maximum=3650, description="Days to keep jobs and logs; 0 = forever."),
        Int("project_id", default=None, minimum=1, description="Optional project id."),
    ],
))


def seed(principal=None) -> None:
    """First-start data: the spec's module list (only into an empty catalogue)."""
    if store.count(MODULES.family) == 0:
        for name, comment in SEED_MODULES:
            store.create(MODULES, {"name": name, "weight": 0, "comment": comment})

"""The permission matrix: every route on a protected family, and on the families that follow one
(hosts, groups and host sources follow their inventory, grants follow their object, job logs
their job), for every situation a user can be in, against the status the permission rules give.

Generated from the declarations (`resources.all_resources()`) and the routing table
(`chalicelib.api.http.ROUTES`): a family declared `Access.protected()` with `protect(...)` and
given its routes with `expose(...)` is in the matrix, grants included, without editing this file.
Custom routes (sync, run, cancel, ...) are classified in CUSTOM_ROUTES;
`test_every_custom_route_on_a_covered_family_is_classified` fails for one that is not.

The rules the expectations apply (README, "Permissions" and "Running playbooks"):
  * levels read < execute < write < admin; a user's level is the highest of their own grant and
    their teams'; a withdrawn grant gives nothing; superusers pass everything;
  * GET needs read; PUT, PATCH, DELETE and bulk DELETE need write; anyone may create a protected
    object; lists (and their `count`) show only what the caller may read;
  * a family with `Access.parent` follows its parent: read on the parent reads it, the parent's
    `write_level` (write for hosts, admin for grants) writes and creates it;
  * a job is readable by whoever may read its template, and its launcher holds admin on it;
  * attaching an object through a Ref field needs the field's `needs` level on it (execute: "use").

Speed: one moto stack, with one user (and team) per situation, serves all the cases of a family
(`Worlds`); every case builds its own objects (a fresh subject with a fresh grant), so no case
depends on another.
"""
from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlencode

import pytest
from chalice.test import Client

from app import app
from chalicelib.api.http import ROUTES
from chalicelib.services import auth, crud, jobs, launch, rbac, store
from chalicelib.services.fields import Int, Ref, Str, UserRef
from chalicelib.services.resources import LEVELS, Resource, all_resources, get
from tests.conftest import Api, moto_stack

READ, EXECUTE, WRITE, ADMIN = (LEVELS[name] for name in ("read", "execute", "write", "admin"))
LEVEL_NAMES = {value: name for name, value in LEVELS.items()}


# ---------------------------------------------------------------- what the declarations say


def covered(resource: Resource) -> bool:
    """Protected families, and the families whose parent chain leads to one."""
    access = resource.access
    return access.kind == "protected" or (access.kind == "parent" and covered(get(access.parent_family)))


def lineage(family: str) -> list[str]:
    """The families from the one that holds the grants down to `family`: [inventory, host],
    [credential, grant.credential.user], [template, job, job_log] (jobs are readable via their template)."""
    access = get(family).access
    if access.kind == "parent":
        return [*lineage(access.parent_family), family]
    if access.parent_field:
        return [access.parent_family, family]
    return [family]


def read_via(family: str) -> bool:
    """Protected with `readable_via` (jobs): the grants that matter are on the via-record."""
    access = get(family).access
    return access.kind == "protected" and bool(access.parent_field)


# ---------------------------------------------------------------- situations


@dataclass(frozen=True)
class Situation:
    """Where the acting user stands towards the object that holds the grants."""

    name: str
    #: level granted on that object (0: none)
    granted: int = 0
    via_team: bool = False
    #: the grant was given, then withdrawn
    revoked: bool = False
    superuser: bool = False
    #: the user launched the job (with execute on its template)
    launcher: bool = False

    @property
    def level(self) -> int:
        return 0 if self.revoked else self.granted


BASE_SITUATIONS = (
    Situation("none"),
    *(Situation(name, LEVELS[name]) for name in LEVELS),
    *(Situation(f"team-{name}", LEVELS[name], via_team=True) for name in LEVELS),
    Situation("revoked", ADMIN, revoked=True),  # admin, given and then withdrawn
    Situation("superuser", superuser=True),
)
LAUNCHER_SITUATIONS = (
    Situation("launcher", EXECUTE, launcher=True),
    Situation("launcher-revoked", EXECUTE, launcher=True, revoked=True),
)


def situations_for(family: str) -> tuple[Situation, ...]:
    if any(read_via(f) for f in lineage(family)):
        return BASE_SITUATIONS + LAUNCHER_SITUATIONS
    return BASE_SITUATIONS


def level_on(family: str, s: Situation) -> int:
    """The level the rules give the user of situation `s` on a record of `family` made by `build`."""
    if s.superuser:
        return ADMIN
    access = get(family).access
    if access.kind == "protected":
        if access.parent_field:  # readable via the record it names (a job's template)
            launched = ADMIN if s.launcher else 0
            return max(launched, READ if level_on(access.parent_family, s) >= READ else 0)
        return s.level
    parent = level_on(access.parent_family, s)
    return ADMIN if parent >= LEVELS[access.write_level] else min(parent, READ)


# ---------------------------------------------------------------- routes and what they need


@dataclass(frozen=True)
class Route:
    family: str
    kind: str  # collection, item, or a custom route's label
    method: str
    path: str
    #: a level name; "list" (200, the subject listed when readable) or "create"
    need: str
    ok: int
    #: also needed: this level on the record of that family in the lineage (relaunch: execute on the template)
    also: tuple[str, str] | None = None
    body: Callable[[dict], dict] | None = None
    #: the sample variant of the route's record (the graph of a template: a workflow template)
    variant: str | None = None
    #: the sample variant of the record's parent (an approval: a job of a workflow template)
    parent_variant: str | None = None

    @property
    def label(self) -> str:
        return f"{self.family}-{self.kind}-{self.method}"


GENERIC = {
    ("collection", "GET"): ("list", 200), ("collection", "POST"): ("create", 201),
    ("collection", "DELETE"): ("write", 200),
    ("item", "GET"): ("read", 200), ("item", "PUT"): ("write", 200), ("item", "PATCH"): ("write", 200),
    ("item", "DELETE"): ("write", 204),
}


@dataclass(frozen=True)
class Custom:
    family: str
    label: str
    need: str
    ok: int
    also: tuple[str, str] | None = None
    body: Callable[[dict], dict] | None = None
    variant: str | None = None
    parent_variant: str | None = None


#: (path, method) -> the family whose record the route acts on (its {id}) and what it needs
CUSTOM_ROUTES = {
    ("/api/project/project/{id}/sync", "POST"): Custom("project", "sync", "execute", 201),
    ("/api/project/project/{id}/playbooks", "GET"): Custom("project", "playbooks", "read", 200),
    ("/api/project/project/{id}/upload", "POST"): Custom("project", "upload", "write", 201, variant="archive",
                                                         body=lambda rec: _sample_archive()),
    ("/api/project/inventory/{id}/script", "GET"): Custom("inventory", "script", "read", 200),
    ("/api/project/host/source/{id}/sync", "POST"): Custom("host_source", "sync", "write", 201),
    ("/api/template/template/run", "GET"): Custom("template", "run", "list", 200),
    ("/api/template/template/run", "POST"): Custom("template", "run", "execute", 201, body=lambda rec: {"id": rec["id"]}),
    ("/api/template/template/run/{id}", "GET"): Custom("template", "run-item", "read", 200),
    ("/api/template/template/{id}/workflow", "GET"): Custom("template", "workflow", "read", 200, variant="workflow"),
    ("/api/job/job/{id}/cancel", "POST"): Custom("job", "cancel", "write", 202),
    ("/api/job/job/{id}/relaunch", "POST"): Custom("job", "relaunch", "read", 201, also=("template", "execute"),
                                                   body=lambda rec: {"hosts": "all"}),
    ("/api/job/job/{id}/stdout", "GET"): Custom("job", "stdout", "read", 200),
    ("/api/job/job/{id}/events", "GET"): Custom("job", "events", "read", 200),
    ("/api/job/job/{id}/host_summaries", "GET"): Custom("job", "host_summaries", "read", 200),
    ("/api/job/job/{id}/workflow", "GET"): Custom("job", "workflow", "read", 200, parent_variant="workflow"),
    ("/api/job/job/{id}/approve", "POST"): Custom("job", "approve", "read", 200, also=("template", "execute"),
                                                  body=lambda rec: {}, parent_variant="workflow"),
    ("/api/job/job/{id}/deny", "POST"): Custom("job", "deny", "read", 200, also=("template", "execute"),
                                               body=lambda rec: {}, parent_variant="workflow"),
    ("/api/job/schedule/{id}/preview", "GET"): Custom("schedule", "preview", "read", 200),
    ("/api/job/job/{id}/notifications", "GET"): Custom("job", "notifications", "read", 200),
    # the sample notification's webhook is a closed loopback port: the answer is a failed delivery
    ("/api/notification/notification/{id}/test", "POST"): Custom("notification", "test", "execute", 200),
}
#: (path, method) -> a valid body: routes under a covered family's path that act on no record,
#: open to every authenticated user (the preview of an unsaved schedule)
RECORDLESS_ROUTES = {
    ("/api/job/schedule/preview", "POST"): {"type": "cron", "minute": "0"},
}


def matrix_routes() -> list[Route]:
    routes = []
    for doc in ROUTES:
        if doc.resource is not None and doc.kind in ("collection", "item") and covered(doc.resource):
            for method in doc.methods:
                need, ok = GENERIC[(doc.kind, method)]
                routes.append(Route(doc.resource.family, doc.kind, method, doc.path, need, ok))
    for (path, method), c in CUSTOM_ROUTES.items():
        routes.append(Route(c.family, c.label, method, path, c.need, c.ok, c.also, c.body, c.variant, c.parent_variant))
    return routes


@dataclass(frozen=True)
class Expect:
    status: int
    #: lists: whether the subject is in the results
    shown: bool | None = None

    def __str__(self) -> str:
        return str(self.status) if self.shown is None else f"{self.status}-{'shown' if self.shown else 'hidden'}"


def expect(route: Route, s: Situation) -> Expect:
    level = level_on(route.family, s)
    if route.need == "list":
        return Expect(200, shown=level >= READ)
    if route.need == "create":
        allowed = s.superuser or get(route.family).access.kind == "protected" or level >= WRITE
    else:
        allowed = level >= LEVELS[route.need]
    if route.also is not None:
        allowed = allowed and level_on(route.also[0], s) >= LEVELS[route.also[1]]
    return Expect(route.ok if allowed else 403)


# ---------------------------------------------------------------- sample records

_numbers = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_numbers)}"


CREDENTIAL_SECRETS = {
    "ssh": {"user_name": "deploy", "password": "pw-ssh"},
    "user_pwd": {"user_name": "git", "password": "pw-git"},
    "vault": {"vault_password": "pw-vault"},
    "aws": {"key_id": "AKIAEXAMPLE", "key_secret": "pw-aws"},
    "galaxy": {"url": "https://galaxy.example.com/", "token": "pw-galaxy"},
}


def _credential(world, parent, by, variant):
    kind = variant or "ssh"
    return {"name": unique("cred"), "type": kind, **CREDENTIAL_SECRETS[kind]}


def _sample_archive() -> bytes:
    """A .tar.gz of one playbook (the body of an archive project's upload)."""
    import io
    import tarfile

    buffer, text = io.BytesIO(), b"- hosts: all\n  tasks: []\n"
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        info = tarfile.TarInfo("site.yml")
        info.size = len(text)
        tar.addfile(info, io.BytesIO(text))
    return buffer.getvalue()


def _project(world, parent, by, variant):
    if variant == "archive":
        return {"name": unique("proj"), "project_type": "archive"}
    url = "https://git.example.com/site.git" if variant == "https" else "file:///srv/site.git"
    return {"name": unique("proj"), "repository_url": url}


def _inventory(world, parent, by, variant):
    return {"name": unique("inv"), "variables": "a: 1"}


def _template(world, parent, by, variant):
    if variant == "workflow":
        return {"name": unique("flow"), "template_type": "workflow"}
    return {"name": unique("tpl"), "project": world.scaffold("project", by)["id"],
            "inventory": world.scaffold("inventory", by)["id"], "playbook": "site.yml"}


def _job(world, parent, by, variant):
    inventory = world.scaffold("inventory", by)["id"]
    if variant == "playbook":  # a template-less playbook run
        return {"project": world.scaffold("project", by)["id"], "playbook": "site.yml", "inventory": inventory}
    return {"module": "command", "arguments": "true", "inventory": inventory}


def _host(world, parent, by, variant):
    return {"hostname": unique("web"), "inventory": parent["id"]}


def _group(world, parent, by, variant):
    return {"name": unique("grp"), "inventory": parent["id"]}


def _group_children(world, parent, by, variant):
    return {"group": world.create("group", parent)["id"], "child": world.create("group", parent)["id"]}


def _group_host(world, parent, by, variant):
    return {"host": world.create("host", parent)["id"], "group": world.create("group", parent)["id"]}


def _host_source(world, parent, by, variant):
    base = {"name": unique("src"), "inventory": parent["id"]}
    if variant == "file":
        return {**base, "source_type": "file", "project": world.scaffold("project", by)["id"], "host_file": "hosts"}
    if variant == "aws_ec2":
        return {**base, "source_type": "aws_ec2", "regions": "us-east-1",
                "credential": world.scaffold("credential", by, "aws")["id"]}
    return {**base, "source_type": "script", "source_script": "#!/bin/sh\necho '{}'\n"}


def _workflow_node(world, parent, by, variant):
    base = {"name": unique("node"), "template": parent["id"]}
    if variant == "job":
        return {**base, "type": "job", "bind_template": world.scaffold("template", by)["id"]}
    if variant == "project_sync":
        return {**base, "type": "project_sync", "project": world.scaffold("project", by)["id"]}
    return base


def _workflow_line(world, parent, by, variant):
    return {"node": world.create("workflow_node", parent)["id"], "next_node": world.create("workflow_node", parent)["id"],
            "result": "successful"}


def _notification(world, parent, by, variant):
    return {"name": unique("ntf"), "channel": "Webhook", "url": "http://127.0.0.1:9/hook"}


def _template_notification(world, parent, by, variant):
    return {"template": parent["id"], "notification": world.scaffold("notification", by)["id"], "result": "failed"}


#: payloads of a valid new record, for families whose rules a generic payload would break;
#: other families (grants, and new simple ones) get `generic_payload`
SAMPLES = {
    "credential": _credential, "project": _project, "inventory": _inventory, "template": _template,
    "job": _job, "host": _host, "group": _group, "group_children": _group_children,
    "group_host": _group_host, "host_source": _host_source, "workflow_node": _workflow_node,
    "workflow_line": _workflow_line, "notification": _notification, "template_notification": _template_notification,
}
#: family -> the sample variant its parent must be (a workflow's graph hangs off a workflow template)
PARENT_VARIANTS = {"workflow_node": "workflow", "workflow_line": "workflow"}


def generic_payload(world, resource: Resource, parent, by) -> dict:
    """The required fields of `resource` from its declaration: the parent, a bystander user or
    team, `by`'s own record of any other family, the first choice, a fresh text."""
    out = {}
    for f in resource.writable:
        if not f.required:
            continue
        if isinstance(f, Ref):
            if f.name == resource.access.parent_field:
                out[f.name] = parent["id"]
            elif isinstance(f, UserRef) or f.family == "user":
                out[f.name] = world.bystander["id"]
            elif f.family == "team":
                out[f.name] = world.bystander_team
            else:
                out[f.name] = world.scaffold(f.family, by)["id"]
        elif isinstance(f, Str) and f.choices:
            out[f.name] = f.choices[0]
        elif isinstance(f, Int):
            out[f.name] = f.minimum or 0
        else:
            out[f.name] = unique(f.name.replace("_", ""))
    return out


def patch_body(resource: Resource, rec: dict) -> dict:
    """A harmless partial change: the description, a grant's level, or a field sent unchanged."""
    if "description" in resource.by_name:
        return {"description": "changed"}
    if "permission" in resource.by_name:
        return {"permission": "write"}
    first = next(f for f in resource.writable if f.required)
    return {first.name: rec[first.name]}


def _launched(world, by, parent, payload) -> dict:
    if parent is not None and parent.get("template_type") == "workflow":
        # a workflow job waiting for an approval (at its start node: only the entry matters here)
        job = launch.launch_template(by.principal, {"id": parent["id"]})
        start = next(store.scan_index(get("workflow_node"), "template", parent["id"]))
        return jobs.mutate(job["id"], lambda j: j.update(nodes={str(start["id"]): {"state": "pending", "token": "matrix"}}))
    if parent is not None:  # in a lineage: a run of the template above it
        return launch.launch_template(by.principal, {"id": parent["id"]})
    return launch.launch_command(by.principal, crud.clean(by.principal, get("job"), payload))


#: families whose records a service creates rather than `crud.create`
MAKERS = {
    "job": _launched,
    "job_log": lambda world, by, parent, payload: next(store.scan_index(get("job_log"), "job", parent["id"])),
}


# ---------------------------------------------------------------- the world


@dataclass
class Actor:
    name: str
    user: dict
    api: Api

    @property
    def principal(self) -> rbac.Principal:
        return rbac.Principal(self.user)  # a fresh one: it caches the user's teams


class World:
    """Users, teams and scaffolding (records that cases refer to but never change) for one group
    of cases, in one moto stack."""

    def __init__(self, client: Client):
        self.client = client
        admin, token = auth.ensure_superuser("admin")
        self.admin = Actor("superuser", admin, Api(client, token))
        #: makes every record and grant a case needs: a superuser holds no grant on what they make,
        #: so the situation's grant is the only one (and setting up costs no permission queries)
        self.owner = self.admin
        self.bystander = self.new_actor("carol").user
        self.bystander_team = crud.create(self.admin.principal, get("team"), {"name": "bystanders"})["id"]
        self._actors: dict[str, Actor] = {}
        self._teams: dict[str, int] = {}
        self._scaffold: dict[tuple, dict] = {}

    def new_actor(self, username: str) -> Actor:
        """A user with a token (and no password: scrypt would cost more than a whole case)."""
        user = store.create(get("user"), {"username": username, "last_name": username, "active": 1, "superuser": 0})
        return Actor(username, user, Api(self.client, auth.issue_token(user)))

    def actor(self, s: Situation) -> Actor:
        if s.superuser:
            return self.admin
        if s.name not in self._actors:
            actor = self.new_actor(unique(s.name.replace("-", "_")))
            if s.via_team:
                team = crud.create(self.admin.principal, get("team"), {"name": unique("team")})["id"]
                crud.create(self.admin.principal, get("team_member"), {"username": actor.user["id"], "team": team})
                self._teams[s.name] = team
            self._actors[s.name] = actor
        return self._actors[s.name]

    def payload(self, family: str, parent: dict | None = None, by: Actor | None = None, variant: str | None = None) -> dict:
        by = by or self.owner
        if family in SAMPLES:
            return SAMPLES[family](self, parent, by, variant)
        return generic_payload(self, get(family), parent, by)

    def create(self, family: str, parent: dict | None = None, by: Actor | None = None,
               variant: str | None = None, payload: dict | None = None) -> dict:
        by = by or self.owner
        payload = payload if payload is not None else self.payload(family, parent, by, variant)
        if family in MAKERS:
            return MAKERS[family](self, by, parent, payload)
        return crud.create(by.principal, get(family), payload)

    def scaffold(self, family: str, by: Actor, variant: str | None = None) -> dict:
        """`by`'s own record of `family`, made once: what a sample refers to besides its subject."""
        key = (family, by.name, variant)
        if key not in self._scaffold:
            parent_family = get(family).access.parent_family if get(family).access.kind == "parent" else ""
            parent = self.scaffold(parent_family, by, PARENT_VARIANTS.get(family)) if parent_family else None
            self._scaffold[key] = self.create(family, parent, by, variant)
        return self._scaffold[key]

    def give(self, s: Situation, family: str, rec: dict) -> tuple[str, int] | None:
        """The situation's grant on `rec` (given by its owner); the grant's (family, id)."""
        if s.superuser or not s.granted:
            return None
        actor = self.actor(s)
        permission = LEVEL_NAMES[s.granted]
        if s.via_team:
            grants, who = rbac.team_grant_family(family), {"team": self._teams[s.name]}
        else:
            grants, who = rbac.user_grant_family(family), {"username": actor.user["id"]}
        # the record POST .../authorized/users/ (or .../empowered/teams/) stores, without the response
        grant = store.create(get(grants), {**who, "data": rec["id"], "permission": permission})
        return grants, grant["id"]

    def revoke(self, grant: tuple[str, int]) -> None:
        crud.destroy(self.owner.principal, get(grant[0]), grant[1])


class Worlds:
    """One world at a time, made anew for each group of cases (a family's routes): moto's DynamoDB
    reads every item of a table for each query, so a world that grew with the whole module would
    slow every case down."""

    def __init__(self):
        self._key = None
        self._stack: contextlib.ExitStack | None = None
        self._world: World | None = None

    def get(self, key: str) -> World:
        if key != self._key:
            self.close()
            self._stack = contextlib.ExitStack()
            self._stack.enter_context(moto_stack())
            self._world = World(self._stack.enter_context(Client(app)))
            self._key = key
        return self._world

    def close(self) -> None:
        if self._stack is not None:
            self._stack.close()
        self._key, self._stack, self._world = None, None, None


@pytest.fixture(scope="module")
def worlds():
    pool = Worlds()
    yield pool
    pool.close()


@dataclass
class Scene:
    """What one case acts on: the record (`subject`, and the `payload` that made it, for PUT) or,
    for a create, the `payload` to send."""

    actor: Actor
    subject: dict | None
    payload: dict | None


def build(world: World, route: Route, s: Situation) -> Scene:
    """From the grant-holding object (owned by `owner`, with the situation's grant) down to the
    route's record; a create stops above it, and a protected family's create needs nothing."""
    actor = world.actor(s)
    creating = route.need == "create"
    full = lineage(route.family)
    chain = full[:-1] if creating else full
    parent, grant, payload = None, None, None
    for depth, family in enumerate(chain):
        by = actor if s.launcher and read_via(family) else world.owner
        variant = PARENT_VARIANTS.get(full[depth + 1]) if depth + 1 < len(full) else route.variant
        if depth + 2 == len(full) and route.parent_variant:
            variant = route.parent_variant
        payload = world.payload(family, parent, by, variant)
        parent = world.create(family, parent, by, payload=payload)
        if depth == 0:
            grant = world.give(s, family, parent)
    if grant is not None and s.revoked:
        world.revoke(grant)
    if creating:
        protected = get(route.family).access.kind == "protected"
        # what else the new record must name is the actor's own (using it is test_attach's matter)
        by = actor if protected or _names_protected(get(route.family)) else world.owner
        return Scene(actor, None, world.payload(route.family, None if protected else parent, by))
    return Scene(actor, parent, payload)


def _names_protected(resource: Resource) -> bool:
    """Whether a record of `resource` must name a protected record besides its parent (a binding
    names its notification)."""
    return any(f.required and f.name != resource.access.parent_field and get(f.family).access.kind == "protected"
               for f in resource.refs)


def send(route: Route, scene: Scene):
    resource = get(route.family)
    path = route.path.replace("{id}", str(scene.subject["id"])) if scene.subject else route.path
    path += "/"
    if route.need == "list":
        return scene.actor.api.get(path + "?" + urlencode(narrowing(resource, scene.subject)))
    if route.need == "create":
        return scene.actor.api.post(path, scene.payload)
    if route.kind == "collection" and route.method == "DELETE":
        return scene.actor.api.delete(path, {"pk": str(scene.subject["id"])})
    if route.method == "PUT":
        return scene.actor.api.put(path, scene.payload)
    if route.method == "PATCH":
        return scene.actor.api.patch(path, patch_body(resource, scene.subject))
    body = route.body(scene.subject) if route.body else None
    return scene.actor.api.request(route.method, path, body)


def narrowing(resource: Resource, rec: dict) -> dict:
    """A list filter that only the subject (and its siblings under one parent) can match, so that
    what other cases created for the same user stays out of the page."""
    access = resource.access
    if access.parent_field:  # a parent family, or a job by its template
        return {access.parent_field: rec[access.parent_field]}
    assert "name" in resource.filters, f"{resource.family}: give the matrix a filter that picks one record"
    return {"name": rec["name"]}


def state(route: Route, scene: Scene) -> tuple:
    """What a refused request must leave as it was."""
    subject = store.get(route.family, scene.subject["id"]) if scene.subject else None
    return subject, store.count(route.family), store.count("job")


# ---------------------------------------------------------------- the matrix

CASES = [pytest.param(route, s, id=f"{route.label}-{s.name}-{expect(route, s)}")
         for route in sorted(matrix_routes(), key=lambda route: route.family)  # one world per family
         for s in situations_for(route.family)]


@pytest.mark.parametrize("route,situation", CASES)
def test_matrix(worlds, route: Route, situation: Situation):
    scene = build(worlds.get(route.family), route, situation)
    wanted = expect(route, situation)
    before = state(route, scene) if wanted.status == 403 else None
    r = send(route, scene)
    assert r.status_code == wanted.status, r.body
    if wanted.shown is not None:
        rows = r.data["results"]
        assert r.data["count"] == len(rows)
        if wanted.shown:
            assert scene.subject["id"] in [row["id"] for row in rows]
            (name, value), = narrowing(get(route.family), scene.subject).items()
            assert all(str(row[name]) == str(value) for row in rows)
        else:
            assert rows == []
    if wanted.status == 403:
        assert state(route, scene) == before


def test_every_custom_route_on_a_covered_family_is_classified():
    """A new custom route on a protected family (or one that follows one) joins the matrix by an
    entry in CUSTOM_ROUTES; and no entry outlives its route."""
    paths = [r.path for r in all_resources() if covered(r)]
    served = {(doc.path, method) for doc in ROUTES if doc.resource is None and not doc.public
              and any(doc.path.startswith(path + "/") for path in paths) for method in doc.methods}
    assert served, "no custom routes found: is the routing table filled?"
    assert served == set(CUSTOM_ROUTES) | set(RECORDLESS_ROUTES)


@pytest.mark.parametrize("path, method", sorted(RECORDLESS_ROUTES))
def test_a_route_on_no_record_serves_any_user_and_no_anonymous_caller(worlds, path, method):
    actor = worlds.get("missing").actor(Situation("none"))
    assert actor.api.request(method, path + "/", RECORDLESS_ROUTES[(path, method)]).status_code == 200
    assert actor.api.as_token(None).request(method, path + "/", RECORDLESS_ROUTES[(path, method)]).status_code == 401


@pytest.mark.parametrize("route", [pytest.param(route, id=route.label) for route in matrix_routes()
                                   if "{id}" in route.path])
def test_a_missing_object_is_404(worlds, route: Route):
    actor = worlds.get("missing").actor(Situation("none"))
    body = route.body({"id": 999999}) if route.body else {}
    r = actor.api.request(route.method, route.path.replace("{id}", "999999") + "/", body)
    assert r.status_code == 404, r.body


@pytest.mark.parametrize("route", [pytest.param(route, id=route.label) for route in matrix_routes()
                                   if route.need == "list"])
def test_an_unfiltered_list_shows_only_what_the_user_may_read(worlds, route: Route):
    world = worlds.get("lists")
    reader = Situation(unique("reader"), READ)  # a fresh user: nothing else is readable to them
    readable = build(world, route, reader)
    hidden = build(world, route, Situation(reader.name))  # the same user, no grant
    r = readable.actor.api.get(route.path + "/?limit=200")
    assert r.status_code == 200, r.body
    rows = r.data["results"]
    assert r.data["count"] == len(rows)
    assert readable.subject["id"] in [row["id"] for row in rows]
    assert hidden.subject["id"] not in [row["id"] for row in rows]
    (name, value), = narrowing(get(route.family), readable.subject).items()
    assert all(str(row[name]) == str(value) for row in rows)


# ---------------------------------------------------------------- attaching: "use" is execute


@dataclass(frozen=True)
class Attach:
    """A Ref field through which a record of one family uses a protected object, and the method
    that sets it: POST (a new record with it) or PATCH (one's own record, changed to it)."""

    resource: Resource
    field: Ref
    method: str

    @property
    def label(self) -> str:
        return f"{self.field.family}-{self.resource.family}.{self.field.name}-{self.method}"


#: (referring family, field) -> (the referrer's sample variant, the attached object's variant):
#: a project's credential is a user_pwd login for an https URL, a host source's is aws, ...
ATTACH_VARIANTS = {
    ("project", "credential"): ("https", "user_pwd"),
    ("project", "vault_credential"): (None, "vault"),
    ("project", "galaxy_credential"): (None, "galaxy"),
    ("template", "vault_credential"): (None, "vault"),
    ("job", "vault_credential"): (None, "vault"),
    ("job", "project"): ("playbook", None),
    ("host_source", "credential"): ("aws_ec2", "aws"),
    ("host_source", "project"): ("file", None),
    ("workflow_node", "bind_template"): ("job", None),
    ("workflow_node", "project"): ("project_sync", None),
}


def attach_points() -> list[Attach]:
    methods = {(doc.resource.family, doc.kind): doc.methods for doc in ROUTES if doc.resource is not None}
    points = []
    for resource in all_resources():
        for f in resource.refs:
            if f.read_only or f.name == resource.access.parent_field or get(f.family).access.kind != "protected":
                continue
            points += [Attach(resource, f, "POST")] if "POST" in methods.get((resource.family, "collection"), {}) else []
            points += [Attach(resource, f, "PATCH")] if "PATCH" in methods.get((resource.family, "item"), {}) else []
    return points


def attach_expect(point: Attach, s: Situation) -> int:
    allowed = level_on(point.field.family, s) >= LEVELS[point.field.needs]
    return (201 if point.method == "POST" else 200) if allowed else 403


ATTACH_CASES = [pytest.param(point, s, id=f"{point.label}-{s.name}-{attach_expect(point, s)}")
                for point in sorted(attach_points(), key=lambda point: point.field.family)
                for s in BASE_SITUATIONS]


@pytest.mark.parametrize("point,situation", ATTACH_CASES)
def test_attach(worlds, point: Attach, situation: Situation):
    world = worlds.get(f"attach-{point.field.family}")
    family, name = point.resource.family, point.field.name
    actor = world.actor(situation)
    referrer_variant, target_variant = ATTACH_VARIANTS.get((family, name), (None, None))
    target = world.create(point.field.family, variant=target_variant)
    grant = world.give(situation, point.field.family, target)
    if grant is not None and situation.revoked:
        world.revoke(grant)
    access = point.resource.access
    parent = world.scaffold(access.parent_family, actor, PARENT_VARIANTS.get(family)) if access.kind == "parent" else None
    payload = world.payload(family, parent, actor, referrer_variant)
    if point.method == "POST":
        before = store.count(family), store.count("job")
        r = actor.api.post(point.resource.path + "/", {**payload, name: target["id"]})
        after = store.count(family), store.count("job")
    else:
        own = world.create(family, parent, actor, payload=payload)
        before = store.get(family, own["id"])
        r = actor.api.patch(f"{point.resource.path}/{own['id']}/", {name: target["id"]})
        after = store.get(family, own["id"])
    wanted = attach_expect(point, situation)
    assert r.status_code == wanted, r.body
    if wanted == 403:
        assert r.data["detail"].startswith(f"{name}:")
        assert after == before
    else:
        assert r.data[name] == target["id"]

"""Execution environments (/api/system/execution_environment/): the resource, its validation and
grants ("read to use one", checked when attached and again at launch), and the ECS backend's task
definitions for their images (moto ECS): one registration per image, reused; venvs refused on AWS.

Speed: one moto stack for the module (`world`); every test makes its own records, named afresh.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass

import pytest
from chalice.test import Client

from chalicelib import aws
from chalicelib.services import auth, dispatch, runners, store
from chalicelib.services.resources import get
from tests.conftest import Api, moto_stack
from tests.ecs import runner_cluster

EES = "/api/system/execution_environment/"
EE_GRANTS = "/api/system/execution_environment/permission/users/"
TEMPLATES = "/api/template/template/"
TEMPLATE_GRANTS = "/api/template/template/permission/users/"
RUN = "/api/template/template/run/"
JOBS = "/api/job/job/"
IMAGE = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/opsgrat-ee:2.18"
_numbers = itertools.count(1)


def unique(prefix: str) -> str:
    return f"{prefix}{next(_numbers)}"


@dataclass
class World:
    api: Api
    cluster: str
    default_task_definition: str

    def user(self) -> tuple[dict, Api]:
        name = unique("user")
        r = self.api.post("/api/system/user/", {"username": name, "password": "s3cret-pass", "last_name": name})
        assert r.status_code == 201, r.body
        t = self.api.as_token(None).post("/api/auth/token/", {"username": name, "password": "s3cret-pass"})
        return r.data, self.api.as_token(t.data["token"])

    def template(self) -> dict:
        project = store.create(get("project"), {"name": unique("site"), "repository_url": "file:///srv/site.git",
                                                "playbooks": ["site.yml"]})
        inventory = created(self.api.post("/api/project/inventory/", {"name": unique("prod")}))
        return created(self.api.post(TEMPLATES, {"name": unique("deploy"), "project": project["id"],
                                                 "playbook": "site.yml", "inventory": inventory["id"]}))


def _app():
    from app import app

    return app


@pytest.fixture(scope="module")
def world():
    with pytest.MonkeyPatch.context() as env, moto_stack(), Client(_app()) as client:
        _, token = auth.ensure_superuser("admin")
        made = runner_cluster()
        for name, value in made.environment().items():
            env.setenv(name, value)
        runners.backend("ecs").images.forget()  # nothing remembered from another module's moto
        yield World(Api(client, token), made.cluster, made.task_definition)
        runners.backend("ecs").images.forget()


@pytest.fixture
def api(world) -> Api:
    return world.api


def created(r) -> dict:
    assert r.status_code == 201, r.body
    return r.data


def execution_environment(api, name: str | None = None, **fields) -> dict:
    return created(api.post(EES, {"name": name or unique("ee"), **fields}))


def launched(api, template: dict, ee: dict | None) -> dict:
    if ee is not None:
        assert api.patch(f"{TEMPLATES}{template['id']}/", {"execution_environment": ee["id"]}).status_code == 200
    return created(api.post(RUN, {"id": template["id"]}))


def bad(r, field: str) -> None:
    assert r.status_code == 400, r.body
    assert r.data["detail"].startswith(f"{field}:"), r.data["detail"]


def refused(r, field: str) -> None:
    assert r.status_code == 403, r.body
    assert r.data["detail"].startswith(f"{field}:"), r.data["detail"]


def task_definition_of(cluster: str, runner_id: str) -> str:
    return aws.client("ecs").describe_tasks(cluster=cluster, tasks=[runner_id[4:]])["tasks"][0]["taskDefinitionArn"]


# ---------------------------------------------------------------- the resource


def test_an_execution_environment_has_its_fields_and_the_template_shows_its_name(world, api):
    ee = execution_environment(api, "ee-2.18", image=IMAGE, pull="always", description="ansible-core 2.18")
    assert {k: ee[k] for k in ("name", "image", "pull", "pull_name", "venv", "description")} == {
        "name": "ee-2.18", "image": IMAGE, "pull": "always", "pull_name": "Always pull container before running.",
        "venv": "", "description": "ansible-core 2.18"}
    r = api.patch(f"{TEMPLATES}{world.template()['id']}/", {"execution_environment": ee["id"]})
    assert (r.data["execution_environment"], r.data["execution_environment_name"]) == (ee["id"], "ee-2.18")


def test_a_job_records_the_execution_environment_its_template_named(world, api):
    ee = execution_environment(api, image=IMAGE)
    job = launched(api, world.template(), ee)
    assert (job["execution_environment"], job["execution_environment_name"]) == (ee["id"], ee["name"])


def test_an_ad_hoc_job_may_name_an_execution_environment(world, api):
    ee = execution_environment(api, image=IMAGE)
    r = api.post(JOBS, {"module": "command", "arguments": "true", "inventory": world.template()["inventory"],
                        "execution_environment": ee["id"]})
    assert created(r)["execution_environment"] == ee["id"]


@pytest.mark.parametrize("venv", ["relative/venv", "/opt/../etc", "/", "/opt/venv\x00x"])
def test_a_venv_must_be_an_absolute_path(api, venv):
    bad(api.post(EES, {"name": unique("local"), "venv": venv}), "venv")


def test_a_venv_is_stored_normalized(api):
    assert execution_environment(api, venv="/opt/venvs//ansible-2.18/")["venv"] == "/opt/venvs/ansible-2.18"


@pytest.mark.parametrize("image", ["Upper/Case", "bad image", "repo:tag:more", "a/b@sha256:123"])
def test_an_image_must_be_a_container_image_reference(api, image):
    bad(api.post(EES, {"name": unique("aws"), "image": image}), "image")


def test_pull_is_one_of_the_policies(api):
    bad(api.post(EES, {"name": unique("aws"), "image": IMAGE, "pull": "sometimes"}), "pull")


def test_a_workflow_template_names_no_execution_environment(api):
    ee = execution_environment(api, image=IMAGE)
    bad(api.post(TEMPLATES, {"name": unique("flow"), "template_type": "workflow", "execution_environment": ee["id"]}),
        "execution_environment")


def test_only_superusers_set_an_image_or_a_venv(world):
    _, alice = world.user()
    refused(alice.post(EES, {"name": unique("mine"), "image": IMAGE}), "image")
    refused(alice.post(EES, {"name": unique("mine"), "venv": "/root"}), "venv")
    own = created(alice.post(EES, {"name": unique("mine"), "description": "the runner image under a name"}))
    refused(alice.patch(f"{EES}{own['id']}/", {"venv": "/root"}), "venv")


# ---------------------------------------------------------------- grants: read to use one


def test_attaching_an_execution_environment_needs_read_on_it(world, api):
    alice_user, alice = world.user()
    template = world.template()
    ee = execution_environment(api, image=IMAGE)
    created(api.post(TEMPLATE_GRANTS, {"username": alice_user["id"], "data": template["id"], "permission": "write"}))
    refused(alice.patch(f"{TEMPLATES}{template['id']}/", {"execution_environment": ee["id"]}), "execution_environment")
    created(api.post(EE_GRANTS, {"username": alice_user["id"], "data": ee["id"], "permission": "read"}))
    assert alice.patch(f"{TEMPLATES}{template['id']}/", {"execution_environment": ee["id"]}).status_code == 200


def test_a_launch_by_a_user_who_lost_read_on_the_execution_environment_is_refused(world, api):
    alice_user, alice = world.user()
    template = world.template()
    ee = execution_environment(api, image=IMAGE)
    grant = created(api.post(EE_GRANTS, {"username": alice_user["id"], "data": ee["id"], "permission": "read"}))
    created(api.post(TEMPLATE_GRANTS, {"username": alice_user["id"], "data": template["id"], "permission": "execute"}))
    assert api.patch(f"{TEMPLATES}{template['id']}/", {"execution_environment": ee["id"]}).status_code == 200
    assert alice.post(RUN, {"id": template["id"]}).status_code == 201
    assert api.delete(f"{EE_GRANTS}{grant['id']}/").status_code == 204
    jobs_before = store.count("job")
    refused(alice.post(RUN, {"id": template["id"]}), "execution_environment")
    assert store.count("job") == jobs_before


def test_a_launch_naming_a_deleted_execution_environment_is_a_400(world, api):
    template = world.template()
    ee = execution_environment(api, image=IMAGE)
    assert api.patch(f"{TEMPLATES}{template['id']}/", {"execution_environment": ee["id"]}).status_code == 200
    assert api.delete(f"{EES}{ee['id']}/").status_code == 204
    bad(api.post(RUN, {"id": template["id"]}), "execution_environment")


# ---------------------------------------------------------------- AWS: task definitions per image


def test_a_job_without_execution_environment_runs_the_installations_task_definition(world, api):
    job = launched(api, world.template(), None)
    assert task_definition_of(world.cluster, runners.start(job["id"])) == world.default_task_definition


def test_the_first_job_with_an_image_registers_its_task_definition_and_the_next_reuses_it(world, api):
    image = f"{IMAGE}-{unique('reuse')}"
    ee = execution_environment(api, image=image)
    family = runners.image_family("opsgrat-runner", image)
    template = world.template()
    first = task_definition_of(world.cluster, runners.start(launched(api, template, ee)["id"]))
    assert first.endswith(f"task-definition/{family}:1")
    ecs = aws.client("ecs")
    definition = ecs.describe_task_definition(taskDefinition=first)["taskDefinition"]
    default = ecs.describe_task_definition(taskDefinition=world.default_task_definition)["taskDefinition"]
    assert [c["image"] for c in definition["containerDefinitions"]] == [image]
    assert [{**c, "image": ""} for c in definition["containerDefinitions"]] == \
        [{**c, "image": ""} for c in default["containerDefinitions"]]
    for key in ("cpu", "memory", "networkMode", "taskRoleArn", "executionRoleArn", "requiresCompatibilities"):
        assert definition[key] == default[key], key
    runners.backend("ecs").images.forget()  # another dispatcher (a cold Lambda): it finds the copy by its family
    second = task_definition_of(world.cluster, runners.start(launched(api, world.template(), None)["id"]))
    third = task_definition_of(world.cluster, runners.start(launched(api, template, ee)["id"]))
    assert (second, third) == (world.default_task_definition, first)
    assert ecs.list_task_definitions(familyPrefix=family)["taskDefinitionArns"] == [first]


def test_a_job_whose_execution_environment_names_a_venv_fails_on_aws_with_the_reason(world, api):
    ee = execution_environment(api, venv="/opt/venvs/ansible-2.18")
    job = launched(api, world.template(), ee)
    dispatch.begin(job["id"], "token-of-the-test")
    failed = store.get("job", job["id"])
    assert failed["state"] == "failed"
    assert f'execution_environment: execution environment {ee["id"]}' in failed["reason"]
    assert "venv" in failed["reason"] and "on AWS it needs an image" in failed["reason"]

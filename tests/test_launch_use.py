"""Using an object is `execute` on it, checked again at every launch (chalicelib/services/launch.py).

Attaching an inventory, project or credential to a template (or a credential to a project or an
inventory) needs execute on it; read only shows it. A launch re-checks that every object the job
uses is usable by the launcher or by its voucher, the user who attached it; a user who may only
execute a template runs it with what its editor attached, for as long as the editor may use it.

The cast: carol owns the credential and lets alice use it; alice builds the template; bob may only
execute the template.
"""
from __future__ import annotations

from dataclasses import dataclass

import pytest

from chalicelib.services import store
from tests.conftest import Api

CREDENTIALS = "/api/project/credential/"
PROJECTS = "/api/project/project/"
INVENTORIES = "/api/project/inventory/"
TEMPLATES = "/api/template/template/"
RUN = "/api/template/template/run/"
JOBS = "/api/job/job/"
GRANTS = {"credential": "/api/project/credential/authorized/users/",
          "project": "/api/project/project/authorized/users/",
          "inventory": "/api/project/inventory/authorized/users/",
          "template": "/api/template/template/permission/users/"}


@dataclass
class Person:
    user: dict
    api: Api


def created(r) -> dict:
    assert r.status_code == 201, r.body
    return r.data


def grant(owner: Person, family: str, obj: dict, to: Person, permission: str) -> int:
    return created(owner.api.post(GRANTS[family], {"username": to.user["id"], "data": obj["id"],
                                                   "permission": permission}))["id"]


def withdraw(owner: Person, family: str, grant_id: int) -> None:
    assert owner.api.delete(f"{GRANTS[family]}{grant_id}/").status_code == 204


def ssh_credential(owner: Person, name: str = "web login") -> dict:
    return created(owner.api.post(CREDENTIALS, {"name": name, "type": "ssh", "user_name": "deploy", "password": "pw-1"}))


def refused(r, field: str) -> None:
    assert r.status_code == 403, r.body
    assert r.data["detail"].startswith(f"{field}:"), r.data["detail"]


@pytest.fixture
def admin(api) -> Person:
    return Person({}, api)


@pytest.fixture
def people(make_user):
    return {name: Person(*make_user(name)) for name in ("carol", "alice", "bob")}


@pytest.fixture
def carol(people) -> Person:
    return people["carol"]


@pytest.fixture
def alice(people) -> Person:
    return people["alice"]


@pytest.fixture
def bob(people) -> Person:
    return people["bob"]


@dataclass
class Setup:
    credential: dict
    #: carol's grant of execute on the credential to alice
    alice_may_use: int
    project: dict
    inventory: dict
    template: dict


@pytest.fixture
def setup(carol, alice, bob) -> Setup:
    """carol's credential, which alice may use; alice's project, inventory and template with it;
    bob may execute the template and nothing else."""
    credential = ssh_credential(carol)
    alice_may_use = grant(carol, "credential", credential, alice, "execute")
    project = created(alice.api.post(PROJECTS, {"name": "site", "repository_url": "file:///srv/site.git"}))
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod"}))
    template = created(alice.api.post(TEMPLATES, {"name": "deploy", "project": project["id"], "playbook": "site.yml",
                                                  "inventory": inventory["id"], "credential": credential["id"]}))
    grant(alice, "template", template, bob, "execute")
    return Setup(credential, alice_may_use, project, inventory, template)


def run(person: Person, template: dict, **extra):
    return person.api.post(RUN, {"id": template["id"], **extra})


# ---------------------------------------------------------------- attaching


def test_read_on_someone_elses_inventory_and_credential_does_not_let_one_attach_them(alice, bob):
    """The reported exploit: a reader put another user's inventory and credential in his own
    template, and ran his own playbook with them."""
    credential = ssh_credential(alice)
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod"}))
    grant(alice, "credential", credential, bob, "read")
    grant(alice, "inventory", inventory, bob, "read")
    project = created(bob.api.post(PROJECTS, {"name": "mine", "repository_url": "file:///srv/mine.git"}))
    refused(bob.api.post(TEMPLATES, {"name": "steal", "project": project["id"], "playbook": "print.yml",
                                     "inventory": inventory["id"], "credential": credential["id"]}), "inventory")
    assert bob.api.get(TEMPLATES).data["count"] == 0


def test_read_on_a_credential_is_not_enough_to_attach_it_to_ones_own_template(alice, bob):
    credential = ssh_credential(alice)
    grant(alice, "credential", credential, bob, "read")
    project = created(bob.api.post(PROJECTS, {"name": "mine", "repository_url": "file:///srv/mine.git"}))
    inventory = created(bob.api.post(INVENTORIES, {"name": "mine"}))
    template = created(bob.api.post(TEMPLATES, {"name": "mine", "project": project["id"], "playbook": "site.yml",
                                                "inventory": inventory["id"]}))
    refused(bob.api.patch(f"{TEMPLATES}{template['id']}/", {"credential": credential["id"]}), "credential")
    assert bob.api.get(f"{CREDENTIALS}{credential['id']}/").status_code == 200  # read shows it


def test_execute_on_them_is_enough_to_attach_and_run_them(alice, bob):
    credential = ssh_credential(alice)
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod"}))
    grant(alice, "credential", credential, bob, "execute")
    grant(alice, "inventory", inventory, bob, "execute")
    project = created(bob.api.post(PROJECTS, {"name": "mine", "repository_url": "file:///srv/mine.git"}))
    template = created(bob.api.post(TEMPLATES, {"name": "mine", "project": project["id"], "playbook": "site.yml",
                                                "inventory": inventory["id"], "credential": credential["id"]}))
    job = created(run(bob, template))
    assert (job["inventory"], job["credential"]) == (inventory["id"], credential["id"])


def test_resaving_a_template_unchanged_needs_no_use_and_keeps_its_voucher(make_user, carol, alice, bob, setup):
    """An editor who may not use the credential can still edit the rest of the template; the
    credential stays alice's to vouch for, so withdrawing her use still stops it."""
    dave = Person(*make_user("dave"))
    grant(alice, "template", setup.template, dave, "write")
    grant(carol, "credential", setup.credential, dave, "read")
    body = {k: setup.template[k] for k in ("name", "project", "playbook", "inventory", "credential")}
    r = dave.api.put(f"{TEMPLATES}{setup.template['id']}/", {**body, "description": "edited by dave"})
    assert r.status_code == 200, r.body
    withdraw(carol, "credential", setup.alice_may_use)
    refused(run(bob, setup.template), "credential")


# ---------------------------------------------------------------- vouching at launch


def test_a_user_with_only_execute_on_a_template_runs_it_with_what_its_editor_attached(bob, setup):
    job = created(run(bob, setup.template))
    assert (job["inventory"], job["project"], job["credential"]) == \
        (setup.inventory["id"], setup.project["id"], setup.credential["id"])


def test_reading_a_template_is_not_enough_to_run_it(alice, make_user, setup):
    reader = Person(*make_user("reader"))
    grant(alice, "template", setup.template, reader, "read")
    assert run(reader, setup.template).status_code == 403


def test_once_the_editors_use_of_the_credential_is_withdrawn_the_template_no_longer_runs(carol, bob, setup):
    withdraw(carol, "credential", setup.alice_may_use)
    refused(run(bob, setup.template), "credential")
    assert store.count("job") == 0


def test_the_editor_whose_use_was_withdrawn_cannot_run_it_either(carol, alice, setup):
    withdraw(carol, "credential", setup.alice_may_use)
    refused(run(alice, setup.template), "credential")


def test_a_launcher_who_may_use_the_credential_himself_still_runs_it(carol, bob, setup):
    withdraw(carol, "credential", setup.alice_may_use)
    grant(carol, "credential", setup.credential, bob, "execute")
    assert run(bob, setup.template).status_code == 201


def test_a_superuser_runs_it_whatever_the_grants(admin, carol, setup):
    withdraw(carol, "credential", setup.alice_may_use)
    assert run(admin, setup.template).status_code == 201


def test_a_deactivated_voucher_no_longer_vouches(api, alice, bob, setup):
    assert api.patch(f"/api/system/user/{alice.user['id']}/", {"active": 0}).status_code == 200
    refused(run(bob, setup.template), "inventory")  # the first object alice vouched for


def test_a_deleted_voucher_no_longer_vouches(api, alice, bob, setup):
    assert api.delete(f"/api/system/user/{alice.user['id']}/").status_code == 204
    refused(run(bob, setup.template), "inventory")


def test_a_projects_credential_is_re_checked_at_launch(carol, alice, bob):
    login = created(carol.api.post(CREDENTIALS, {"name": "git", "type": "user_pwd", "user_name": "git", "password": "pw"}))
    alice_may_use = grant(carol, "credential", login, alice, "execute")
    project = created(alice.api.post(PROJECTS, {"name": "site", "repository_url": "https://git.example.com/site.git",
                                                "credential": login["id"]}))
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod"}))
    template = created(alice.api.post(TEMPLATES, {"name": "deploy", "project": project["id"], "playbook": "site.yml",
                                                  "inventory": inventory["id"]}))
    grant(alice, "template", template, bob, "execute")
    assert run(bob, template).status_code == 201
    withdraw(carol, "credential", alice_may_use)
    refused(run(bob, template), "project.credential")


def test_a_project_sync_re_checks_the_projects_credential(carol, alice, bob):
    login = created(carol.api.post(CREDENTIALS, {"name": "git", "type": "user_pwd", "user_name": "git", "password": "pw"}))
    alice_may_use = grant(carol, "credential", login, alice, "execute")
    project = created(alice.api.post(PROJECTS, {"name": "site", "repository_url": "https://git.example.com/site.git",
                                                "credential": login["id"]}))
    grant(alice, "project", project, bob, "execute")
    withdraw(carol, "credential", alice_may_use)
    refused(bob.api.post(f"{PROJECTS}{project['id']}/sync/"), "project.credential")


def test_a_project_sync_and_a_run_re_check_the_projects_galaxy_credential(carol, alice, bob):
    galaxy = created(carol.api.post(CREDENTIALS, {"name": "hub", "type": "galaxy", "url": "https://hub.example.com/",
                                                  "token": "tok-1"}))
    alice_may_use = grant(carol, "credential", galaxy, alice, "execute")
    project = created(alice.api.post(PROJECTS, {"name": "site", "repository_url": "file:///srv/site.git",
                                                "galaxy_credential": galaxy["id"]}))
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod"}))
    template = created(alice.api.post(TEMPLATES, {"name": "deploy", "project": project["id"], "playbook": "site.yml",
                                                  "inventory": inventory["id"]}))
    grant(alice, "project", project, bob, "execute")
    grant(alice, "template", template, bob, "execute")
    assert bob.api.post(f"{PROJECTS}{project['id']}/sync/").status_code == 201
    withdraw(carol, "credential", alice_may_use)
    refused(bob.api.post(f"{PROJECTS}{project['id']}/sync/"), "project.galaxy_credential")
    refused(run(bob, template), "project.galaxy_credential")


def _inventory_with_login(carol: Person, alice: Person, bob: Person, template_credential: dict | None = None):
    """alice's template on alice's inventory, whose login credential carol lets alice use."""
    login = ssh_credential(carol, "inventory login")
    alice_may_use = grant(carol, "credential", login, alice, "execute")
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod", "credential": login["id"]}))
    project = created(alice.api.post(PROJECTS, {"name": "site", "repository_url": "file:///srv/site.git"}))
    body = {"name": "deploy", "project": project["id"], "playbook": "site.yml", "inventory": inventory["id"]}
    if template_credential is not None:
        body["credential"] = template_credential["id"]
    template = created(alice.api.post(TEMPLATES, body))
    grant(alice, "template", template, bob, "execute")
    return template, alice_may_use


def test_an_inventorys_login_credential_is_re_checked_when_the_job_has_none(carol, alice, bob):
    template, alice_may_use = _inventory_with_login(carol, alice, bob)
    assert run(bob, template).status_code == 201
    withdraw(carol, "credential", alice_may_use)
    refused(run(bob, template), "inventory.credential")


def test_an_inventorys_login_credential_is_not_used_when_the_job_has_its_own(carol, alice, bob):
    template, alice_may_use = _inventory_with_login(carol, alice, bob, template_credential=ssh_credential(alice))
    withdraw(carol, "credential", alice_may_use)
    assert run(bob, template).status_code == 201


def test_a_host_source_sync_re_checks_the_project_its_editor_attached(admin, alice, bob):
    project = created(admin.api.post(PROJECTS, {"name": "hosts", "repository_url": "file:///srv/hosts.git"}))
    inventory = created(admin.api.post(INVENTORIES, {"name": "prod"}))
    alice_may_use = grant(admin, "project", project, alice, "execute")
    grant(admin, "inventory", inventory, alice, "write")
    grant(admin, "inventory", inventory, bob, "write")
    source = created(alice.api.post("/api/project/host/source/", {"name": "file", "inventory": inventory["id"],
                                                                  "source_type": "file", "project": project["id"],
                                                                  "host_file": "hosts"}))
    sync = f"/api/project/host/source/{source['id']}/sync/"
    assert bob.api.post(sync).status_code == 201  # bob has no grant on the project: alice vouches
    withdraw(admin, "project", alice_may_use)
    refused(bob.api.post(sync), "project")


# ---------------------------------------------------------------- ad-hoc commands and inline inventories


def test_an_adhoc_command_needs_execute_on_the_inventory(alice, bob):
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod"}))
    grant(alice, "inventory", inventory, bob, "read")
    refused(bob.api.post(JOBS, {"module": "command", "arguments": "id", "inventory": inventory["id"]}), "inventory")


def test_an_adhoc_command_runs_with_execute_on_the_inventory(alice, bob):
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod"}))
    grant(alice, "inventory", inventory, bob, "execute")
    job = created(bob.api.post(JOBS, {"module": "command", "arguments": "id", "inventory": inventory["id"]}))
    assert job["kind"] == "adhoc"


def test_an_adhoc_command_needs_execute_on_its_credential(alice, bob):
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod"}))
    credential = ssh_credential(alice)
    grant(alice, "inventory", inventory, bob, "execute")
    grant(alice, "credential", credential, bob, "read")
    refused(bob.api.post(JOBS, {"module": "command", "arguments": "id", "inventory": inventory["id"],
                                "credential": credential["id"]}), "credential")


def test_an_adhoc_command_uses_the_inventorys_login_for_as_long_as_its_attacher_may(carol, alice, bob):
    """The job's own references need the launcher's own use; the login an inventory brings along
    is vouched for by whoever attached it to the inventory, as for a template run."""
    login = ssh_credential(carol, "inventory login")
    alice_may_use = grant(carol, "credential", login, alice, "execute")
    inventory = created(alice.api.post(INVENTORIES, {"name": "prod", "credential": login["id"]}))
    grant(alice, "inventory", inventory, bob, "execute")
    command = {"module": "command", "arguments": "id", "inventory": inventory["id"]}
    assert bob.api.post(JOBS, command).status_code == 201
    withdraw(carol, "credential", alice_may_use)
    refused(bob.api.post(JOBS, command), "inventory.credential")


def test_an_inline_inventory_from_a_non_superuser_is_403_for_an_adhoc_command(bob):
    refused(bob.api.post(JOBS, {"module": "command", "arguments": "id", "inventory_str": "web1\n"}), "inventory_str")


def test_an_inline_inventory_from_a_non_superuser_is_403_for_a_template_run(bob, setup):
    refused(run(bob, setup.template, inventory_str="evil.example.com\n"), "inventory_str")


def test_a_superuser_may_use_an_inline_inventory(admin, setup):
    assert admin.api.post(JOBS, {"module": "command", "arguments": "id", "inventory_str": "web1\n"}).status_code == 201
    assert run(admin, setup.template, inventory_str="web1\n").status_code == 201


# ---------------------------------------------------------------- relaunch


def test_a_relaunch_re_checks_use(carol, bob, setup):
    job = created(run(bob, setup.template))
    withdraw(carol, "credential", setup.alice_may_use)
    refused(bob.api.post(f"{JOBS}{job['id']}/relaunch/", {"hosts": "all"}), "credential")


def test_a_relaunch_needs_execute_on_the_template_still(alice, bob, setup):
    job = created(run(bob, setup.template))
    own = alice.api.get(f"{GRANTS['template']}?data={setup.template['id']}&username={bob.user['id']}").data["results"]
    assert len(own) == 1
    withdraw(alice, "template", own[0]["id"])
    assert bob.api.get(f"{JOBS}{job['id']}/").status_code == 200  # his job: he still sees it
    assert bob.api.post(f"{JOBS}{job['id']}/relaunch/", {"hosts": "all"}).status_code == 403


def test_a_relaunch_of_an_inline_inventory_job_is_for_superusers(admin, bob, setup):
    job = created(run(admin, setup.template, inventory_str="web1\n"))
    assert bob.api.get(f"{JOBS}{job['id']}/").status_code == 200  # readable through the template
    refused(bob.api.post(f"{JOBS}{job['id']}/relaunch/", {"hosts": "all"}), "inventory_str")


def test_a_job_whose_template_was_deleted_is_relaunched_by_superusers_only(admin, alice, bob, setup):
    """Relaunching needs execute on the job's template, which nobody holds once it is gone."""
    job = created(run(bob, setup.template))
    assert alice.api.delete(f"{TEMPLATES}{setup.template['id']}/").status_code == 204
    refused(bob.api.post(f"{JOBS}{job['id']}/relaunch/", {"hosts": "all"}), "template")
    assert admin.api.post(f"{JOBS}{job['id']}/relaunch/", {"hosts": "all"}).status_code == 201


# ---------------------------------------------------------------- launch-time variables


def test_launch_time_variables_are_the_launchers_own_so_nothing_is_vouched_for(bob, setup):
    """Extra variables can point a playbook's connections elsewhere (`ansible_host`) and so hand
    the credential to whoever set them: with variables of one's own, one uses only what one may
    use oneself."""
    refused(run(bob, setup.template, variables={"ansible_host": "evil.example.com"}), "inventory")
    assert store.count("job") == 0


def test_a_launcher_who_may_use_everything_himself_may_set_variables(alice, setup):
    assert run(alice, setup.template, variables="who: alice").status_code == 201


def test_variables_equal_to_the_templates_keep_what_its_editor_vouched_for(alice, bob, setup):
    assert alice.api.patch(f"{TEMPLATES}{setup.template['id']}/", {"variables": "who: world"}).status_code == 200
    assert run(bob, setup.template, variables={"who": "world"}).status_code == 201


def test_a_relaunch_of_a_run_with_launch_time_variables_is_vouched_for_by_nobody(alice, bob, setup):
    job = created(run(alice, setup.template, variables="who: alice"))
    refused(bob.api.post(f"{JOBS}{job['id']}/relaunch/", {"hosts": "all"}), "inventory")

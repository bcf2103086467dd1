"""The default collections (runner_image/collections.txt): a job of the local stack resolves a
module of each of them (ansible resolves every task's action when it loads the play, run or not),
runs the ones that work offline on localhost, and still fails on a collection that is not shipped."""
from __future__ import annotations

import pytest

pytestmark = pytest.mark.e2e

#: one module of each default collection, resolved only (`when: false`): a name ansible cannot
#: resolve fails the play before anything runs
RESOLVED = """
    - name: one module of each default collection is resolvable
      when: false
      block:
        - ansible.posix.sysctl: {name: vm.swappiness, value: "10"}
        - ansible.utils.cli_parse: {command: show version, parser: {name: ansible.utils.textfsm}}
        - ansible.netcommon.cli_command: {command: show version}
        - ansible.windows.win_ping:
        - community.general.timezone: {name: UTC}
        - timezone: {name: UTC}  # the short name of the issue: ansible-core redirects it to community.general
        - community.crypto.x509_certificate_info: {path: /nonexistent}
        - amazon.aws.s3_bucket: {name: nothing}
        - kubernetes.core.k8s_info: {kind: Pod}
"""

PLAYBOOKS = {
    "defaults.yml": """- hosts: all
  gather_facts: false
  tasks:""" + RESOLVED + """
    - ansible.builtin.tempfile: {state: directory}
      register: scratch
    - community.general.ini_file: {path: "{{ scratch.path }}/app.ini", section: main, option: color, value: blue}
    - community.crypto.openssl_privatekey: {path: "{{ scratch.path }}/key.pem", type: Ed25519}
    - community.crypto.openssl_privatekey_info: {path: "{{ scratch.path }}/key.pem"}
      register: key
    - ansible.posix.authorized_key:
        user: "{{ lookup('env', 'USER') }}"
        key: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIN4VHql44T56iE9JrcSPDrgVg39/kEW2yW7NrTQhOaP0 check@example
        path: "{{ scratch.path }}/authorized_keys"
        manage_dir: false
      check_mode: true
      register: authorized
    - ansible.builtin.assert:
        that:
          - "'color = blue' in lookup('file', scratch.path ~ '/app.ini')"
          - key.type == 'Ed25519'
          - authorized is changed
          - (nested | ansible.utils.to_paths) == paths
          - ([1, 2, 3, 5] | ansible.netcommon.vlan_parser) == ['1-3,5']
          - ('a b' | ansible.windows.quote) == quoted
          - (configmap | kubernetes.core.k8s_config_resource_name).startswith('settings-')
      vars:
        nested: {a: {b: 1}}
        paths: {a.b: 1}
        quoted: '"a b"'
        configmap: {kind: ConfigMap, metadata: {name: settings}, data: {a: b}}
    - ansible.builtin.debug: {msg: "default collections ran"}
""",
    "not_shipped.yml": """- hosts: all
  gather_facts: false
  tasks:
    - community.docker.docker_container: {name: nothing}
      when: false
""",
}


@pytest.fixture(scope="module")
def templates(stack, tmp_path_factory):
    return stack.playbook_templates(tmp_path_factory.mktemp("collections"), PLAYBOOKS, "collections")


def _run(stack, template) -> tuple[dict, str]:
    job = stack.http("POST", "/api/template/template/run/", json={"id": template["id"]}).json()
    final = stack.wait_job(job["id"])
    return final, stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=txt").text


def test_a_job_resolves_and_runs_modules_of_every_default_collection(stack, templates):
    job, stdout = _run(stack, templates["defaults.yml"])
    assert job["state"] == "successful", stdout
    assert "default collections ran" in stdout


def test_a_module_of_a_collection_that_is_not_shipped_fails_the_job(stack, templates):
    job, stdout = _run(stack, templates["not_shipped.yml"])
    assert job["state"] == "failed", stdout
    assert "couldn't resolve module/action 'community.docker.docker_container'" in stdout

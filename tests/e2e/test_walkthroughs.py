"""The manual's three walkthroughs (spec §13) as a user follows them, through the API, in check mode.

Each scenario's steps are the manual's: two credentials (the host login, `ssh`; the GitLab login,
`user_pwd`), a git project at `master` with the scenario's files verbatim, an inventory, a job
template with the manual's name, playbook and extra variables, then `POST
/api/template/template/run/`, polling the job and reading `GET /api/job/log/?job=`. What differs,
and why:

* The managed hosts: the manual's 10.100.12.45 and 10.100.10.244 are not reachable from here, so
  each inventory has one host, the real sshd on 127.0.0.1 (tests/sshd.py). That sshd allows no
  root login, so the `ssh` credential logs in as its user with a password and becomes root with
  sudo (the template's `become_enabled`), where the manual logs in as root.
* GitLab: a loopback HTTP git server (tests/gitserver.py) that requires the `user_pwd`
  credential's user name and password, with the repositories at the manual's paths (`test/user.git`).
* Galaxy/GitHub: no internet, so §13.2's `tomcat-ansible-role` is a small role written here with the
  manual's variables, in a public git repository on a second loopback server, and the project names
  it in `roles/requirements.yml` (installed by the sync) instead of committing it into `roles/`.
  That server is also the Apache mirror: the manual's `mirror.bit.edu.cn` cannot be reached, so the
  launch overrides `tomcat_downloadURL` (launch variables are merged over the template's).
* Every job is launched with `job_type: check` (the templates say `run`, as in the manual), so
  nothing is installed on this machine: check mode reports what would change.
"""
from __future__ import annotations

import io
import os
import pwd
import re
import secrets
import tarfile

import pytest

from tests.gitserver import init_repo, publish_bare, serve_http

pytestmark = pytest.mark.e2e

GITLAB_USER, GITLAB_PASSWORD = "gitlab", "gl-" + secrets.token_hex(6)
HOST = "127.0.0.1"  # stands in for the manual's 10.100.12.45 and 10.100.10.244 (not reachable here)

# ---------------------------------------------------------------- §13.1 (verbatim)

USER_MAIN = """---
# Create user

- hosts: all
  tasks:
   - name: Create group
     group:
       name: "{{ group_name }}"
       state: present

   - name: Create user
     user:
       name: "{{ user_name }}"
       groups: "{{ group_name }}"
       state: present

   - name: Create .ssh
     file:
       path: "/home/{{ user_name }}/.ssh"
       owner: "{{ user_name }}"
       group: "{{ group_name }}"
       mode: 0700
       state: directory

   - name: Deploy authorized_keys
     copy:
       src: authorized_keys
       dest: "/home/{{ user_name }}/.ssh/authorized_keys"
       owner: "{{ user_name }}"
       group: "{{ group_name }}"
       mode: 0600
"""
AUTHORIZED_KEYS = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOpsGratWalkthroughKeyOnlyForTests deploy@walkthrough\n"
USER_VARIABLES = "user_name: deploy\ngroup_name: deploy"

# ---------------------------------------------------------------- §13.2

TOMCAT_MAIN = """---
# Install Tomcat

- hosts: all

  roles:
  - tomcat

  tags:
  - tomcat
"""
TOMCAT_VARIABLES = """tomcat_version: 8.5.42

# Here are variables related to the Tomcat installation

http_port: 8080
https_port: 8443

# This will configure a default manager-gui user:

admin_username: admin
admin_password: admin

tomcat_downloadURL: http://mirror.bit.edu.cn/apache
"""
#: the stand-in for Galaxy's tomcat-ansible-role: the manual's variables, the usual steps
TOMCAT_ROLE = {
    "meta/main.yml": "galaxy_info:\n  author: opsgrat tests\n  description: Apache Tomcat (a stand-in for "
                     "tomcat-ansible-role)\n  license: MIT\n  min_ansible_version: \"2.14\"\n  platforms: []\n"
                     "dependencies: []\n",
    "defaults/main.yml": """tomcat_version: 9.0.98
http_port: 8080
https_port: 8443
admin_username: admin
admin_password: admin
tomcat_downloadURL: https://archive.apache.org/dist
tomcat_home: /opt/tomcat
tomcat_major: "{{ tomcat_version.split('.')[0] }}"
tomcat_archive_url: "{{ tomcat_downloadURL }}/tomcat/tomcat-{{ tomcat_major }}/v{{ tomcat_version }}/bin/apache-tomcat-{{ tomcat_version }}.tar.gz"
""",
    "tasks/main.yml": """---
- name: Create the tomcat group
  ansible.builtin.group:
    name: tomcat
    system: true

- name: Create the tomcat user
  ansible.builtin.user:
    name: tomcat
    group: tomcat
    home: "{{ tomcat_home }}"
    shell: /bin/false
    system: true
    create_home: false

- name: Show the download
  ansible.builtin.debug:
    msg: "Apache Tomcat {{ tomcat_version }} from {{ tomcat_archive_url }}"

- name: Download Apache Tomcat
  ansible.builtin.get_url:
    url: "{{ tomcat_archive_url }}"
    dest: "/opt/apache-tomcat-{{ tomcat_version }}.tar.gz"
    mode: "0644"

- name: Create the Tomcat directory
  ansible.builtin.file:
    path: "{{ tomcat_home }}"
    state: directory
    owner: tomcat
    group: tomcat
    mode: "0755"

- name: Unpack Apache Tomcat
  ansible.builtin.unarchive:
    src: "/opt/apache-tomcat-{{ tomcat_version }}.tar.gz"
    dest: "{{ tomcat_home }}"
    remote_src: true
    extra_opts: [--strip-components=1]
    owner: tomcat
    group: tomcat
    creates: "{{ tomcat_home }}/bin/catalina.sh"
  # a check run downloads nothing, so there is no archive to unpack yet
  when: not ansible_check_mode

- name: Configure the connectors (server.xml)
  ansible.builtin.template:
    src: server.xml.j2
    dest: "{{ tomcat_home }}/conf/server.xml"
    owner: tomcat
    group: tomcat
    mode: "0640"
  notify: restart tomcat

- name: Configure the manager-gui user (tomcat-users.xml)
  ansible.builtin.template:
    src: tomcat-users.xml.j2
    dest: "{{ tomcat_home }}/conf/tomcat-users.xml"
    owner: tomcat
    group: tomcat
    mode: "0640"
  notify: restart tomcat

- name: Install the systemd unit
  ansible.builtin.template:
    src: tomcat.service.j2
    dest: /etc/systemd/system/tomcat.service
    mode: "0644"
  notify: restart tomcat

- name: Start Tomcat at boot
  ansible.builtin.systemd:
    name: tomcat
    state: started
    enabled: true
    daemon_reload: true
  when: ansible_service_mgr == "systemd"
""",
    "handlers/main.yml": """---
- name: restart tomcat
  ansible.builtin.systemd:
    name: tomcat
    state: restarted
  when: ansible_service_mgr == "systemd"
""",
    "templates/server.xml.j2": """<?xml version="1.0" encoding="UTF-8"?>
<Server port="8005" shutdown="SHUTDOWN">
  <Service name="Catalina">
    <Connector port="{{ http_port }}" protocol="HTTP/1.1" connectionTimeout="20000" redirectPort="{{ https_port }}"/>
    <Connector port="{{ https_port }}" protocol="org.apache.coyote.http11.Http11NioProtocol" SSLEnabled="true"/>
    <Engine name="Catalina" defaultHost="localhost">
      <Host name="localhost" appBase="webapps" unpackWARs="true" autoDeploy="true"/>
    </Engine>
  </Service>
</Server>
""",
    "templates/tomcat-users.xml.j2": """<?xml version="1.0" encoding="UTF-8"?>
<tomcat-users xmlns="http://tomcat.apache.org/xml" version="1.0">
  <role rolename="manager-gui"/>
  <user username="{{ admin_username }}" password="{{ admin_password }}" roles="manager-gui"/>
</tomcat-users>
""",
    "templates/tomcat.service.j2": """[Unit]
Description=Apache Tomcat {{ tomcat_version }}
After=network.target

[Service]
Type=forking
User=tomcat
Group=tomcat
ExecStart={{ tomcat_home }}/bin/startup.sh
ExecStop={{ tomcat_home }}/bin/shutdown.sh

[Install]
WantedBy=multi-user.target
""",
}
TOMCAT_ROLE_TASKS = ["Create the tomcat group", "Create the tomcat user", "Show the download", "Download Apache Tomcat",
                     "Create the Tomcat directory", "Unpack Apache Tomcat", "Configure the connectors (server.xml)",
                     "Configure the manager-gui user (tomcat-users.xml)", "Install the systemd unit",
                     "Start Tomcat at boot", "restart tomcat"]
TOMCAT_ARCHIVE = "apache/tomcat/tomcat-8/v8.5.42/bin/apache-tomcat-8.5.42.tar.gz"

# ---------------------------------------------------------------- §13.3 (verbatim)

PYTHON3_ROLE_TASKS = """---
# This role will install python3.6.

- name: Install Python3.6 Source.
  yum: name={{ item }} state=present
  with_items:
   - epel-release
   - https://centos7.iuscommunity.org/ius-release.rpm

- name: Install Python3.6 and pip3.6.
  yum: name={{ item }} state=present
  with_items:
   - python36u
   - python36u-devel
   - python36u-pip

- name: Create python3 link.
  file: src=/bin/python3.6 dest=/bin/python3 state=link

- name: Create pip3 link.
  file: src=/bin/pip3.6 dest=/bin/pip3 state=link
"""
PYTHON3_MAIN = """---
# Install python3

- hosts: all

  roles:
  - python3

  tags:
  - python3
"""

# ---------------------------------------------------------------- helpers

_ANSI = re.compile(r"\x1b\[[0-9;]*m")
_RESULT = re.compile(r"^(ok|changed|skipping|failed|fatal): \[([^\]]+)\]")


def task_results(log: str) -> dict[str, list[str]]:
    """What the log says of each task, in order: {"Create group": ["changed"], ...} (loop items and
    hosts each give one entry)."""
    results: dict[str, list[str]] = {}
    task = None
    for line in _ANSI.sub("", log).splitlines():
        if line.startswith(("TASK [", "RUNNING HANDLER [")):
            task = line[line.index("[") + 1:line.rindex("]")]
            results.setdefault(task, [])
        elif task and (m := _RESULT.match(line)):
            results[task].append(m.group(1))
    return results


def _created(response) -> dict:
    assert response.status_code == 201, response.text
    return response.json()


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


def _tomcat_tarball() -> bytes:
    """A small archive laid out like Apache's (served by the loopback mirror; a check run only
    sends it a HEAD request)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, text in {"bin/catalina.sh": "#!/bin/sh\n", "conf/server.xml": "<Server/>\n"}.items():
            data = text.encode()
            info = tarfile.TarInfo(f"apache-tomcat-8.5.42/{name}")
            info.size, info.mode = len(data), 0o755
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


# ---------------------------------------------------------------- the walkthroughs, run once


@pytest.fixture(scope="module")
def walkthroughs(stack, sshd, tmp_path_factory):
    """All three scenarios' steps, their syncs and their check runs launched together (so the
    three jobs run side by side); yields what each produced."""
    assert not _user_exists("deploy") and not _user_exists("tomcat"), \
        "these check runs expect a host without the users `deploy` and `tomcat`"
    root = tmp_path_factory.mktemp("walkthroughs")
    gitlab_root, public_root = root / "gitlab", root / "public"
    init_repo(str(root / "role"), TOMCAT_ROLE, branch="master")
    publish_bare(str(root / "role"), str(public_root / "tomcat-ansible-role.git"))
    mirror = public_root / TOMCAT_ARCHIVE
    mirror.parent.mkdir(parents=True)
    mirror.write_bytes(_tomcat_tarball())
    with serve_http(str(public_root)) as public, \
            serve_http(str(gitlab_root), GITLAB_USER, GITLAB_PASSWORD) as gitlab:
        sources = {
            "user": {"main.yml": USER_MAIN, "files/authorized_keys": AUTHORIZED_KEYS},
            "tomcat-install": {"main.yml": TOMCAT_MAIN,
                               "roles/requirements.yml": f"- src: git+{public}/tomcat-ansible-role.git\n  name: tomcat\n"},
            "python3-install": {"main.yml": PYTHON3_MAIN, "roles/python3/tasks/main.yml": PYTHON3_ROLE_TASKS},
        }
        for repo, files in sources.items():  # step 1: the playbook repositories, pushed to "GitLab"
            init_repo(str(root / repo), files, branch="master")
            publish_bare(str(root / repo), str(gitlab_root / "test" / f"{repo}.git"))

        # step 2: the credentials (the manual logs in as root; this sshd lets its user sudo instead)
        login = _created(stack.http("POST", "/api/project/credential/", json={
            "name": "host login " + secrets.token_hex(3), "type": "ssh", "user_name": sshd.user,
            "password": sshd.password, "become_method": "sudo", "become_pass": sshd.password}))
        gitlab_cred = _created(stack.http("POST", "/api/project/credential/", json={
            "name": "Test-env GitLab account " + secrets.token_hex(3), "type": "user_pwd",
            "user_name": GITLAB_USER, "password": GITLAB_PASSWORD}))

        # step 3: the projects, synced (all three at once)
        names = {"user": "Create system user and configure passwordless login", "tomcat-install": "Install Tomcat",
                 "python3-install": "Install python3"}
        projects = {repo: _created(stack.http("POST", "/api/project/project/", json={
            "name": name, "project_type": "git", "credential": gitlab_cred["id"],
            "repository_url": f"{gitlab}/test/{repo}.git", "branch_specifier": "master"})) for repo, name in names.items()}
        syncs = {repo: stack.http("POST", f"/api/project/project/{p['id']}/sync/").json() for repo, p in projects.items()}
        syncs = {repo: stack.wait_job(job["id"], timeout=60) for repo, job in syncs.items()}
        sync_logs = {repo: stack.http("GET", f"/api/job/job/{job['id']}/stdout/?format=txt").text
                     for repo, job in syncs.items()}
        for repo, job in syncs.items():
            assert job["state"] == "successful", sync_logs[repo]

        # step 4: the inventories (the manual's two hosts: here the loopback sshd)
        def inventory(name: str) -> dict:
            inv = _created(stack.http("POST", "/api/project/inventory/", json={"name": name}))
            _created(stack.http("POST", "/api/project/host/", json={
                "inventory": inv["id"], "hostname": HOST, "variables": f"ansible_port: {sshd.port}"}))
            return inv

        hosts, tomcat_hosts = inventory("test-environment hosts"), inventory("test-environment Tomcat hosts")

        # step 5: the job templates, run in check mode
        templates = {
            "user": ("Add deploy user and configure passwordless login", hosts, USER_VARIABLES),
            "tomcat-install": ("Install Tomcat template", tomcat_hosts, TOMCAT_VARIABLES),
            "python3-install": ("Install python3 template", hosts, ""),
        }
        launch_variables = {"tomcat-install": f"tomcat_downloadURL: {public}/apache"}  # the mirror, offline
        jobs = {}
        for repo, (name, inv, variables) in templates.items():
            template = _created(stack.http("POST", "/api/template/template/", json={
                "name": name, "template_type": "job", "job_type": "run", "inventory": inv["id"],
                "project": projects[repo]["id"], "playbook": "main.yml", "credential": login["id"],
                "become_enabled": 1, "variables": variables}))
            body = {"id": template["id"], "job_type": "check"}
            if repo in launch_variables:
                body["variables"] = launch_variables[repo]
            jobs[repo] = _created(stack.http("POST", "/api/template/template/run/", json=body))
        out = {}
        for repo, job in jobs.items():
            final = stack.wait_job(job["id"], timeout=90)
            log = stack.http("GET", f"/api/job/log/?job={job['id']}").json()["results"][0]["log"]
            summaries = stack.http("GET", f"/api/job/job/{job['id']}/host_summaries/").json()["results"]
            out[repo] = {"job": final, "log": log, "tasks": task_results(log), "summaries": summaries,
                         "sync": syncs[repo], "sync_log": sync_logs[repo], "project": projects[repo]}
        yield out


def _summary(result: dict) -> dict:
    [summary] = result["summaries"]
    assert summary["host"] == HOST
    return summary


# ---------------------------------------------------------------- §13.1


def test_user_walkthrough_job_is_successful_in_check_mode(walkthroughs):
    result = walkthroughs["user"]
    assert result["job"]["state"] == "successful", result["log"]
    assert result["job"]["job_type"] == "check"


def test_user_walkthrough_reports_its_four_tasks_changed(walkthroughs):
    result = walkthroughs["user"]
    tasks = result["tasks"]
    for task in ("Create group", "Create user", "Create .ssh", "Deploy authorized_keys"):
        assert tasks.get(task) == ["changed"], (task, result["log"])
    summary = _summary(result)
    assert (summary["changed"], summary["failures"], summary["unreachable"]) == (4, 0, 0)


def test_user_walkthrough_check_mode_warns_that_the_user_does_not_exist_yet(walkthroughs):
    # check mode creates no user, so the .ssh task cannot look the owner up: ansible says so and
    # reports what a real run would do
    log = _ANSI.sub("", walkthroughs["user"]["log"])
    assert "failed to look up user deploy. Create user up to this point in real play" in log
    assert "failed to look up group deploy. Create group up to this point in real play" in log


def test_user_walkthrough_check_mode_changed_nothing(walkthroughs):
    assert not _user_exists("deploy")
    assert not os.path.exists("/home/deploy")


# ---------------------------------------------------------------- §13.2


def test_tomcat_walkthrough_sync_installs_the_role_named_in_requirements(walkthroughs):
    result = walkthroughs["tomcat-install"]
    assert "ansible-galaxy role install -r roles/requirements.yml" in result["sync_log"]
    assert "tomcat was installed successfully" in result["sync_log"]
    assert result["job"]["revision"] == result["sync"]["revision"]
    assert "requirements: using those installed for revision" in result["log"]


def test_tomcat_walkthrough_job_runs_the_role_in_check_mode(walkthroughs):
    result = walkthroughs["tomcat-install"]
    assert result["job"]["state"] == "successful", result["log"]
    tasks = result["tasks"]
    assert [task for task in tasks if task.startswith("tomcat : ")] == [f"tomcat : {t}" for t in TOMCAT_ROLE_TASKS]
    for task in ("Create the tomcat group", "Create the tomcat user", "Download Apache Tomcat",
                 "Create the Tomcat directory", "Configure the connectors (server.xml)",
                 "Configure the manager-gui user (tomcat-users.xml)", "Install the systemd unit"):
        assert tasks[f"tomcat : {task}"] == ["changed"], (task, result["log"])
    assert tasks["tomcat : Unpack Apache Tomcat"] == ["skipping"]  # nothing was downloaded
    assert tasks["tomcat : Start Tomcat at boot"] == ["skipping"]  # no systemd on this host
    assert tasks["tomcat : restart tomcat"] == ["skipping"]  # the handler, notified: no systemd either
    assert _summary(result)["failures"] == 0


def test_tomcat_walkthrough_version_reaches_the_download_url(walkthroughs):
    log = _ANSI.sub("", walkthroughs["tomcat-install"]["log"])
    # the manual's tomcat_version, on the mirror the launch named (get_url's check is a HEAD of it)
    assert re.search(r"Apache Tomcat 8\.5\.42 from http://127\.0\.0\.1:\d+/" + re.escape(TOMCAT_ARCHIVE), log), log


def test_tomcat_walkthrough_check_mode_changed_nothing(walkthroughs):
    assert not _user_exists("tomcat")
    for path in ("/opt/apache-tomcat-8.5.42.tar.gz", "/opt/tomcat", "/etc/systemd/system/tomcat.service"):
        assert not os.path.exists(path), path


# ---------------------------------------------------------------- §13.3


def test_python3_walkthrough_fails_on_a_debian_host_at_the_first_yum_task(walkthroughs):
    # the manual targets CentOS 7; this host is Debian (apt), where ansible's yum (now dnf) cannot work
    result = walkthroughs["python3-install"]
    assert result["job"]["state"] == "failed", result["log"]
    log = _ANSI.sub("", result["log"])
    assert "Could not detect which major revision of dnf is in use" in log
    assert '"pkg_mgr": "apt"' in log
    assert result["tasks"]["python3 : Install Python3.6 Source."] == ["failed", "failed"]  # both items
    assert not any("Python3.6 and pip3.6" in task or "link." in task for task in result["tasks"])


def test_python3_walkthrough_changed_nothing(walkthroughs):
    summary = _summary(walkthroughs["python3-install"])
    assert (summary["changed"], summary["failures"]) == (0, 1)


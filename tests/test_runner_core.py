"""The runner's ansible-facing core: git checkout, playbook discovery, ansible runs, redaction.

Everything runs for real on loopback: git over file://, basic-auth HTTP and ssh; ansible against
localhost (local connection) and against a real sshd (tests/sshd.py).
"""
from __future__ import annotations

import glob
import json
import os
import secrets
import shutil
import stat
import subprocess
import sys
import tempfile

import pytest

from runner_image.opsgrat_runner import MASK, GitError, Redactor, RunSpec, checkout, find_playbooks, run
from runner_image.opsgrat_runner.inventory import write_inventory
from tests.gitserver import commit, git, init_repo, publish_bare, serve_http

VAULT_PASSWORD = "vault-pw-123"


def _vaulted(plaintext: str, vault_id: str | None) -> str:
    from ansible.parsing.vault import VaultLib, VaultSecret

    secret = VaultSecret(VAULT_PASSWORD.encode())
    lib = VaultLib([(vault_id or "default", secret)])
    return lib.encrypt(plaintext, secret=secret, vault_id=vault_id).decode()


def _vault_playbook(vault_id: str | None) -> str:
    body = "\n".join("          " + line for line in _vaulted("vaulted-value", vault_id).splitlines())
    return f"""- hosts: all
  gather_facts: false
  vars:
    hidden: !vault |
{body}
  tasks:
    - name: show the vaulted value
      ansible.builtin.debug:
        msg: "vault says {{{{ hidden }}}}"
"""


PLAY = "- hosts: all\n  gather_facts: false\n  tasks:\n"
FILES = {
    "site.yml": PLAY + "    - name: greet\n      ansible.builtin.debug:\n        msg: \"hello {{ who | default('world') }}\"\n",
    "fail.yml": PLAY + "    - name: break on purpose\n      ansible.builtin.fail:\n        msg: boom-on-purpose\n",
    "write.yml": PLAY + "    - name: write the target\n      ansible.builtin.copy:\n        content: \"written\\n\"\n"
                        "        dest: \"{{ target }}\"\n",
    "tags.yml": PLAY + "    - name: task-alpha\n      ansible.builtin.debug: {msg: alpha-ran}\n      tags: [alpha]\n"
                       "    - name: task-beta\n      ansible.builtin.debug: {msg: beta-ran}\n      tags: [beta]\n",
    "handlers.yml": PLAY + "    - name: notify\n      ansible.builtin.command: /bin/true\n      notify: the-handler\n"
                           "    - name: then fail\n      ansible.builtin.fail: {msg: second-fails}\n"
                           "  handlers:\n    - name: the-handler\n      ansible.builtin.debug: {msg: handler-ran}\n",
    "long.yml": PLAY + "    - name: sleep-long\n      ansible.builtin.command: \"sleep {{ naptime }}\"\n",
    "secret.yml": PLAY + "    - name: leak it\n      ansible.builtin.debug:\n        msg: \"the secret is {{ shown }}\"\n",
    "whoami.yml": PLAY + "    - name: who\n      ansible.builtin.command: id -un\n      register: who\n"
                         "    - name: report\n      ansible.builtin.debug:\n        msg: \"user={{ who.stdout }}\"\n",
    "env.yml": PLAY + "    - name: env\n      ansible.builtin.debug:\n        msg: \"env={{ lookup('env', 'OPSGRAT_GREETING') }}\"\n",
    "vault.yml": _vault_playbook(None),
    "vault_id.yml": _vault_playbook("prod"),
    "imports.yml": "- import_playbook: site.yml\n",
    "playbooks/nested/deploy.yaml": PLAY + "    - ansible.builtin.ping:\n",
    "roles/demo/tasks/main.yml": "- name: a role task\n  ansible.builtin.debug: {msg: role}\n",
    "group_vars/all.yml": "who: group\n",
    "vars/settings.yml": "a: 1\n",
    "notes.yml": "- just\n- a list\n",
}
PLAYBOOKS = ["env.yml", "fail.yml", "handlers.yml", "imports.yml", "long.yml", "playbooks/nested/deploy.yaml",
             "secret.yml", "site.yml", "tags.yml", "vault.yml", "vault_id.yml", "whoami.yml", "write.yml"]


@pytest.fixture(scope="module")
def repo():
    """A repository with the playbooks above, a tag v1 and a later commit on a branch `feature`;
    bare-published in a directory the sshd test user may read."""
    root = tempfile.mkdtemp(prefix="opsgrat-repo-")
    os.chmod(root, 0o755)
    work = os.path.join(root, "work")
    first = init_repo(work, FILES)
    git("tag", "v1", cwd=work)
    git("checkout", "-q", "-b", "feature", cwd=work)
    feature = commit(work, {"feature.yml": PLAY + "    - ansible.builtin.ping:\n"}, "feature")
    git("checkout", "-q", "main", cwd=work)
    bare = publish_bare(work, os.path.join(root, "project.git"))
    yield {"work": work, "bare": bare, "url": f"file://{bare}", "main": first, "feature": feature, "root": root}
    shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="module")
def ssh_bare(repo, sshd) -> str:
    """A copy of the bare repo owned by the sshd user (git refuses repos of other users)."""
    path = os.path.join(repo["root"], "ssh.git")
    shutil.copytree(repo["bare"], path)
    subprocess.run(["chown", "-R", sshd.user, path], check=True)
    return path


@pytest.fixture(scope="module")
def project(repo, tmp_path_factory) -> str:
    dest = str(tmp_path_factory.mktemp("project") / "checkout")
    checkout(repo["url"], "main", dest)
    return dest


def local(*names: str) -> dict:
    return {"all": {"children": ["ungrouped"]}, "ungrouped": {"hosts": list(names)},
            "_meta": {"hostvars": {name: {"ansible_connection": "local"} for name in names}}}


def play(project: str, playbook: str, **options) -> tuple:
    """Run a playbook against a local host; returns (result, events)."""
    events: list[dict] = []
    options.setdefault("inventory", local("box"))
    result = run(RunSpec(project_dir=project, playbook=playbook, **options), on_event=events.append)
    return result, events


def adhoc(module: str, args: str = "", **options):
    events: list[dict] = []
    spec = RunSpec(kind="adhoc", module=module, module_args=args, inventory=local("box"), **options)
    return run(spec, on_event=events.append), events


# --- git ---------------------------------------------------------------------------------------

def test_checkout_over_file_url_returns_the_branch_head(repo, tmp_path):
    assert checkout(repo["url"], "main", str(tmp_path / "c")) == repo["main"]
    assert (tmp_path / "c" / "site.yml").exists()


def test_checkout_without_branch_takes_the_default_branch(repo, tmp_path):
    assert checkout(repo["url"], "", str(tmp_path / "c")) == repo["main"]


def test_checkout_of_a_branch_a_tag_and_a_commit(repo, tmp_path):
    assert checkout(repo["url"], "feature", str(tmp_path / "b")) == repo["feature"]
    assert (tmp_path / "b" / "feature.yml").exists()
    assert checkout(repo["url"], "v1", str(tmp_path / "t")) == repo["main"]
    assert checkout(repo["url"], repo["feature"][:10], str(tmp_path / "s")) == repo["feature"]


def test_checkout_of_an_unknown_branch_raises_git_error(repo, tmp_path):
    with pytest.raises(GitError, match="nope"):
        checkout(repo["url"], "nope", str(tmp_path / "c"))


def test_checkout_over_http_with_basic_auth(repo, tmp_path):
    with serve_http(repo["root"], "alice", "http-s3cret") as base:
        revision = checkout(f"{base}/project.git", "main", str(tmp_path / "c"), username="alice",
                            password="http-s3cret")
    assert revision == repo["main"]
    assert "http-s3cret" not in (tmp_path / "c" / ".git" / "config").read_text()


def test_checkout_over_http_with_a_wrong_password_fails_without_showing_it(repo, tmp_path):
    with serve_http(repo["root"], "alice", "http-s3cret") as base:
        with pytest.raises(GitError) as caught:
            checkout(f"{base}/project.git", "main", str(tmp_path / "c"), username="alice", password="wrong-pass")
    assert "wrong-pass" not in str(caught.value)


def test_checkout_over_ssh_with_a_key(repo, ssh_bare, sshd, tmp_path):
    url = f"ssh://{sshd.user}@{sshd.host}:{sshd.port}{ssh_bare}"
    assert checkout(url, "main", str(tmp_path / "c"), ssh_key=sshd.private_key) == repo["main"]


def test_checkout_over_ssh_with_a_passphrase_protected_key(repo, ssh_bare, sshd, tmp_path):
    url = f"ssh://{sshd.host}:{sshd.port}{ssh_bare}"
    revision = checkout(url, "feature", str(tmp_path / "c"), username=sshd.user, ssh_key=sshd.protected_key,
                        ssh_key_passphrase=sshd.passphrase)
    assert revision == repo["feature"]


def test_find_playbooks_lists_plays_at_any_depth_but_not_roles_or_vars(project):
    assert find_playbooks(project) == PLAYBOOKS


# --- playbook runs against localhost -------------------------------------------------------------

def test_successful_run_has_stdout_summaries_and_redacted_events(project):
    result, events = play(project, "site.yml")
    assert result.status == "successful" and result.rc == 0
    assert "hello group" in result.stdout and "PLAY RECAP" in result.stdout  # group_vars/all.yml of the project
    assert "\x1b[" in result.stdout  # ANSI colours are kept
    assert [s.to_dict() for s in result.host_summaries] == [
        {"host": "box", "ok": 1, "changed": 0, "failures": 0, "unreachable": 0, "skipped": 0, "rescued": 0,
         "ignored": 0}]
    assert result.events_count == len(events) and events[-1]["event"] == "playbook_on_stats"
    assert {"runner_on_ok", "playbook_on_start"} <= {e["event"] for e in events}


def test_failing_playbook_ends_failed_with_its_error_in_stdout(project):
    result, _ = play(project, "fail.yml")
    assert result.status == "failed" and result.rc != 0
    assert "boom-on-purpose" in result.stdout
    assert result.host_summaries[0].failures == 1


def test_missing_playbook_fails_with_the_reason(project):
    result, _ = play(project, "absent.yml")
    assert result.status == "failed" and "absent.yml" in result.error and "absent.yml" in result.stdout


def test_playbook_outside_the_project_is_refused(project):
    result, _ = play(project, "../../etc/passwd")
    assert result.status == "failed" and "outside the project" in result.error


def test_check_mode_changes_nothing(project, tmp_path):
    target = tmp_path / "file.txt"
    result, _ = play(project, "write.yml", job_type="check", extravars={"target": str(target)})
    assert result.status == "successful"
    assert result.host_summaries[0].changed == 1
    assert not target.exists()


def test_run_mode_applies_the_change(project, tmp_path):
    target = tmp_path / "file.txt"
    result, _ = play(project, "write.yml", extravars={"target": str(target)})
    assert result.status == "successful" and target.read_text() == "written\n"


def test_diff_mode_shows_the_difference(project, tmp_path):
    result, _ = play(project, "write.yml", job_type="check", diff_mode=True, extravars={"target": str(tmp_path / "f")})
    assert "+written" in result.stdout


def test_tags_select_the_tasks_that_run(project):
    result, _ = play(project, "tags.yml", tags="alpha")
    assert "alpha-ran" in result.stdout and "beta-ran" not in result.stdout


def test_skip_tags_leave_tasks_out(project):
    result, _ = play(project, "tags.yml", skip_tags="alpha")
    assert "alpha-ran" not in result.stdout and "beta-ran" in result.stdout


def test_start_at_task_skips_the_tasks_before_it(project):
    result, _ = play(project, "tags.yml", start_at_task="task-beta")
    assert "alpha-ran" not in result.stdout and "beta-ran" in result.stdout


def test_limit_selects_the_hosts(project):
    result, _ = play(project, "site.yml", inventory=local("one", "two"), limit="two")
    assert [s.host for s in result.host_summaries] == ["two"]


def test_inventory_text_is_accepted(project):
    result, _ = play(project, "site.yml", inventory=None,
                     inventory_str="[web]\nw1 ansible_connection=local\nw2 ansible_connection=local\n")
    assert result.status == "successful" and [s.host for s in result.host_summaries] == ["w1", "w2"]


def test_extra_vars_reach_the_play(project):
    result, _ = play(project, "site.yml", extravars={"who": "opsgrat"})
    assert "hello opsgrat" in result.stdout


def test_environment_variables_are_exported(project):
    result, _ = play(project, "env.yml", env={"OPSGRAT_GREETING": "hi-from-env"})
    assert "env=hi-from-env" in result.stdout


def test_verbosity_is_passed_to_ansible(project):
    result, _ = play(project, "site.yml", verbosity=2)
    assert "PLAYBOOK: site.yml" in result.stdout


def test_force_handlers_run_handlers_after_a_failure(project):
    plain, _ = play(project, "handlers.yml")
    forced, _ = play(project, "handlers.yml", force_handlers=True)
    assert "handler-ran" not in plain.stdout
    assert forced.status == "failed" and "handler-ran" in forced.stdout


def test_become_runs_tasks_as_the_become_user(project):
    # The become user cannot read the venv under /root: the host's own interpreter is named, which
    # also shows that an inventory's interpreter wins over the runner's local default.
    inventory = local("box")
    inventory["_meta"]["hostvars"]["box"]["ansible_python_interpreter"] = "/usr/bin/python3"
    result, _ = play(project, "whoami.yml", inventory=inventory, become_enabled=True, become_method="sudo",
                     become_user="opsgrat-test")
    assert result.status == "successful", result.stdout
    assert "user=opsgrat-test" in result.stdout


@pytest.mark.parametrize("playbook, vault_id", [("vault.yml", ""), ("vault_id.yml", "prod")])
def test_vault_password_decrypts_vaulted_variables(project, playbook, vault_id):
    result, _ = play(project, playbook, vault_password=VAULT_PASSWORD, vault_id=vault_id)
    assert result.status == "successful", result.stdout
    assert "vault says vaulted-value" in result.stdout
    assert VAULT_PASSWORD not in result.stdout


def test_a_password_printed_by_the_playbook_is_redacted_in_stdout_and_events(project):
    result, events = play(project, "secret.yml", extravars={"shown": "db-pa55word"}, secrets=["db-pa55word"])
    assert result.status == "successful"
    assert f"the secret is {MASK}" in result.stdout
    dumped = json.dumps(events)
    assert "db-pa55word" not in result.stdout and "db-pa55word" not in dumped
    assert f"the secret is {MASK}" in dumped


def _sleepers(naptime: str) -> list[int]:
    """Processes running `sleep <naptime>` (each test naps a unique time, so they are its own)."""
    wanted = f"sleep\0{naptime}\0".encode()
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if handle.read() == wanted:
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found


def _naptime() -> str:
    return str(3000 + secrets.randbelow(600000))


def test_cancel_stops_a_long_job_and_all_its_processes(project):
    naptime = _naptime()
    sleeping: list[bool] = []

    def on_event(event: dict) -> None:
        if event["event"] == "runner_on_start":
            sleeping.append(True)

    result = run(RunSpec(project_dir=project, playbook="long.yml", inventory=local("box"),
                         extravars={"naptime": naptime}), on_event=on_event, should_cancel=lambda: bool(sleeping))
    assert sleeping and result.status == "canceled"
    assert _sleepers(naptime) == []


def test_a_failing_cancel_check_does_not_cancel(project):
    def broken() -> bool:
        raise RuntimeError("database unavailable")

    result = run(RunSpec(project_dir=project, playbook="site.yml", inventory=local("box")), should_cancel=broken)
    assert result.status == "successful"


def test_an_event_handler_that_raises_fails_the_job_with_the_reason(project):
    def on_event(event: dict) -> None:
        raise RuntimeError("log stream closed")

    result = run(RunSpec(project_dir=project, playbook="site.yml", inventory=local("box")), on_event=on_event)
    assert result.status == "failed" and "log stream closed" in result.error


def test_job_timeout_ends_the_job_with_status_timeout(project):
    naptime = _naptime()
    result, _ = play(project, "long.yml", job_timeout=1, extravars={"naptime": naptime})
    assert result.status == "timeout"
    assert result.error == "job timed out after 1 s"
    assert _sleepers(naptime) == []


def test_idle_timeout_ends_a_silent_job_with_status_timeout(project):
    naptime = _naptime()
    result, _ = play(project, "long.yml", idle_timeout=1, extravars={"naptime": naptime})
    assert result.status == "timeout"
    assert result.error == "no output for 1 s (idle timeout)"
    assert _sleepers(naptime) == []


# --- ad-hoc -----------------------------------------------------------------------------------

def test_adhoc_command(tmp_path):
    result, events = adhoc("command", "echo adhoc-ok")
    assert result.status == "successful" and "adhoc-ok" in result.stdout
    assert result.host_summaries[0].ok == 1 and result.host_summaries[0].changed == 1


def test_adhoc_shell():
    result, _ = adhoc("shell", "echo $((6 * 7))")
    assert result.status == "successful" and "42" in result.stdout


def test_adhoc_ping():
    result, _ = adhoc("ping")
    assert result.status == "successful" and "pong" in result.stdout


def test_adhoc_failure_is_failed():
    result, _ = adhoc("command", "false")
    assert result.status == "failed" and result.host_summaries[0].failures == 1


# --- ssh against a real sshd ---------------------------------------------------------------------

def test_ssh_run_with_a_password_credential_redacts_the_password(project, sshd):
    result, events = play(project, "whoami.yml", inventory=sshd.inventory(), ssh_user=sshd.user,
                          ssh_password=sshd.password)
    assert result.status == "successful", result.stdout
    assert "user=opsgrat-test" in result.stdout
    shown, shown_events = play(project, "secret.yml", inventory=sshd.inventory(), ssh_user=sshd.user,
                               ssh_password=sshd.password, extravars={"shown": sshd.password})
    assert f"the secret is {MASK}" in shown.stdout
    assert sshd.password not in shown.stdout and sshd.password not in json.dumps(shown_events)


def test_ssh_run_with_a_wrong_password_is_unreachable(project, sshd):
    result, _ = play(project, "whoami.yml", inventory=sshd.inventory(), ssh_user=sshd.user, ssh_password="wrong")
    assert result.status == "failed" and result.host_summaries[0].unreachable == 1


def test_ssh_run_with_a_key_credential(project, sshd):
    result, _ = play(project, "whoami.yml", inventory=sshd.inventory(), ssh_user=sshd.user,
                     ssh_private_key=sshd.private_key)
    assert result.status == "successful", result.stdout
    assert "user=opsgrat-test" in result.stdout


def test_ssh_run_with_a_passphrase_protected_key(project, sshd):
    result, _ = play(project, "whoami.yml", inventory=sshd.inventory(), ssh_user=sshd.user,
                     ssh_private_key=sshd.protected_key, ssh_key_passphrase=sshd.passphrase)
    assert result.status == "successful", result.stdout


def test_encrypted_key_without_passphrase_fails_with_a_reason(project, sshd):
    result, _ = play(project, "whoami.yml", inventory=sshd.inventory(), ssh_user=sshd.user,
                     ssh_private_key=sshd.protected_key)
    assert result.status == "failed" and "no passphrase" in result.error


def test_wrong_key_passphrase_fails_with_a_reason(project, sshd):
    result, _ = play(project, "site.yml", inventory=sshd.inventory(), ssh_user=sshd.user,
                     ssh_private_key=sshd.protected_key, ssh_key_passphrase="not-it")
    assert result.status == "failed" and "passphrase" in result.error and "not-it" not in result.stdout


def test_become_with_a_password_over_ssh(project, sshd):
    result, _ = play(project, "whoami.yml", inventory=sshd.inventory(), ssh_user=sshd.user,
                     ssh_private_key=sshd.private_key, become_enabled=True, become_method="sudo",
                     become_password=sshd.password)
    assert result.status == "successful", result.stdout
    assert "user=root" in result.stdout


def test_key_file_is_private_during_the_run_and_removed_after(project, sshd, tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    modes: set[int] = set()

    def on_event(event: dict) -> None:
        for path in glob.glob(str(tmp_path / "opsgrat-run-*" / "keys" / "*")):
            modes.add(stat.S_IMODE(os.stat(path).st_mode))

    result = run(RunSpec(project_dir=project, playbook="site.yml", inventory=sshd.inventory(), ssh_user=sshd.user,
                         ssh_private_key=sshd.private_key), on_event=on_event)
    assert result.status == "successful"
    assert modes == {0o600}
    assert list(tmp_path.iterdir()) == []


# --- pieces -------------------------------------------------------------------------------------

def test_redactor_masks_plain_json_escaped_and_key_lines():
    key = "-----BEGIN KEY-----\nAAAABBBBCCCCDDDD\nEEEEFFFFGGGGHHHH\n-----END KEY-----\n"
    redactor = Redactor(['pa"ss', key, "", None])
    assert redactor.text('say pa"ss and "pa\\"ss"') == f'say {MASK} and "{MASK}"'
    assert redactor.text("line EEEEFFFFGGGGHHHH") == f"line {MASK}"
    assert redactor.value({"a": [{"b": 'x pa"ss'}], "n": 1}) == {"a": [{"b": f"x {MASK}"}], "n": 1}


def test_redactor_masks_the_longest_secret_whole():
    assert Redactor(["abc", "abcdef"]).text("abcdef") == MASK


def test_list_format_inventory_keeps_groups_children_and_variables(tmp_path):
    inventory = {"all": {"children": ["ungrouped", "web"], "vars": {"level": "all"}},
                 "web": {"hosts": ["w1"], "children": ["db"], "vars": {"role": "web"}},
                 "db": {"hosts": ["d1"]}, "ungrouped": {"hosts": ["u1"]},
                 "_meta": {"hostvars": {"w1": {"port": 81}, "d1": {}, "u1": {"x": "y"}}}}
    source = write_inventory(str(tmp_path / "inv"), inventory, None)
    ansible_inventory = os.path.join(os.path.dirname(sys.executable), "ansible-inventory")
    out = subprocess.run([ansible_inventory, "-i", source.path, "--list", "--export"], capture_output=True, text=True,
                         check=True, env={**os.environ, "ANSIBLE_INVENTORY_ENABLED": source.plugins}).stdout
    listed = json.loads(out)
    assert listed["web"]["hosts"] == ["w1"] and listed["web"]["children"] == ["db"]
    assert listed["web"]["vars"] == {"role": "web"} and listed["db"]["hosts"] == ["d1"]
    assert listed["ungrouped"]["hosts"] == ["u1"]
    assert listed["_meta"]["hostvars"]["w1"] == {"port": 81}
    assert listed["all"]["vars"]["level"] == "all"


# ------------------------------------------------------------------ closing ansible's pty


def _pty_sleeps(monkeypatch) -> list[float]:
    import ptyprocess.ptyprocess as module

    sleeps: list[float] = []
    real_sleep = module.time.sleep

    class Clock:
        def __getattr__(self, name):
            return getattr(module.time, name)

    clock = Clock()
    clock.sleep = lambda seconds: (sleeps.append(seconds), real_sleep(seconds))
    monkeypatch.setattr(module, "time", clock)
    return sleeps


def test_closing_the_pty_of_an_exited_child_does_not_wait(monkeypatch):
    import pexpect

    from runner_image.opsgrat_runner import execute  # noqa: F401  (installs the patch, as a run does)

    sleeps = _pty_sleeps(monkeypatch)
    child = pexpect.spawn("true")
    child.expect(pexpect.EOF)
    while child.isalive():
        pass
    child.close()
    assert child.exitstatus == 0
    assert not any(sleeps)  # at most sleep(0)


def test_closing_the_pty_of_a_live_child_still_waits_and_ends_it(monkeypatch):
    import pexpect

    from runner_image.opsgrat_runner import execute  # noqa: F401

    sleeps = _pty_sleeps(monkeypatch)
    child = pexpect.spawn("sleep", ["30"])
    child.close(force=True)
    assert not child.isalive()
    assert 0.1 in sleeps

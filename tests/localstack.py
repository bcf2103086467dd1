"""Start and stop a real local stack (`python -m chalicelib.local`) as a subprocess, for tests."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class RunningStack:
    """A local stack process; `.url`, `.token`, and `.http(method, path, **requests kwargs)`."""

    def __init__(self, home: Path, port: int | None = None, log: Path | None = None, env: dict | None = None):
        self.home = Path(home)
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log or self.home.parent / f"{self.home.name}-stack.log"
        self.proc: subprocess.Popen | None = None
        self.token: str = ""
        self.session = requests.Session()
        self.extra_env = dict(env or {})

    def start(self, timeout: float = 120) -> "RunningStack":
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env.update({"OPSGRAT_HOME": str(self.home), "OPSGRAT_PORT": str(self.port), "PYTHONUNBUFFERED": "1",
                    **self.extra_env})
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen([sys.executable, "-m", "chalicelib.local"], cwd=ROOT, env=env,
                                     stdout=self._log, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"local stack exited with {self.proc.returncode}; see {self.log_path}")
            try:
                if requests.get(self.url + "/api/ping/", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            time.sleep(0.2)
        else:
            self.stop()
            raise RuntimeError(f"local stack did not start within {timeout}s; see {self.log_path}")
        self.token = (self.home / "admin-token").read_text().strip()
        self.session.headers["Authorization"] = f"Token {self.token}"
        return self

    def stop(self, timeout: float = 60) -> int | None:
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)
        self._log.close()
        code, self.proc = self.proc.returncode, None
        return code

    def wait_job(self, job_id: int, timeout: float = 180, states=("successful", "failed", "canceled")) -> dict:
        """Poll a job until it reaches one of `states`; returns the job.

        Polls every 50 ms at first and backs off to 0.5 s, so a long job is not slowed down by
        the API requests of its own observer."""
        deadline = time.monotonic() + timeout
        pause = 0.05
        while True:
            job = self.http("GET", f"/api/job/job/{job_id}/").json()
            if job.get("state") in states or time.monotonic() > deadline:
                return job
            time.sleep(pause)
            pause = min(pause * 1.25, 0.5)

    def http(self, method: str, path: str, **kwargs) -> requests.Response:
        kwargs.setdefault("timeout", 60)
        return self.session.request(method, self.url + path, **kwargs)

    # ---------------------------------------------------------------- what end-to-end tests run

    def synced_project(self, root: Path, playbooks: dict[str, str], name: str) -> dict:
        """A project of a git repository holding `playbooks` (path -> text) made under `root`,
        synced: its playbooks are known."""
        from tests.gitserver import init_repo, publish_bare

        init_repo(str(root / "work"), playbooks)
        url = "file://" + publish_bare(str(root / "work"), str(root / "repo.git"))
        project = self.http("POST", "/api/project/project/", json={"name": name, "repository_url": url}).json()
        job = self.wait_job(self.http("POST", f"/api/project/project/{project['id']}/sync/").json()["id"])
        assert job["state"] == "successful", job
        return project

    def local_inventory(self, name: str) -> dict:
        """An inventory of one host, localhost, reached through the local connection."""
        inventory = self.http("POST", "/api/project/inventory/", json={"name": name}).json()
        r = self.http("POST", "/api/project/host/", json={"inventory": inventory["id"], "hostname": "localhost",
                                                         "variables": "ansible_connection: local"})
        assert r.status_code == 201, r.text
        return inventory

    def playbook_templates(self, root: Path, playbooks: dict[str, str], name: str) -> dict[str, dict]:
        """A synced project of `playbooks`, a localhost inventory, and one job template per
        playbook ("<name> <playbook>"), by playbook."""
        project = self.synced_project(root, playbooks, name)
        inventory = self.local_inventory(name)
        out = {}
        for playbook in playbooks:
            r = self.http("POST", "/api/template/template/", json={"name": f"{name} {playbook}", "project": project["id"],
                                                                   "playbook": playbook, "inventory": inventory["id"]})
            assert r.status_code == 201, r.text
            out[playbook] = r.json()
        return out

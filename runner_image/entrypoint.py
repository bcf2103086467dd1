"""The runner: `python -m runner_image.entrypoint <job id>`.

The same code is the ECS Fargate container's entrypoint on AWS and a subprocess in the local
stack. This is the privileged part of a job (architecture brief, "Trust boundaries"): it loads
the job, proves it is alive to Step Functions (heartbeats), prepares what the job needs
(credentials decrypted, project checked out, inventory rendered), and hands the run to the job
zone: ansible in a sandbox, as an unprivileged user, with nothing of the platform
(`opsgrat_runner.sandbox`, `opsgrat_runner.zone`). It streams the zone's events to CloudWatch Logs
while it runs, archives output to S3, stores per-host summaries, and reports the result with the
execution's task token.
"""
from __future__ import annotations

import json
import os
import resource
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

from chalicelib import aws
from chalicelib.services import (
    catalog,  # noqa: F401  (registers the resource families)
    joblogs,
    jobs,
    secrets,
    store,
)
from chalicelib.services.catalog.template import RUN_OPTIONS
from chalicelib.services.fields import load_mapping
from chalicelib.services.jobs import JobKind, JobState
from chalicelib.services.resources import get
from chalicelib.stack import STACK
from runner_image.opsgrat_runner import workdir
from runner_image.opsgrat_runner.execute import RunSpec
from runner_image.opsgrat_runner.sandbox import Sandbox, SandboxUnavailable
from runner_image.opsgrat_runner.workdir import JobDirs
from runner_image.opsgrat_runner.zone import JobZone, ZoneCommands

logger = Logger(service="opsgrat-runner")

#: what an event keeps in CloudWatch/S3 (the rest of event_data is mostly echoes of the task)
_EVENT_KEYS = ("counter", "uuid", "parent_uuid", "event", "created", "stdout", "start_line", "end_line")
_DATA_KEYS = ("host", "remote_addr", "task", "task_action", "task_args", "play", "play_pattern", "role", "changed",
              "failed", "ignore_errors", "duration", "res")
_MAX_RES_CHARS = 32_000
#: seconds the job zone may overrun job_timeout (it stops itself at the timeout) before it is killed
ZONE_GRACE = 10


def compact(event: dict) -> dict:
    """The fields of an ansible-runner event that the API shows, size-capped for CloudWatch."""
    out = {k: event.get(k) for k in _EVENT_KEYS if k in event}
    data = event.get("event_data") or {}
    for key in _DATA_KEYS:
        if key in data:
            out[key] = data[key]
    if "res" in out and len(json.dumps(out["res"], default=str)) > _MAX_RES_CHARS:
        out["res"] = {"truncated": True}
    out["changed"] = bool(data.get("changed") or (isinstance(data.get("res"), dict) and data["res"].get("changed")))
    out["failed"] = bool(data.get("failed") or event.get("event") in ("runner_on_failed", "runner_on_unreachable"))
    return out


class EventStream:
    """Collects events and ships them to CloudWatch in batches from a background thread."""

    def __init__(self, job_id: int, interval: float = 1.0):
        self.job_id = job_id
        self.interval = interval
        self.events: list[dict] = []
        self._pending: list[dict] = []
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._counter = 0
        self._offset: int | None = None  # notes written before ansible's first event
        #: what the playbook's `set_stats` left (ansible's stats event): later workflow nodes get it
        self.artifacts: dict = {}
        self._thread = threading.Thread(target=self._loop, name="events", daemon=True)
        self._thread.start()

    def add(self, event: dict) -> None:
        """An ansible-runner event; its counter is shifted past the runner's own notes so that
        counters stay unique and in output order."""
        row = compact(event)
        if event.get("event") == "playbook_on_stats":
            artifacts = (event.get("event_data") or {}).get("artifact_data")
            self.artifacts = artifacts if isinstance(artifacts, dict) else {}
        with self._lock:
            if self._offset is None:
                self._offset = self._counter
            row["counter"] = int(row.get("counter") or 0) + self._offset
            self._append(row)

    def note(self, text: str) -> None:
        """A line of the runner's own (git checkout, sync results) in the job's output."""
        with self._lock:
            self._append({"counter": self._counter + 1, "event": "verbose", "source": "runner",
                          "created": time.time(), "stdout": text})

    def _append(self, row: dict) -> None:
        self._counter = max(self._counter, row["counter"])
        self.events.append(row)
        self._pending.append(row)

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = self._pending, []
        if batch:
            try:
                joblogs.put_events(self.job_id, batch)
            except Exception:  # noqa: BLE001 - the archive at the end still has every event
                logger.exception("could not stream events", extra={"job_id": self.job_id})

    def _loop(self) -> None:
        while not self._done.wait(self.interval):
            self._flush()

    def close(self) -> None:
        self._done.set()
        self._thread.join(timeout=30)
        self._flush()


class Heartbeat:
    """Sends SendTaskHeartbeat while the job runs; notices when the execution gave up on us."""

    def __init__(self, task_token: str | None, interval: float):
        self.token = task_token
        self.interval = max(1.0, interval)
        self.lost = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="heartbeat", daemon=True)

    def start(self) -> "Heartbeat":
        if self.token:
            self._thread.start()
        return self

    def _loop(self) -> None:
        sfn = aws.client("stepfunctions")
        while True:  # the first beat goes at once: starting may have taken a while on a busy host
            try:
                sfn.send_task_heartbeat(taskToken=self.token)
            except sfn.exceptions.TaskTimedOut:
                self.lost.set()  # the state machine has failed the job; stop ansible
                return
            except Exception:  # noqa: BLE001 - transient; the next beat may pass
                logger.exception("heartbeat failed")
            if self._done.wait(self.interval):
                return

    def stop(self) -> None:
        self._done.set()

    def report(self, job_id: int, status: str) -> None:
        if not self.token:
            return
        if not jobs.settle_task(self.token, {"job_id": job_id, "status": status}):
            logger.info("execution had already ended", extra={"job_id": job_id})


class CancelWatch:
    """`should_cancel` for the job zone: a SIGTERM to the runner (the API's cancel on the local
    stack, StopTask on ECS), the job's cancel flag (read every few seconds, for a cancel that
    came before the runner could be signalled), or a heartbeat the state machine refused."""

    POLL_SECONDS = 5.0

    def __init__(self, job_id: int, heartbeat: Heartbeat):
        self.job_id = job_id
        self.heartbeat = heartbeat
        self.signalled = TERMINATED
        self._checked = time.monotonic()
        self._canceled = False

    def __call__(self) -> bool:
        if self.heartbeat.lost.is_set() or self.signalled.is_set():
            return True
        now = time.monotonic()
        if not self._canceled and now - self._checked >= self.POLL_SECONDS:
            self._checked = now
            job = store.get("job", self.job_id) or {}
            self._canceled = bool(job.get("cancel_requested"))
        return self._canceled


#: set by SIGTERM: "stop now and say so" (the API's cancel on the local stack, StopTask on ECS)
TERMINATED = threading.Event()


def catch_sigterm() -> None:
    """Take SIGTERM as a cancel from here on (the local backend calls this first thing)."""
    signal.signal(signal.SIGTERM, lambda *_: TERMINATED.set())


@dataclass
class Outcome:
    """How a job ended, as the runner reports it."""

    state: JobState
    reason: str = ""
    summaries: list[dict] = field(default_factory=list)
    revision: str = ""
    #: `set_stats` data, for the workflow nodes after this one (size-capped)
    artifacts: dict = field(default_factory=dict)


# ------------------------------------------------------------------ preparing a job


def _credential(cred_id: int | None) -> dict[str, str]:
    """A credential's fields with secrets decrypted (empty dict when none)."""
    if not cred_id:
        return {}
    rec = store.get("credential", int(cred_id)) or {}
    resource = get("credential")
    clear = secrets.revealed(resource, rec)
    return {f.name: clear[f.name] for f in resource.fields if rec.get(f.name) not in (None, "")} \
        | {"type": rec.get("type", "")}


def _checkout(project: dict, dest: str, stream: EventStream) -> str:
    """The project's content into `dest`, by its type: a git clone, an svn checkout, or the
    uploaded archive (its sha256 is the project's revision) unpacked; the revision it is at."""
    kind = project.get("project_type") or "git"
    if kind == "archive":
        from runner_image.opsgrat_runner import archive

        sha = project.get("revision") or ""
        if not sha:
            raise archive.ArchiveError("the archive project has no archive yet: upload one first")
        stream.note(f"Unpacking the project's archive {sha}")
        checked = archive.unpack(archive.download(int(project["id"]), sha), dest, sha)
        stream.note(f"Revision {sha} ({checked.kind}, {len(checked.members)} members, {checked.unpacked:,} bytes)")
        return sha
    cred = _credential(project.get("credential"))
    url = project["repository_url"]
    auth = {"username": cred.get("user_name") or None, "password": cred.get("password") or None,
            "ssh_key": cred.get("private_key") or None, "ssh_key_passphrase": cred.get("passphrase") or None}
    pin = project.get("scm_revision") or None
    if kind == "svn":
        from runner_image.opsgrat_runner import svn

        stream.note(f"Checking out {svn.repository_url(url, project.get('branch_specifier'))} at "
                    f"{'revision ' + pin if pin else 'HEAD'}")
        revision = svn.checkout(url, project.get("branch_specifier") or None, dest, revision=pin, **auth)
    else:
        from runner_image.opsgrat_runner.git import checkout

        stream.note(f"Checking out {url} at {project.get('branch_specifier') or 'the default branch'}"
                    + (f", pinned to {pin}" if pin else ""))
        revision = checkout(url, project.get("branch_specifier") or None, dest, revision=pin,
                            clean=bool(project.get("scm_clean")),
                            track_submodules=bool(project.get("scm_track_submodules")), **auth)
    stream.note(f"Revision {revision}")
    return revision


def _environment() -> dict[str, str]:
    return {row["name"]: str(row.get("value") or "") for row in store.scan_partition("environment_variable")}


def _galaxy(project: dict):
    """The galaxy server of the project's galaxy credential, or None (ansible-galaxy's default)."""
    from runner_image.opsgrat_runner.requirements import Galaxy

    cred = _credential(project.get("galaxy_credential"))
    return Galaxy(cred["url"], cred.get("token") or "") if cred.get("url") else None


def _cached_requirements(key: str, stream: EventStream):
    """The body of the requirements archive stored at `key`, or None when there is none (a
    missing key is a 403 to a role that may not list the bucket) or it cannot be read."""
    try:
        return aws.client("s3").get_object(Bucket=STACK.bucket, Key=key)["Body"]
    except ClientError as exc:
        if exc.response["Error"]["Code"] in ("NoSuchKey", "404", "403", "AccessDenied"):
            return None
        error: Exception = exc
    except BotoCoreError as exc:
        error = exc
    logger.error("could not read the cached requirements", extra={"key": key, "error": str(error)})
    stream.note(f"requirements: the cached install could not be read ({type(error).__name__}); installing them")
    return None


def _requirements(project: dict, revision: str, stream: EventStream, dirs: JobDirs, sandbox: Sandbox,
                  env: dict[str, str], should_cancel, *, sync: bool) -> str | None:
    """The project's requirements for `revision`, in the job's requirements directory; None when
    the checkout has no requirements files.

    A sync always installs them (in the job zone) and stores their archive by (project,
    revision); a job unpacks that archive when there is one, else installs (and stores) them
    itself. RequirementsError when an install fails (its output is in the job's log)."""
    from runner_image.opsgrat_runner import requirements as reqs
    from runner_image.opsgrat_runner.redact import Redactor

    files = reqs.found(dirs.project)
    if not files:
        return None
    galaxy = _galaxy(project)
    run = reqs.ZoneCommand(sandbox, dirs, stream.note, Redactor([galaxy.token] if galaxy else []), should_cancel)
    key = reqs.archive_key(project["id"], revision)
    if not sync:
        body = _cached_requirements(key, stream)
        if body is not None:
            with closing(body):
                target = reqs.unpack(run, dirs, body)
            stream.note(f"requirements: using those installed for revision {revision} by an earlier sync or job "
                        "(not reinstalled)")
            return target
    target = reqs.install(run, dirs, files, env, galaxy)
    stream.note(f"requirements: installed for revision {revision}")
    try:
        handle = reqs.open_archive(reqs.pack(run, dirs))
        if handle is None:
            stream.note(f"requirements: not cached (the archive is not a file of at most {reqs.MAX_ARCHIVE} bytes)")
        else:
            with handle:
                aws.client("s3").upload_fileobj(handle, STACK.bucket, key)
            os.unlink(os.path.join(dirs.zone, reqs.ARCHIVE_NAME))
    except (reqs.RequirementsError, OSError, ClientError, BotoCoreError) as exc:
        logger.exception("could not cache the requirements", extra={"key": key})
        stream.note(f"requirements: not cached ({type(exc).__name__}: {exc}); the next job reinstalls them")
    return target


def _machine_credential(job: dict) -> dict[str, str]:
    """The job's machine credential, else its inventory's login credential (spec §3.5)."""
    if job.get("credential"):
        return _credential(job["credential"])
    inventory = store.get("inventory", int(job["inventory"])) if job.get("inventory") else None
    return _credential((inventory or {}).get("credential"))


def _spec(job: dict, machine: dict, vault: dict, settings: dict, **resolved) -> RunSpec:
    """The runner's RunSpec of a job: every run option as `RUN_OPTIONS` maps it, plus what the
    runner resolved (checkout, inventory, decrypted credentials)."""
    options = {option.spec: option.runner_value(job) for option in RUN_OPTIONS if option.spec}
    return RunSpec(
        kind="adhoc" if job.get("kind") == JobKind.ADHOC else "playbook",
        module=job.get("module") or None, module_args=job.get("arguments") or "",
        inventory_str=job.get("inventory_str") or None,
        extravars=load_mapping(job.get("variables") or "", "variables"),
        become_method=machine.get("become_method") or "", become_user=machine.get("become_user") or "",
        become_password=machine.get("become_pass") or "", ssh_user=machine.get("user_name") or "",
        ssh_password=machine.get("password") or "", ssh_private_key=machine.get("private_key") or "",
        ssh_key_passphrase=machine.get("passphrase") or "", vault_password=vault.get("vault_password") or "",
        vault_id=vault.get("vault_id") or "",
        job_timeout=int(settings.get("job_timeout") or 0), idle_timeout=int(settings.get("idle_timeout") or 0),
        **options, **resolved,
    )


def run_playbook_job(job: dict, stream: EventStream, should_cancel, dirs: JobDirs, zone: JobZone,
                     settings: dict) -> Outcome:
    """Run a template job, template-less playbook or ad-hoc command in the job zone."""
    marks = [("start", time.perf_counter())]
    if not job.get("inventory_str") and not job.get("inventory"):
        return Outcome(JobState.FAILED, "the job has no inventory")
    with ThreadPoolExecutor(max_workers=2) as pool:  # inventory and environment load while git checks out
        rendering = None
        if not job.get("inventory_str"):
            from chalicelib.services.inventory_render import render

            rendering = pool.submit(render, int(job["inventory"]))
        environment = pool.submit(_environment)
        machine = _machine_credential(job)
        vault = _credential(job.get("vault_credential"))
        revision = ""
        project_dir = None
        if job.get("kind") != JobKind.ADHOC:
            project = store.get("project", int(job["project"])) if job.get("project") else None
            if project is None:
                return Outcome(JobState.FAILED, "the job's project no longer exists")
            project_dir = dirs.project
            revision = _checkout(project, project_dir, stream)
        zone.sandbox.hand_over(dirs.project)
        marks.append(("checkout", time.perf_counter()))
        inventory = rendering.result() if rendering else None
        env = environment.result()
        marks.append(("inventory", time.perf_counter()))
    requirements_dir = None
    if project_dir is not None:
        from runner_image.opsgrat_runner.requirements import RequirementsError

        try:
            requirements_dir = _requirements(project, revision, stream, dirs, zone.sandbox, env, should_cancel,
                                             sync=False)
        except RequirementsError as exc:
            state = JobState.CANCELED if should_cancel() else JobState.FAILED
            return Outcome(state, "canceled by a user" if state == JobState.CANCELED
                           else f"the project's requirements could not be installed: {exc}", revision=revision)
        marks.append(("requirements", time.perf_counter()))
    spec = _spec(job, machine, vault, settings, project_dir=project_dir, inventory=inventory, env=env,
                 workdir=dirs.zone, requirements_dir=requirements_dir)
    timeout = spec.job_timeout
    deadline = time.monotonic() + timeout + ZONE_GRACE if timeout else None
    result = zone.run(spec, on_event=stream.add, should_cancel=should_cancel, deadline=deadline)
    marks.append(("ansible", time.perf_counter()))
    logger.info("job phases", extra={"job_id": job["id"], **{name: round(t - prev, 3) for (_, prev), (name, t)
                                                               in zip(marks, marks[1:])}})
    # a timeout is a failed job whose reason says which timeout (RunResult.error)
    state = JobState.FAILED if result.status == "timeout" else JobState(result.status)
    reason = "canceled by a user" if state == JobState.CANCELED else result.error
    return Outcome(state, reason, [s.to_dict() for s in result.host_summaries], revision, artifacts(stream))


#: the most `set_stats` data a job hands on (JSON bytes): it is stored on the job record
MAX_ARTIFACTS = 65_536


def artifacts(stream: "EventStream") -> dict:
    """The playbook's artifacts when they are JSON and small enough to keep, else none."""
    try:
        size = len(json.dumps(stream.artifacts))
    except (TypeError, ValueError):
        return {}
    return stream.artifacts if size <= MAX_ARTIFACTS else {}


def sync_project(job: dict, stream: EventStream, dirs: JobDirs, should_cancel=lambda: False) -> Outcome:
    from runner_image.opsgrat_runner.git import find_playbooks
    from runner_image.opsgrat_runner.requirements import RequirementsError, found

    projects = get("project")
    project = store.get("project", int(job["project"]))
    if project is None:
        return Outcome(JobState.FAILED, "the project no longer exists")
    revision = _checkout(project, dirs.project, stream)
    playbooks = find_playbooks(dirs.project)
    stream.note(f"Found {len(playbooks)} playbook(s): {', '.join(playbooks)}")
    if found(dirs.project):  # roles and collections, installed in the job zone and cached by revision
        try:
            sandbox = Sandbox.from_environment()
        except SandboxUnavailable as exc:
            return Outcome(JobState.FAILED, f"job isolation is not available on this runner: {exc}", revision=revision)
        sandbox.hand_over(dirs.zone)
        try:
            _requirements(project, revision, stream, dirs, sandbox, _environment(), should_cancel, sync=True)
        except RequirementsError as exc:
            if should_cancel():
                return Outcome(JobState.CANCELED, "canceled by a user", revision=revision)
            return Outcome(JobState.FAILED, f"the project's requirements could not be installed: {exc}",
                           revision=revision)
        finally:
            sandbox.cleanup()
    for _ in range(10):
        current = store.get("project", project["id"])
        if current is None:
            break
        try:
            store.update(projects, current, {**current, "revision": revision, "playbooks": playbooks,
                                             "last_sync_time": int(time.time())})
            break
        except Exception:  # noqa: BLE001 - a concurrent edit: read again
            time.sleep(0.1)
    return Outcome(JobState.SUCCESSFUL, revision=revision)


def sync_host_source(job: dict, stream: EventStream, dirs: JobDirs) -> Outcome:
    from chalicelib.services import host_sources

    source = store.get("host_source", int(job["host_source"]))
    if source is None:
        return Outcome(JobState.FAILED, "the host source no longer exists")
    revision = ""
    project_dir = None
    if source.get("source_type") == "file":
        project = store.get("project", int(source["project"])) if source.get("project") else None
        if project is None:
            return Outcome(JobState.FAILED, "the host source's project no longer exists")
        project_dir = dirs.project
        revision = _checkout(project, project_dir, stream)
    try:
        commands = ZoneCommands(Sandbox.from_environment(), dirs)
        outcome = host_sources.sync(source["id"], project_dir=project_dir, workdir=dirs.zone, run_command=commands)
    except SandboxUnavailable as exc:
        return Outcome(JobState.FAILED, f"job isolation is not available on this runner: {exc}", revision=revision)
    except host_sources.SourceError as exc:
        return Outcome(JobState.FAILED, f"host source sync failed: {exc.detail}", revision=revision)
    stream.note(f"Imported from the {source.get('source_type')} source: {json.dumps(outcome, default=str)}")
    return Outcome(JobState.SUCCESSFUL, revision=revision)


# ------------------------------------------------------------------ the run


def _start(job: dict) -> dict | None:
    def change(current: dict):
        if current.get("state") in jobs.FINAL or current.get("cancel_requested"):
            return False
        jobs.running(current)

    return jobs.mutate(job["id"], change, current=job)


def _store_summaries(job_id: int, summaries: list[dict], expires: int | None) -> None:
    resource = get("job_host_summary")
    for row in summaries:
        rec = {"job": job_id, **row}
        if expires:
            rec["_expires"] = expires
        store.create(resource, rec)


def warm_up() -> None:
    """Create the AWS clients a job uses (service models loaded, nothing connected yet).

    The local backend calls this in its fork server, so every forked runner starts with them
    ready; in a container it is simply the first thing the one job does."""
    for service in ("stepfunctions", "logs", "s3", "kms", "events"):  # events: its start and end on the bus
        aws.client(service)
    store.warm_up()


class ExecutionEnvironmentError(RuntimeError):
    """The job's execution environment cannot be used here (the job fails with this reason)."""


def zone_python(job: dict, stream: EventStream) -> str | None:
    """The Python the job zone runs ansible with: the venv's of the job's execution environment,
    else the runner's own (None). An image is what this runner already runs in on AWS (the
    dispatcher chose its task definition); the local stack does not use images, and says so."""
    env_id = job.get("execution_environment")
    if not env_id:
        return None
    env = store.get("execution_environment", int(env_id))
    if env is None:
        raise ExecutionEnvironmentError(f"execution_environment: execution environment {env_id} no longer exists")
    label = f'execution environment {env["id"]} "{env.get("name")}"'
    if env.get("venv"):
        python = os.path.join(env["venv"], "bin", "python")
        if not (os.path.isfile(python) and os.access(python, os.X_OK)):
            raise ExecutionEnvironmentError(f"execution_environment: {python} does not exist on this runner "
                                            f"(the venv of {label}); create the venv with ansible-core and ansible-runner")
        stream.note(f"Execution environment: {label}, venv {env['venv']}")
        return python
    if env.get("image"):
        local = os.environ.get("OPSGRAT_RUNNER_BACKEND", "ecs") != "ecs"
        stream.note(f"Execution environment: {label}, image {env['image']}"
                    + (" (not used by the local stack: the job runs with the stack's own ansible)" if local else ""))
    return None


def _run(job: dict, stream: EventStream, should_cancel: CancelWatch, settings: dict) -> Outcome:
    """Prepare the job's directories and sandbox, run the job by its kind, remove what it left."""
    kind = job.get("kind")
    dirs = workdir.create(job["id"], settings.get("workspace"))
    zone = None
    try:
        if kind == JobKind.PROJECT_UPDATE:
            return sync_project(job, stream, dirs, should_cancel)
        if kind == JobKind.INVENTORY_UPDATE:
            return sync_host_source(job, stream, dirs)
        try:
            sandbox = Sandbox.from_environment()
        except SandboxUnavailable as exc:
            return Outcome(JobState.FAILED, f"job isolation is not available on this runner: {exc}")
        sandbox.hand_over(dirs.zone)
        try:
            python = zone_python(job, stream)
        except ExecutionEnvironmentError as exc:
            return Outcome(JobState.FAILED, str(exc))
        zone = JobZone(sandbox, dirs, python=python).start()  # its interpreter starts while the project checks out
        return run_playbook_job(job, stream, should_cancel, dirs, zone, settings)
    finally:
        if zone is not None:
            zone.close()
        workdir.remove(dirs)


def main(argv: list[str]) -> int:
    catch_sigterm()
    job_id = int(argv[1])
    job = store.get("job", job_id)
    if job is None:
        logger.error("no such job", extra={"job_id": job_id})
        return 2
    heartbeat = Heartbeat(job.get("task_token"), jobs.heartbeat_seconds() / 3).start()
    should_cancel = CancelWatch(job_id, heartbeat)
    with ThreadPoolExecutor(max_workers=1) as pool:
        reading = pool.submit(jobs.settings)  # read once: workspace, timeouts and keep_days
        job = _start(job)
        settings = reading.result()
    if job is None or job.get("state") != JobState.RUNNING:
        final = jobs.finish(job_id, JobState.CANCELED, "canceled before it started") if job else None
        heartbeat.stop()
        heartbeat.report(job_id, (final or {}).get("state", JobState.CANCELED))
        return 0
    jobs.announce(job, "started")
    stream = EventStream(job_id)
    try:
        outcome = _run(job, stream, should_cancel, settings)
    except Exception as exc:  # noqa: BLE001 - any failure becomes a failed job with its reason
        logger.exception("job failed in the runner", extra={"job_id": job_id})
        outcome = Outcome(JobState.FAILED, f"{type(exc).__name__}: {exc}")
        stream.note("ERROR: " + outcome.reason)
    if heartbeat.lost.is_set() and outcome.state != JobState.SUCCESSFUL:
        outcome.reason = outcome.reason or "the state machine gave up on this job (timeout or lost heartbeat)"
    if outcome.reason and outcome.state == JobState.FAILED:
        stream.note(f"Job failed: {outcome.reason}")
    stream.close()
    with ThreadPoolExecutor(max_workers=2) as pool:  # both must be stored before the final state
        archived = pool.submit(joblogs.archive, job_id, joblogs.join_stdout(stream.events), stream.events)
        stored = pool.submit(_store_summaries, job_id, outcome.summaries, jobs.expiry(int(time.time()), settings))
        archived.result()
        stored.result()
    extra = {"artifacts": outcome.artifacts} if outcome.artifacts else {}
    final = jobs.finish(job_id, outcome.state, outcome.reason, settings, revision=outcome.revision, **extra) \
        or store.get("job", job_id) or {}
    heartbeat.stop()
    heartbeat.report(job_id, final.get("state", outcome.state))
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    logger.info("job finished", extra={"job_id": job_id, "state": final.get("state", outcome.state),
                                       "runner_cpu_s": round(own.ru_utime + own.ru_stime, 3),
                                       "job_cpu_s": round(children.ru_utime + children.ru_stime, 3)})
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main(sys.argv))
    except Exception:  # noqa: BLE001 - last resort: the heartbeat timeout will fail the job
        traceback.print_exc()
        sys.exit(1)

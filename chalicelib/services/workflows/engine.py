"""Running a workflow: the workflow queue's handler, and the actions on a workflow job.

A workflow job (kind `workflow`) keeps the graph it was launched with (`graph`, a snapshot)
and what each node did (`nodes`: node id -> entry). Its execution, compiled from that graph
(`workflows.compiler`), reaches the nodes level by level and sends each one here:

  * ``{"workflow_job", "node", "task_token"}``: decide the node: run it (its child job is
    launched through the one door, `services.launch`, with the token; the job settles the token
    when it ends, `jobs.finish`), skip it (no incoming line holds, or it lies outside the run),
    reuse an earlier run's result (a resume), or wait for an approval (the API settles it);
  * ``{"workflow_job", "node", "expired", "task_token"}``: an approval timed out: the node fails;
  * ``{"workflow_job", "done"}``: every level has run: the workflow job's final state, as AWX
    decides it: `failed` when a node failed and no `failed`/`any` line leaves it.

Everything a node decides from is already stored when its message arrives: a level starts only
once every node of the previous one has settled its token, and a node's entry (with its child's
id, allocated first) is written before its child is launched.
"""
from __future__ import annotations

import enum
import time
from typing import Any

from aws_lambda_powertools import Logger

from chalicelib import aws
from chalicelib.services import jobs, launch, rbac, store
from chalicelib.services.catalog.workflow import NODE_OVERRIDES
from chalicelib.services.errors import NotFound, PermissionDenied, ValidationError
from chalicelib.services.fields import Int
from chalicelib.services.jobs import FINAL, JobKind, JobState
from chalicelib.services.resources import get
from chalicelib.services.workflows import machines
from chalicelib.services.workflows.graph import Graph, NodeType

logger = Logger(service="opsgrat-workflow")

#: a workflow may run workflows that run workflows... this deep (a guard: cycles are refused on save)
MAX_DEPTH = 5
#: the node options a node overrides when `use_node_params` is 1 (variables are merged, not replaced)
NODE_PARAMS = tuple(name for name in NODE_OVERRIDES if name != "variables")
#: what a run request may override for every node (spec §4.3, §4.8)
WORKFLOW_OVERRIDES = ("variables", "inventory", "inventory_str", "limit")


class NodeState(enum.StrEnum):
    """What a node's entry says beyond its child job's state."""

    SKIPPED = "skipped"
    PENDING = "pending"


FAILED_STATES = (JobState.FAILED, JobState.CANCELED)
START_NODE = Int("node", default=None, minimum=1, description="Start the run at this node.")


# ---------------------------------------------------------------- launching a workflow


def launch_workflow(principal: rbac.Principal, template: dict, payload: dict, parent: dict | None = None,
                    vouch: bool | None = None, origin: launch.Origin = launch.BY_REQUEST) -> dict:
    """`POST /api/template/template/run/` on a workflow template (or a workflow node): the template's
    `inventory`, `limit` and `variables`, overridden by the request's, apply to every node.
    `vouch` None: vouchers count unless the request brings overrides of its own."""
    graph = machines.load_graph(template["id"])
    start = START_NODE.parse(payload.get("node"))
    if start is not None and start not in graph.nodes:
        raise ValidationError("node", f"no node {start} in workflow {template['id']}")
    job_fields = get("job").by_name
    fields: dict[str, Any] = {"template": template["id"], "job_type": "run", "forks": 0, "verbosity": 0,
                              "inventory": template.get("inventory"), "limit": template.get("limit") or "",
                              **origin.stamp()}
    for name in ("inventory", "inventory_str", "limit"):
        if name in payload:
            fields[name] = job_fields[name].parse(payload[name])
    fields["variables"] = launch.merge_variables(template.get("variables", ""), payload.get("variables") if "variables" in payload else None)
    attached_by = dict(template.get("attached_by") or {})
    if "inventory" in payload:
        attached_by.pop("inventory", None)  # the template's editor vouched for its own inventory only
    if vouch is None:
        vouch = not any(payload.get(name) not in (None, "") for name in WORKFLOW_OVERRIDES)
    return start_workflow(principal, template, graph, fields, attached_by, vouch=vouch, current=True,
                          force=start if start not in (None, graph.start()) else None, parent=parent,
                          job_id=origin.job_id)


def start_workflow(principal: rbac.Principal, template: dict, graph: Graph, fields: dict, attached_by: dict,
                   vouch: bool, current: bool = False, force: int | None = None, reuse: dict | None = None,
                   parent: dict | None = None, extra: dict | None = None, job_id: int | None = None) -> dict:
    """Store and start one workflow job running `graph` (launch's door, with the workflow's machine)."""
    if graph.start() is None:
        raise ValidationError("id", f"workflow {template['id']} has no start node")
    depth = int((parent or {}).get("depth", 0))
    if depth >= MAX_DEPTH:
        raise ValidationError("bind_template", f"workflows nest at most {MAX_DEPTH} deep")
    data = {**fields, "graph": graph.snapshot(), "nodes": {}, "force": force, "reuse": reuse or {},
            "vouch": vouch, "depth": depth, **(extra or {})}
    if parent:
        data.update(job=parent["job"], node=parent["node"], node_token=parent["node_token"])
    request = launch.JobRequest(JobKind.WORKFLOW, data, template=template, attached_by=attached_by,
                                vouch=vouch,
                                state_machine=machines.machine_for(template, graph, current),
                                job_id=(parent or {}).get("job_id") or job_id)
    return launch.launch(principal, request)


# ---------------------------------------------------------------- the queue's handler


def handle(message: dict) -> None:
    wf_id = int(message["workflow_job"])
    if message.get("done"):
        finish(wf_id, message.get("error"))
    else:
        step(wf_id, int(message["node"]), message["task_token"], bool(message.get("expired")))


def _send(token: str, status: str) -> None:
    jobs.settle_task(token, {"status": status})


def _record(wf_id: int, node_id: int, entry: dict, only_if=None) -> dict | None:
    """Write one node's entry; `only_if(old_entry)` False leaves it as it is."""
    def change(job: dict):
        old = (job.get("nodes") or {}).get(str(node_id))
        if only_if is not None and not only_if(old):
            return False
        job["nodes"] = {**(job.get("nodes") or {}), str(node_id): entry}  # a new dict: mutate compares
    return jobs.mutate(wf_id, change)


def _now() -> str:
    return jobs.iso(time.time())


def step(wf_id: int, node_id: int, token: str, expired: bool = False) -> None:
    wf = store.get("job", wf_id)
    graph = Graph.from_snapshot(wf.get("graph") or {}) if wf else None
    if wf is None or node_id not in graph.nodes:
        _send(token, "gone")
        return
    key = str(node_id)
    if expired:
        timeout = int(graph.nodes[node_id].get("timeout") or 0)
        _record(wf_id, node_id, {**((wf.get("nodes") or {}).get(key) or {}), "state": JobState.FAILED, "token": None,
                                 "finished": _now(), "reason": f"not approved within {timeout} s"},
                only_if=lambda old: (old or {}).get("state") == NodeState.PENDING)
        _send(token, JobState.FAILED)
        return
    entry = (wf.get("nodes") or {}).get(key)
    if entry is not None:  # a redelivered message: the node was decided already
        if entry.get("job"):
            child = store.get("job", int(entry["job"]))
            if child is None or child.get("state") in FINAL:
                _send(token, str((child or {}).get("state", JobState.FAILED)))
        elif entry.get("state") != NodeState.PENDING:
            _send(token, str(entry.get("state")))
        return
    if wf.get("state") in FINAL:
        _record(wf_id, node_id, {"state": NodeState.SKIPPED, "reason": f"the workflow job was {wf['state']}"})
        _send(token, NodeState.SKIPPED)
        return
    decided = decide(wf, graph, node_id)
    if decided is not None:
        _record(wf_id, node_id, decided)
        _send(token, str(decided["state"]))
        return
    run(wf, graph, node_id, token)


def decide(wf: dict, graph: Graph, node_id: int) -> dict | None:
    """The entry of a node that does not run now (skipped, reused), or None when it runs."""
    force = wf.get("force")
    reuse = wf.get("reuse") or {}
    if force is not None and node_id not in graph.descendants(int(force)):
        if str(node_id) in reuse:
            return {**reuse[str(node_id)], "reused": True}
        return {"state": NodeState.SKIPPED, "reason": f"not downstream of node {force}, where the run started"}
    if node_id != force:
        incoming = graph.incoming(node_id)
        if not incoming:
            return {"state": NodeState.SKIPPED, "reason": "no line leads to this node"}
        states = statuses(wf, graph, {line.node for line in incoming})
        holds = [states.get(line.node) in line.result for line in incoming]
        rule = all if graph.nodes[node_id].get("all_parents_must_succeed") else any
        if not rule(holds):
            why = "not every incoming line's condition held" if rule is all else "no incoming line's condition held"
            return {"state": NodeState.SKIPPED, "reason": why}
    if str(node_id) in reuse:
        return {**reuse[str(node_id)], "reused": True}
    return None


def statuses(wf: dict, graph: Graph, wanted: set[int] | None = None) -> dict[int, str | None]:
    """Each node's result so far: a job state, `skipped`, `pending`, or None (not reached)."""
    wanted = set(graph.nodes) if wanted is None else wanted
    entries = wf.get("nodes") or {}
    child_ids = {int(e["job"]) for n, e in entries.items()
                 if int(n) in wanted and e.get("job") and e.get("state") not in FINAL}
    children = store.batch_get(("job", i) for i in child_ids) if child_ids else {}
    out: dict[int, str | None] = {}
    start = graph.start()
    force, reuse = wf.get("force"), wf.get("reuse") or {}
    for node_id in wanted:
        entry = entries.get(str(node_id))
        if entry is not None:
            if entry.get("job") and entry.get("state") not in FINAL:
                child = children.get(("job", int(entry["job"])))
                out[node_id] = str(child.get("state")) if child else JobState.FAILED
            else:
                out[node_id] = entry.get("state")
        elif node_id == start:
            if force is None or int(force) == start:
                out[node_id] = JobState.SUCCESSFUL
            else:
                out[node_id] = (reuse.get(str(start)) or {}).get("state", NodeState.SKIPPED)
        else:
            out[node_id] = None
    return out


def run(wf: dict, graph: Graph, node_id: int, token: str) -> None:
    """Start what the node binds; a node that cannot start fails, with the reason."""
    node = graph.nodes[node_id]
    node_type = NodeType(node.get("type") or "")
    if node_type == NodeType.START:  # an unbound node: a junction, done as soon as it is reached
        _record(wf["id"], node_id, {"state": JobState.SUCCESSFUL, "started": _now(), "finished": _now()})
        _send(token, JobState.SUCCESSFUL)
        return
    if node_type == NodeType.APPROVAL:
        timeout = int(node.get("timeout") or 0)
        _record(wf["id"], node_id, {"state": NodeState.PENDING, "token": token, "started": _now(),
                                    "expires": int(time.time()) + timeout if timeout else None})
        return
    child_id = store.next_id("job")
    _record(wf["id"], node_id, {"job": child_id, "started": _now()})
    try:
        principal = _launcher(wf)
        link = {"job": wf["id"], "node": node_id, "node_token": token}
        _launch_child(principal, wf, graph, node, node_type, link, child_id)
        return
    except (PermissionDenied, ValidationError, NotFound) as exc:
        why = exc.detail
    except Exception as exc:  # noqa: BLE001 - the workflow must go on by its lines
        logger.exception("node did not start", extra={"workflow_job": wf["id"], "node": node_id})
        why = f"{type(exc).__name__}: {exc}"
    _record(wf["id"], node_id, {"state": JobState.FAILED, "started": _now(), "finished": _now(),
                                "reason": f"could not start: {why}"})
    _send(token, JobState.FAILED)


def _launcher(wf: dict) -> rbac.Principal:
    """Nodes run with their workflow's launcher's permissions, as they are now."""
    user = store.get("user", int(wf["cuser"])) if wf.get("cuser") else None
    if user is None or not user.get("active", 1):
        raise PermissionDenied("the user who launched the workflow no longer exists or is inactive")
    return rbac.Principal(user)


def _bound(family: str, rec_id, field_name: str) -> dict:
    rec = store.get(family, int(rec_id)) if rec_id else None
    if rec is None:
        raise ValidationError(field_name, f"the node's {family.replace('_', ' ')} {rec_id} no longer exists")
    return rec


def _launch_child(principal: rbac.Principal, wf: dict, graph: Graph, node: dict, node_type: NodeType,
                  link: dict, child_id: int) -> dict:
    vouch = bool(wf.get("vouch", True))
    if node_type == NodeType.JOB:
        template = _bound("template", node.get("bind_template"), "bind_template")
        fields = job_fields(wf, graph, node, template)
        attached_by = dict(template.get("attached_by") or {})
        if wf.get("inventory") or wf.get("inventory_str"):
            attached_by.pop("inventory", None)
        return launch.launch(principal, launch.JobRequest(
            JobKind.JOB, {**fields, **link}, template=template, attached_by=attached_by, vouch=vouch, job_id=child_id))
    if node_type == NodeType.PROJECT_SYNC:
        project = _bound("project", node.get("project"), "project")
        return launch.launch(principal, launch.JobRequest(
            JobKind.PROJECT_UPDATE, {"job_type": "run", "verbosity": 0, "forks": 0, "project": project["id"], **link},
            vouch=vouch, job_id=child_id))
    if node_type == NodeType.INVENTORY_SYNC:
        source = _bound("host_source", node.get("host_source"), "host_source")
        return launch.launch(principal, launch.JobRequest(
            JobKind.INVENTORY_UPDATE, {"job_type": "run", "verbosity": 0, "forks": 0, "host_source": source["id"],
                                       "inventory": source.get("inventory"), "project": source.get("project"), **link},
            attached_by={"inventory": launch.voucher(source, "inventory"), "project": launch.voucher(source, "project")},
            vouch=vouch, job_id=child_id))
    if node_type == NodeType.WORKFLOW:
        template = _bound("template", node.get("bind_template"), "bind_template")
        # the inner workflow runs as if launched with this one's overrides (and the artifacts so far)
        payload = {name: wf[name] for name in ("inventory", "inventory_str", "limit") if wf.get(name)}
        payload["variables"] = _with_artifacts(wf, graph, node["id"], wf.get("variables") or "")
        return launch_workflow(principal, template, payload, vouch=vouch,
                               parent={**link, "depth": int(wf.get("depth") or 0) + 1, "job_id": child_id})
    raise ValidationError("type", f"unknown node type {node_type!r}")


def job_fields(wf: dict, graph: Graph, node: dict, template: dict) -> dict:
    """A job node's options: the bound template's; the node's own when `use_node_params` is 1;
    the artifacts of the nodes before it; then the workflow's (every node's) overrides."""
    fields = {name: template.get(name) for name in launch.RUN_FIELDS if name in template}
    fields.update(template=template["id"], module="", arguments="")
    variables = template.get("variables") or ""
    if node.get("use_node_params"):
        fields.update({name: node[name] for name in NODE_PARAMS if name in node and node[name] is not None})
        variables = launch.merge_variables(variables, node.get("variables") or None)
    variables = _with_artifacts(wf, graph, node["id"], variables)
    fields["variables"] = launch.merge_variables(variables, wf.get("variables") or None)
    for name in ("limit", "inventory", "inventory_str"):
        if wf.get(name):
            fields[name] = wf[name]
    hosts = _failed_hosts(wf, node["id"])
    if hosts:
        fields["limit"] = ",".join(hosts)
    if not fields.get("project") or not fields.get("playbook"):
        raise ValidationError("bind_template", f"template {template['id']} has no project and playbook to run")
    if not fields.get("inventory") and not fields.get("inventory_str"):
        raise ValidationError("inventory", f"template {template['id']} has no inventory and the workflow gives none")
    return fields


def _with_artifacts(wf: dict, graph: Graph, node_id: int, variables: str) -> str:
    """`set_stats` data of the nodes that lead to this one, in level order, over `variables` (AWX)."""
    ancestors = [n for level in graph.levels() for n in level if n != node_id and node_id in graph.descendants(n)]
    entries = wf.get("nodes") or {}
    child_ids = [int(entries[str(n)]["job"]) for n in ancestors if (entries.get(str(n)) or {}).get("job")]
    if not child_ids:
        return variables
    children = store.batch_get(("job", i) for i in child_ids)
    merged: dict = {}
    for child_id in child_ids:
        merged.update((children.get(("job", child_id)) or {}).get("artifacts") or {})
    return launch.merge_variables(variables, merged) if merged else variables


def _failed_hosts(wf: dict, node_id: int) -> list[str]:
    """A relaunch with hosts=failed: the hosts that failed in this node's previous job."""
    previous = (wf.get("previous_jobs") or {}).get(str(node_id))
    if wf.get("relaunch_hosts") != "failed" or not previous:
        return []
    summaries = store.scan_index(get("job_host_summary"), "job", int(previous))
    return sorted({s["host"] for s in summaries if s.get("failures") or s.get("unreachable")})


# ---------------------------------------------------------------- the end of a run


def outcome(wf: dict, graph: Graph) -> tuple[JobState, str, dict[int, str | None]]:
    """AWX's rule: failed when a failed (or canceled) node has no `failed`/`any` line out of it."""
    states = statuses(wf, graph)
    unhandled = [n for n, s in sorted(states.items()) if s in FAILED_STATES
                 and not any(JobState.FAILED in line.result for line in graph.outgoing(n))]
    if unhandled:
        names = ", ".join(graph.name(n) for n in unhandled)
        return JobState.FAILED, f"failed with no failure path: {names}", states
    return JobState.SUCCESSFUL, "", states


def finish(wf_id: int, error: dict | None = None) -> None:
    wf = store.get("job", wf_id)
    if wf is None or wf.get("state") in FINAL:
        return
    graph = Graph.from_snapshot(wf.get("graph") or {})
    state, reason, states = outcome(wf, graph)
    if error:
        state, reason = JobState.FAILED, f"the workflow's execution failed: {error.get('Error') or error}"
    entries = {key: ({**entry, "state": states.get(int(key)) or entry.get("state")} if entry.get("job") else entry)
               for key, entry in (wf.get("nodes") or {}).items()}
    jobs.finish(wf_id, state, reason, nodes=entries)
    logger.info("workflow finished", extra={"workflow_job": wf_id, "state": state})


def cancel(wf: dict) -> None:
    """End a workflow job: its execution, every unfinished child and every pending approval."""
    wf = jobs.mutate(wf["id"], lambda j: j.update(cancel_requested=1)) or wf
    final = jobs.finish(wf["id"], JobState.CANCELED, "canceled by a user") or wf
    if final.get("execution_arn"):
        try:
            aws.client("stepfunctions").stop_execution(executionArn=final["execution_arn"], cause="canceled")
        except Exception:  # noqa: BLE001 - it may have ended already
            pass
    for key, entry in (final.get("nodes") or {}).items():
        if entry.get("job"):
            child = store.get("job", int(entry["job"]))
            if child is not None and child.get("state") not in FINAL:
                launch.stop(child)
        elif entry.get("state") == NodeState.PENDING and entry.get("token"):
            _record(wf["id"], int(key), {**entry, "state": JobState.CANCELED, "finished": _now(), "token": None},
                    only_if=lambda old: (old or {}).get("state") == NodeState.PENDING)
            _send(entry["token"], JobState.CANCELED)


# ---------------------------------------------------------------- approvals


def pending_approvals(rec: dict) -> list[dict]:
    """The approvals a workflow job waits for (shown on the job)."""
    graph_nodes = {int(n["id"]): n for n in (rec.get("graph") or {}).get("nodes") or []}
    out = []
    for key, entry in sorted((rec.get("nodes") or {}).items(), key=lambda kv: int(kv[0])):
        if entry.get("state") == NodeState.PENDING:
            out.append({"node": int(key), "name": (graph_nodes.get(int(key)) or {}).get("name"),
                        "started": entry.get("started"), "expires": entry.get("expires")})
    return out


def decide_approval(principal: rbac.Principal, job_id, approve: bool, node=None) -> dict:
    """`POST /api/job/job/{id}/approve/` and `/deny/`: needs execute on the workflow template."""
    from chalicelib.services import crud

    wf = crud.load(get("job"), job_id)
    rbac.require(principal, get("job"), wf, "read")
    if wf.get("kind") != JobKind.WORKFLOW:
        raise ValidationError(None, f"job {wf['id']} is not a workflow job")
    template = store.get("template", int(wf["template"])) if wf.get("template") else None
    if template is None:
        if not principal.is_superuser:
            raise PermissionDenied("the workflow template was deleted; only superusers may decide its approvals")
    else:
        rbac.require(principal, get("template"), template, "execute")
    pending = pending_approvals(wf)
    node_id = START_NODE.parse(node)
    if node_id is None:
        if len(pending) != 1:
            raise ValidationError("node", f"{len(pending)} approvals are pending; name the node"
                                  if pending else "no approval is pending")
        node_id = pending[0]["node"]
    if node_id not in {p["node"] for p in pending}:
        raise ValidationError("node", f"node {node_id} is not waiting for an approval")
    key = str(node_id)
    entry = dict((wf.get("nodes") or {})[key])
    verdict = JobState.SUCCESSFUL if approve else JobState.FAILED
    who = principal.user.get("username") or principal.id
    done = _record(wf["id"], node_id, {**entry, "state": verdict, "finished": _now(), "token": None,
                                       "decided_by": principal.id,
                                       "reason": f"{'approved' if approve else 'denied'} by {who}"},
                   only_if=lambda old: (old or {}).get("state") == NodeState.PENDING)
    if done is None or (done.get("nodes") or {}).get(key, {}).get("decided_by") != principal.id:
        raise ValidationError("node", f"node {node_id} is no longer waiting for an approval")
    _send(entry["token"], verdict)
    from chalicelib.services import activity

    activity.record(principal, activity.Action.UPDATE, "job", wf["id"], (template or {}).get("name"),
                    {"approval": node_id, "decision": "approved" if approve else "denied"})
    return crud.serialize(get("job"), store.get("job", wf["id"]))


# ---------------------------------------------------------------- resume and re-run


def relaunch(principal: rbac.Principal, job: dict, hosts: str, start) -> dict:
    """Run a workflow job's graph again (its snapshot, not the template's graph as it is now).

    `start` None: every node again. "failed": resume: the nodes that succeeded keep their results
    (their jobs are not rerun) and the others run as the lines decide. A node id: that node and
    everything after it run again; every other node keeps its result. `hosts` "failed": a job
    node that runs again runs only on the hosts that failed in its previous job."""
    template = store.get("template", int(job["template"])) if job.get("template") else None
    if template is None:
        raise ValidationError("template", f"the workflow template {job.get('template')} was deleted")
    graph = Graph.from_snapshot(job.get("graph") or {})
    previous = {key: e["job"] for key, e in (job.get("nodes") or {}).items() if e.get("job")}
    force, reuse = None, {}
    if start is not None:
        if job.get("state") not in FINAL:
            raise ValidationError("from", "the workflow job has not finished yet")
        states = statuses(job, graph)

        def kept(node_id: int) -> dict:
            entry = (job.get("nodes") or {}).get(str(node_id)) or {}
            return {k: v for k, v in {"state": states[node_id], "job": entry.get("job"),
                                      "started": entry.get("started"), "finished": entry.get("finished")}.items() if v}
        if start == "failed":
            reuse = {str(n): kept(n) for n, s in states.items() if s == JobState.SUCCESSFUL and n != graph.start()}
            if not any(s in (*FAILED_STATES, NodeState.SKIPPED, None) for n, s in states.items() if n != graph.start()):
                raise ValidationError("from", "no node failed or was left out in this run")
        else:
            try:
                force = START_NODE.parse(start) if not isinstance(start, bool) else None
            except ValidationError:
                force = None
            if force is None or force not in graph.nodes:
                raise ValidationError("from", f'must be "failed" or the id of a node of this run\'s graph, not {start!r}')
            rerun = graph.descendants(force)
            reuse = {str(n): kept(n) for n, s in states.items()
                     if n not in rerun and s in (JobState.SUCCESSFUL, *FAILED_STATES)}
            if force == graph.start():
                force, reuse = None, {}
    fields = {name: job.get(name) for name in ("template", "job_type", "forks", "verbosity", "inventory",
                                               "inventory_str", "limit", "variables") if name in job}
    extra = {"relaunch_of": job["id"], "relaunch_hosts": hosts, "previous_jobs": previous}
    return start_workflow(principal, template, graph, fields, dict(job.get("attached_by") or {}),
                          vouch=bool(job.get("vouch", True)), force=force, reuse=reuse, extra=extra)


# ---------------------------------------------------------------- what the UI draws


def view(wf: dict) -> dict:
    """`GET /api/job/job/{id}/workflow/`: the run's graph, each node's state, job and times, and the lines taken."""
    graph = Graph.from_snapshot(wf.get("graph") or {})
    states = statuses(wf, graph)
    entries = wf.get("nodes") or {}
    child_ids = {int(e["job"]) for e in entries.values() if e.get("job")}
    children = store.batch_get(("job", i) for i in child_ids) if child_ids else {}
    nodes = []
    for node_id in sorted(graph.nodes):
        node, entry = graph.nodes[node_id], entries.get(str(node_id)) or {}
        child = children.get(("job", int(entry["job"]))) if entry.get("job") else None
        state = states.get(node_id)
        if entry.get("job") and child is None and entry.get("state") not in FINAL:
            state = JobState.NEW  # its job id is reserved and the job is being written: not failed yet
        nodes.append({"id": node_id, "name": node.get("name"), "type": node.get("type") or "",
                      "is_start_node": int(node.get("is_start_node") or 0),
                      "top": node.get("top"), "left": node.get("left"), "state": state,
                      "job": int(entry["job"]) if entry.get("job") else None,
                      "started": (child or {}).get("started") or entry.get("started"),
                      "finished": (child or {}).get("finished") or entry.get("finished"),
                      "reused": bool(entry.get("reused")), "reason": entry.get("reason") or (child or {}).get("reason") or "",
                      "expires": entry.get("expires")})
    lines = [{"id": line.id, "node": line.node, "next_node": line.next_node, "result": sorted(line.result),
              "taken": states.get(line.node) in line.result} for line in graph.lines]
    return {"id": wf["id"], "template": wf.get("template"), "state": wf.get("state"), "nodes": nodes, "lines": lines,
            "levels": graph.levels(), "pending_approvals": pending_approvals(wf)}

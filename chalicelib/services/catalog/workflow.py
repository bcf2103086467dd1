"""Workflow nodes (spec §4.6) and lines (§4.7): the graph of a workflow template (§4.8).

Both follow their workflow's permissions (`Access.parent` on `template`): reading the graph needs
read on the workflow template, changing it needs write on it. Binding a template, project or host
source in a node needs execute ("use") on that object, as attaching one to a template does.

The graph is checked whenever it changes, so that what is stored can always be compiled and run:
  * one start node per workflow, made with the workflow (`create_start_node`); it runs nothing,
    no line enters it, and it is deleted only with its workflow;
  * a node binds what its type runs and nothing else (`BINDS`); a workflow node never makes a
    workflow contain itself, however deep the nesting;
  * a line joins two nodes of one workflow, two nodes at most once, and never closes a cycle.
A line carries its workflow (`template`, derived from its nodes, indexed) so that a workflow's
lines are one index query, like its nodes. Deleting a workflow deletes its graph (cascade);
deleting a node deletes the lines from it (cascade) and into it (`also_deletes`).

After every change `machines.graph_changed` learns which workflow's graph moved (it redeploys
that workflow's state machine).
"""
from __future__ import annotations

import dataclasses
from collections.abc import Container, Iterator

from chalicelib.services import store
from chalicelib.services.catalog.template import RUN_OPTIONS
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Bool01, Choices, Int, Label, Ref, Str
from chalicelib.services.resources import Access, IndexRows, Resource, register
from chalicelib.services.workflows.graph import NODE_TYPE_LABELS, RESULT_LABELS, Graph, LineResult, NodeType

#: the field a node of each type binds: the template, project or host source it runs (None: nothing)
BINDS: dict[NodeType, str | None] = {
    NodeType.START: None, NodeType.JOB: "bind_template", NodeType.WORKFLOW: "bind_template",
    NodeType.PROJECT_SYNC: "project", NodeType.INVENTORY_SYNC: "host_source", NodeType.APPROVAL: None,
}
BINDING_FIELDS = ("bind_template", "project", "host_source")
#: the run options of the bound template that a node overrides when use_node_params is 1
NODE_OVERRIDES = ("forks", "limit", "tags", "skip_tags", "verbosity", "variables", "job_type",
                  "become_enabled", "diff_mode", "force_handlers", "start_at_task")
_OPTIONS = {option.name: option for option in RUN_OPTIONS}
START_NODE_NAME = "Start"


def _graph_changed(template_id: int | None) -> None:
    if template_id is not None:
        from chalicelib.services.workflows import machines  # it compiles graphs: it reads these declarations

        machines.graph_changed(int(template_id))


def _after_save(principal, rec: dict, previous: dict | None) -> None:
    for template_id in {rec.get("template"), (previous or {}).get("template")}:
        _graph_changed(template_id)


def _after_delete(principal, rec: dict) -> None:
    _graph_changed(rec.get("template"))


# ---------------------------------------------------------------- reading a workflow's graph


def graph_records(template_id: int) -> tuple[list[dict], list[dict]]:
    """The workflow's stored nodes and lines, in id order (two index queries)."""
    return (list(store.scan_index(NODES, "template", template_id, ascending=True)),
            list(store.scan_index(LINES, "template", template_id, ascending=True)))


def binding_workflows(template_id: int, limit: int = 50) -> list[int]:
    """Ids of the workflows that bind the template in a node, from the first `limit` such nodes:
    enough to say whether it is bound and where (spec §4.1 `bind_templates`)."""
    return sorted({int(n["template"]) for n in store.scan_index(NODES, "bind_template", template_id, limit=limit)})


def create_start_node(workflow: dict) -> dict:
    """The start node a new workflow template is created with (the UI always drew one)."""
    rec = {f.name: f.default for f in NODES.fields}
    rec.update(name=START_NODE_NAME, template=workflow["id"], type=NodeType.START.value, is_start_node=1, top=0, left=0)
    node = store.create(NODES, rec)
    _graph_changed(workflow["id"])
    return node


def _quoted(rec: dict) -> str:
    return f'"{rec.get("name")}" (id {rec["id"]})'


# ---------------------------------------------------------------- nodes


def _workflow_of(data: dict) -> dict:
    workflow = store.get("template", data["template"])
    if workflow is None:
        raise ValidationError("template", f"no template with id {data['template']}")
    if workflow.get("template_type") != "workflow":
        raise ValidationError("template", f"template {_quoted(workflow)} is a job template: nodes belong to workflow templates")
    return workflow


def _start_node(template_id: int) -> dict | None:
    return next((n for n in store.scan_index(NODES, "template", template_id, ascending=True) if n.get("is_start_node")), None)


def _check_start(change, workflow: dict) -> None:
    """Exactly one start node per workflow (spec §4.8): the one it was created with."""
    data, existing = change.data, change.existing
    start = bool(data.get("is_start_node"))
    if existing is not None:
        if start != bool(existing.get("is_start_node")):
            raise ValidationError("is_start_node", "cannot change: a workflow keeps the start node it was created with")
    elif start:
        other = _start_node(workflow["id"])
        if other is not None:
            raise ValidationError("is_start_node", f"workflow {_quoted(workflow)} already has its start node {_quoted(other)}; "
                                                   "a workflow has exactly one")
    if start and data.get("type"):
        raise ValidationError("type", f'the start node "{data.get("name")}" runs nothing: its type stays ""')


def _containment(start: int, goal: int) -> list[int]:
    """A chain of workflow ids from `start` to `goal`, each containing the next through a node of
    type workflow, or []: walks the nodes of each workflow reached (one index query each)."""
    todo: list[list[int]] = [[start]]
    seen = {start}
    while todo:
        chain = todo.pop(0)
        for node in store.scan_index(NODES, "template", chain[-1], ascending=True):
            inner = node.get("bind_template")
            if node.get("type") != NodeType.WORKFLOW or inner is None:
                continue
            if inner == goal:
                return [*chain, inner]
            if inner not in seen:
                seen.add(inner)
                todo.append([*chain, inner])
    return []


def _check_workflow_binding(workflow: dict, bound: dict) -> None:
    if bound["id"] == workflow["id"]:
        raise ValidationError("bind_template", f"workflow {_quoted(workflow)} cannot contain itself")
    chain = _containment(bound["id"], workflow["id"])
    if chain:
        names = store.batch_get(("template", t) for t in set(chain))
        path = " → ".join(str(names.get(("template", t), {}).get("name", t)) for t in chain)
        raise ValidationError("bind_template", f'workflow "{bound.get("name")}" already contains "{workflow.get("name")}" '
                                               f"({path}); binding it here would make a workflow contain itself")


def _check_binding(change, workflow: dict) -> None:
    """A node binds what its type runs, and only that; what an edit's new type no longer uses is
    cleared, unless the same edit sends it (then it is a mistake worth a 400)."""
    data, existing = change.data, change.existing
    kind = NodeType(data.get("type") or "")
    wanted = BINDS[kind]
    for name in (*BINDING_FIELDS, "timeout"):
        unused = data.get(name) not in (None, 0) and name != wanted and not (name == "timeout" and kind == NodeType.APPROVAL)
        if not unused:
            continue
        if existing is None or name in change.changed:
            what = "have a timeout" if name == "timeout" else f"bind a {name.replace('bind_', '').replace('_', ' ')}"
            raise ValidationError(name, f'{kind.value or "start/junction"} nodes do not {what}')
        data[name] = 0 if name == "timeout" else None  # the type changed: drop what the old one used
    if wanted is None:
        return
    if data.get(wanted) is None:
        raise ValidationError(wanted, f"required for {kind.value} nodes")
    if wanted != "bind_template":
        return
    bound = store.get("template", data["bind_template"])
    if bound is None:
        raise ValidationError("bind_template", f"no template with id {data['bind_template']}")
    bound_type = bound.get("template_type") or "job"
    if kind == NodeType.JOB and bound_type != "job":
        raise ValidationError("bind_template", f"template {_quoted(bound)} is a {bound_type} template; "
                                               "a job node binds a job template (a workflow node binds a workflow)")
    if kind == NodeType.WORKFLOW:
        if bound_type != "workflow":
            raise ValidationError("bind_template", f"template {_quoted(bound)} is a {bound_type} template; "
                                                   "a workflow node binds a workflow template")
        _check_workflow_binding(workflow, bound)


def _validate_node(change) -> None:
    data = change.data
    if change.existing is not None and data["template"] != change.existing.get("template"):
        raise ValidationError("template", "a node cannot move to another workflow; create one there")
    workflow = _workflow_of(data)
    _check_start(change, workflow)
    _check_binding(change, workflow)


def _lines_into(rec: dict, rows: IndexRows) -> Iterator[tuple[Resource, dict]]:
    """The lines that lead into a node: no index leads to them by `next_node`, so they are found
    among the workflow's lines (read once per plan however many of its nodes go)."""
    for row in rows(LINES, "template", rec.get("template")):
        if row.get("next_node") == rec["id"]:
            yield LINES, row


def _keep_start_node(rec: dict, deleting: Container[tuple[str, int]]) -> str | None:
    if rec.get("is_start_node") and ("template", rec.get("template")) not in deleting:
        return f"node {_quoted(rec)} is the start node of its workflow; it is deleted only with the workflow"
    return None


NODES = register(Resource(
    family="workflow_node", path="/api/template/workflow/node", title="Workflow nodes",
    description="The boxes of a workflow template's graph. type says what a node runs: job (bind_template, a job template), "
                "workflow (bind_template, another workflow), project_sync (project), inventory_sync (host_source), approval "
                '(waits for a decision, timeout seconds) or "" (the start node, or a junction). With use_node_params 1 the '
                "node's run options replace the bound template's. Every workflow has exactly one start node, made with it.",
    access=Access.parent("template", "template"),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Node name."),
        Str("description", max_length=1024, description="Description."),
        Ref("template", family="template", required=True, on_delete="cascade",
            description="The workflow template the node belongs to; cannot change."),
        Str("type", choices=tuple(t.value for t in NodeType if t.value),
            description='job, workflow, project_sync, inventory_sync, approval, or "" (start node or junction).'),
        Bool01("is_start_node", description="1 on the start node its workflow was created with; cannot change, and 1 is "
                                            "refused for a workflow that has its start node."),
        Int("top", description="Vertical canvas position (px)."),
        Int("left", description="Horizontal canvas position (px)."),
        Ref("bind_template", family="template", needs="execute", on_delete="protect",
            description="job and workflow nodes: the template they run; needs execute (use) on it."),
        dataclasses.replace(_OPTIONS["project"].field, description="project_sync nodes: the project to sync; needs execute (use) on it."),
        Ref("host_source", family="host_source", needs="execute",
            description="inventory_sync nodes: the host source to sync; needs execute (use) on it."),
        Bool01("use_node_params", description="1: the node's run options below replace the bound template's."),
        *(_OPTIONS[name].field for name in NODE_OVERRIDES),
        Bool01("all_parents_must_succeed", description="1: the node runs only when every line into it fires (else any one)."),
        Int("timeout", minimum=0, description="approval nodes: seconds to wait for a decision; 0 waits forever."),
    ],
    labels=[Label("template_name", "template", family="template"),
            Label("bind_template_name", "bind_template", family="template"),
            Label("project_name", "project", family="project"),
            Label("host_source_name", "host_source", family="host_source"),
            Label("type_name", "type", choices={t.value: label for t, label in NODE_TYPE_LABELS.items()})],
    search=("name", "description"), filters=("template", "bind_template", "name"), ordering=("name",),
    indexes=("template", "bind_template"), validate=_validate_node, after_save=_after_save,
    after_delete=_after_delete, also_deletes=_lines_into, check_delete=_keep_start_node,
))


# ---------------------------------------------------------------- lines


def _rotated(cycle: list[int], first: int) -> list[int]:
    """The cycle (first repeated last) read from `first`: from where the new line leads, back to it."""
    ring = cycle[:-1]
    if first not in ring:
        return cycle
    i = ring.index(first)
    ring = ring[i:] + ring[:i]
    return [*ring, ring[0]]


def _validate_line(change) -> None:
    data = change.data
    source_id, target_id = data["node"], data["next_node"]
    found = store.batch_get([("workflow_node", source_id), ("workflow_node", target_id)])
    source, target = found.get(("workflow_node", source_id)), found.get(("workflow_node", target_id))
    for name, rec, rec_id in (("node", source, source_id), ("next_node", target, target_id)):
        if rec is None:
            raise ValidationError(name, f"no workflow_node with id {rec_id}")
    if source_id == target_id:
        raise ValidationError("next_node", f"node {_quoted(source)} cannot lead to itself")
    if source.get("template") != target.get("template"):
        raise ValidationError("next_node", f"node {_quoted(target)} is in workflow {target.get('template')}, node {_quoted(source)} "
                                           f"in workflow {source.get('template')}: a line joins two nodes of one workflow")
    if target.get("is_start_node"):
        raise ValidationError("next_node", f"node {_quoted(target)} is the start node: no line leads into it")
    if data.get("template") != source.get("template"):
        data["template"] = source.get("template")
        change.changed.add("template")  # so that moving a line checks write on its new workflow
    own_id = change.existing["id"] if change.existing else None
    nodes, lines = graph_records(data["template"])
    lines = [li for li in lines if li["id"] != own_id]
    s, t = source.get("name"), target.get("name")
    for li in lines:
        if (li["node"], li["next_node"]) == (source_id, target_id):
            raise ValidationError("next_node", f'nodes "{s}" and "{t}" are already connected by line {li["id"]} ({s} → {t}); '
                                               "two nodes are connected at most once")
        if (li["node"], li["next_node"]) == (target_id, source_id):
            raise ValidationError("next_node", f'nodes "{s}" and "{t}" are already connected by line {li["id"]} ({t} → {s}); '
                                               "two nodes are connected at most once, and a line back would make a cycle")
    graph = Graph.from_records(nodes, [*lines, {**data, "id": own_id or 0}])
    cycle = graph.find_cycle()
    if cycle:
        raise ValidationError("next_node", f"the line {s} → {t} would make a cycle: {graph.describe_path(_rotated(cycle, target_id))}")


def _result_name(rec: dict) -> str:
    return ", ".join(RESULT_LABELS.get(code, code) for code in rec.get("result") or ())


LINES = register(Resource(
    family="workflow_line", path="/api/template/workflow/line", title="Workflow lines",
    description="Directed, conditional edges between two nodes of one workflow: when node finishes with one of result, "
                "next_node runs. Two nodes are connected at most once, no line enters the start node, and the graph has no cycle.",
    access=Access.parent("template", "template"),
    fields=[
        Ref("node", family="workflow_node", required=True, on_delete="cascade", aliases=("node_id",), description="Source node id."),
        # deleting the target node removes the line too (NODES.also_deletes): only two fields can be indexed
        Ref("next_node", family="workflow_node", required=True, description="Target node id."),
        Ref("template", family="template", read_only=True, on_delete="cascade", description="The nodes' workflow (set from them)."),
        Str("source_anchor", max_length=64, description="Where the line leaves the source node (BottomCenter, RightMiddle, ...)."),
        Str("target_anchor", max_length=64, description="Where the line enters the target node (TopCenter, LeftMiddle, ...)."),
        # result[]: how a form sends a multi-select (parse_body makes `key[]` fields lists)
        Choices("result", required=True, choices=tuple(r.value for r in LineResult), aliases=("result[]",),
                description="The source node's results that fire the line: successful, failed, any (either). One code, a list, "
                            "or comma-separated codes (forms: result[] repeated); answered as a sorted list."),
    ],
    labels=[Label("result_name", "result", compute=_result_name)],
    filters=("template", "node", "next_node"), indexes=("template", "node"), unique=(("node", "next_node"),),
    validate=_validate_line, after_save=_after_save, after_delete=_after_delete,
))

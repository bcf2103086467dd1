"""One state machine per workflow template (work in progress: filled in by the engine change)."""
from __future__ import annotations


def graph_changed(template_id: int) -> None:
    """The template's nodes or lines changed: redeploy its state machine when its digest moved."""
    return None


def describe(template: dict) -> dict:
    """The template's graph as compiled: state machine name, ARN, digest, ASL and its size."""
    return {}

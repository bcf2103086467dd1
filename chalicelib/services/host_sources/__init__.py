"""Host sources: fetch hosts and groups from a source, and merge them into the inventory.

`fetch(source)` reads one source into an `InventoryData` (hosts with their variables, groups with
their variables, hosts and children). `import_source(source_id, data)` merges that into the
source's inventory: it creates, updates and removes only the hosts, groups and links that the
source owns (their `host_source` is this source), and never touches hand-made ones; a name that
is already taken by a hand-made object is reported as skipped. `sync(source_id)` does both and
records the outcome on the source.

Where this runs matters: `script` and `file` sources run code from users (an inventory script,
inventory plugins), so their sync belongs in the runner container, not in the API Lambda. That
code runs through the `run_command` hook (a `CommandRunner`; by default a plain subprocess), with
a minimal environment (none of the caller's AWS credentials leak into it), and, besides the
programs themselves, needs on disk only the `workdir` scratch directory and the project checkout
(see `fetchers`). A `restapi` source may not reach link-local or cloud metadata addresses (see
`addresses`).

Modules: `parse` (the data classes and formats), `commands` (the hook), `fetchers` (one per source
type), `addresses` (the restapi refusal), `merge` (the import).
"""
from __future__ import annotations

import time
from pathlib import Path

from chalicelib.services import store
from chalicelib.services.catalog.host_source import HOST_SOURCES
from chalicelib.services.errors import NotFound, ValidationError
from chalicelib.services.host_sources.commands import CommandResult, CommandRunner
from chalicelib.services.host_sources.fetchers import fetch
from chalicelib.services.host_sources.merge import import_source
from chalicelib.services.host_sources.parse import GroupData, InventoryData, SourceError

__all__ = ["CommandResult", "CommandRunner", "GroupData", "InventoryData", "SourceError", "fetch",
           "import_source", "sync"]


def sync(source_id: int, project_dir: str | Path | None = None, *, workdir: str | Path | None = None,
         run_command: CommandRunner | None = None) -> dict:
    """Fetch and import one source, recording state/last_sync_time/last_sync_summary on it.

    `project_dir`, `workdir` and `run_command` go to `fetch` (the defaults: no checkout, a
    temporary scratch directory, a plain subprocess)."""
    source = store.get(HOST_SOURCES.family, int(source_id))
    if source is None:
        raise NotFound(f"No host source with id {source_id}.")
    try:
        data = fetch(source, project_dir, workdir=workdir, run_command=run_command)
        summary = import_source(source["id"], data)
        state = "successful"
    except (SourceError, ValidationError) as exc:
        summary, state = {"error": exc.detail}, "failed"
    current = store.get(HOST_SOURCES.family, source["id"]) or source
    store.update(HOST_SOURCES, current, {**current, "state": state, "last_sync_time": int(time.time()),
                                         "last_sync_summary": summary})
    if state == "failed":
        raise SourceError(summary["error"])
    return summary

"""Per-host result counts of a run, from its events.

A playbook's final ``playbook_on_stats`` event has ansible's own counts. Ad-hoc commands and
runs stopped early (canceled, timed out) have no such event, so the counts are then tallied from
the per-host task events, the same way ansible counts them.
"""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass
from typing import Any

COUNTERS = ("ok", "changed", "failures", "unreachable", "skipped", "rescued", "ignored")
_STATS_KEYS = {"ok": "ok", "changed": "changed", "failures": "failures", "unreachable": "dark",
               "skipped": "skipped", "rescued": "rescued", "ignored": "ignored"}


@dataclass
class HostSummary:
    host: str
    ok: int = 0
    changed: int = 0
    failures: int = 0
    unreachable: int = 0
    skipped: int = 0
    rescued: int = 0
    ignored: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class SummaryCollector:
    """Fed every (unredacted) event; gives the host summaries at the end."""

    def __init__(self) -> None:
        self._stats: dict[str, Any] | None = None
        self._tally: dict[str, HostSummary] = {}

    def _host(self, name: str) -> HostSummary:
        return self._tally.setdefault(name, HostSummary(host=name))

    def add(self, event: dict[str, Any]) -> None:
        kind = event.get("event", "")
        data = event.get("event_data") or {}
        if kind == "playbook_on_stats":
            self._stats = data
            return
        host = data.get("host")
        if not host or not kind.startswith("runner_on_"):
            return
        summary = self._host(host)
        if kind == "runner_on_ok":
            summary.ok += 1
            if (data.get("res") or {}).get("changed"):
                summary.changed += 1
        elif kind == "runner_on_failed":
            if data.get("ignore_errors"):
                summary.ignored += 1
                summary.ok += 1
            else:
                summary.failures += 1
        elif kind == "runner_on_unreachable":
            summary.unreachable += 1
        elif kind == "runner_on_skipped":
            summary.skipped += 1

    def summaries(self) -> list[HostSummary]:
        if self._stats is None:
            return [self._tally[name] for name in sorted(self._tally)]
        hosts: set[str] = set()
        for key in list(_STATS_KEYS.values()) + ["processed"]:
            hosts |= set((self._stats.get(key) or {}).keys())
        return [HostSummary(host=host, **{name: int((self._stats.get(key) or {}).get(host, 0))
                                          for name, key in _STATS_KEYS.items()})
                for host in sorted(hosts)]


def collect(events: Iterable[dict[str, Any]]) -> list[HostSummary]:
    collector = SummaryCollector()
    for event in events:
        collector.add(event)
    return collector.summaries()

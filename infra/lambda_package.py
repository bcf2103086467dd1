"""The API Lambda deployment package: trim what the Lambda runtime already provides, and measure it.

`chalice package` vendors every transitive dependency, including boto3/botocore (~21 MB unzipped,
pulled in by PynamoDB), which the Python Lambda runtime already ships. Dropping them keeps cold
starts and uploads small. `infra.build` calls `trim`, then prints `report`.
"""
from __future__ import annotations

import collections
import zipfile
from pathlib import Path

#: top-level modules the AWS Lambda Python runtime provides (boto3 and its dependencies)
RUNTIME_PROVIDED = {"boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six"}
#: goal from the issue: the API Lambda stays well under Lambda's limits and cold-starts fast
BUDGET_BYTES = 15 * 1000 * 1000
FORBIDDEN = ("ansible", "ansible_runner")


def top_level(name: str) -> str:
    """`botocore/x.py` -> `botocore`; `python_dateutil-2.9.dist-info/...` -> `dateutil`; `six.py` -> `six`."""
    head = name.split("/", 1)[0]
    if head.endswith(".dist-info"):
        dist = head[: -len(".dist-info")].rsplit("-", 1)[0].lower().replace("-", "_")
        return {"python_dateutil": "dateutil"}.get(dist, dist)
    return head[:-3] if head.endswith(".py") else head


def trim(path: Path) -> int:
    """Rewrite the zip without the runtime-provided modules; returns the number of entries dropped."""
    with zipfile.ZipFile(path) as source:
        entries = [(info, source.read(info)) for info in source.infolist()]
    kept = [(info, data) for info, data in entries if top_level(info.filename) not in RUNTIME_PROVIDED]
    tmp = path.with_suffix(".tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as target:
        for info, data in kept:
            target.writestr(info, data)
    tmp.replace(path)
    return len(entries) - len(kept)


def sizes(path: Path) -> tuple[int, collections.Counter]:
    """Unzipped size and the unzipped bytes per top-level module."""
    per_module: collections.Counter = collections.Counter()
    with zipfile.ZipFile(path) as archive:
        for info in archive.infolist():
            per_module[top_level(info.filename)] += info.file_size
    return sum(per_module.values()), per_module


def forbidden_modules(path: Path) -> list[str]:
    _, per_module = sizes(path)
    return sorted(m for m in per_module if m in FORBIDDEN)


def report(path: Path) -> str:
    total, per_module = sizes(path)
    lines = [f"API Lambda package {path}: {path.stat().st_size / 1e6:.1f} MB zipped, {total / 1e6:.1f} MB unzipped "
             f"(budget {BUDGET_BYTES / 1e6:.0f} MB)"]
    lines += [f"  {size / 1e6:6.2f} MB  {module}" for module, size in per_module.most_common(8)]
    return "\n".join(lines)

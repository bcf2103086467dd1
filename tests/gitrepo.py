"""Real git repositories made by the tests (served over file:// or loopback HTTP)."""
from __future__ import annotations

import subprocess
from pathlib import Path


def make_repo(root: Path, files: dict[str, str], branch: str = "main") -> Path:
    """A bare repository at `root/<name>.git` whose `branch` holds `files`. Returns its path."""
    work = root / "work"
    bare = root / "repo.git"
    work.mkdir(parents=True)
    for name, text in files.items():
        path = work / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    env_args = ["-c", "user.name=Test", "-c", "user.email=test@example.com", "-c", "init.defaultBranch=" + branch]
    subprocess.run(["git", *env_args, "init", "-q", str(work)], check=True)
    subprocess.run(["git", *env_args, "-C", str(work), "add", "."], check=True)
    subprocess.run(["git", *env_args, "-C", str(work), "commit", "-qm", "playbooks"], check=True)
    subprocess.run(["git", "clone", "-q", "--bare", str(work), str(bare)], check=True)
    return bare

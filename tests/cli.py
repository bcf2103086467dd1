"""Run the real `opsgrat` executable as a subprocess, isolated from the user's own profiles."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def executable() -> list[str]:
    """The console script of the venv running the tests (bootstrap installs the project into it)."""
    script = Path(sys.executable).parent / "opsgrat"
    if script.exists():
        return [str(script)]
    found = shutil.which("opsgrat")
    return [found] if found else [sys.executable, "-m", "opsgrat_cli"]


@dataclass
class Opsgrat:
    """`opsgrat` with its own config and cache directories, connected to `url` with `token`
    through OPSGRAT_URL / OPSGRAT_TOKEN unless `connect` is False."""

    home: Path
    url: str = ""
    token: str = ""
    connect: bool = True

    def env(self, extra: dict | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith(("OPSGRAT_", "AWS_"))}
        env.update({"XDG_CONFIG_HOME": str(self.home / "config"), "XDG_CACHE_HOME": str(self.home / "cache"),
                    "HOME": str(self.home), "COLUMNS": "200"})
        if self.connect:
            env.update({"OPSGRAT_URL": self.url, "OPSGRAT_TOKEN": self.token})
        env.update(extra or {})
        return env

    def command(self, *args: str) -> list[str]:
        return [*executable(), *args]

    def __call__(self, *args: str, env: dict | None = None, input: str | None = None, timeout: float = 120,
                 cwd: Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run(self.command(*args), env=self.env(env), input=input, capture_output=True, text=True,
                              timeout=timeout, cwd=cwd or self.home)

    def popen(self, *args: str, env: dict | None = None, **kwargs) -> subprocess.Popen:
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        return subprocess.Popen(self.command(*args), env=self.env(env), cwd=self.home, text=True, **kwargs)

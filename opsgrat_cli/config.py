"""Where the CLI connects, and with which token.

Order: `--url`/`--token`, then `OPSGRAT_URL`/`OPSGRAT_TOKEN`, then a profile (`--profile`,
`OPSGRAT_PROFILE`, else `default`) saved by `opsgrat login`, then a local stack started in this
checkout (`.opsgrat/url` and `.opsgrat/admin-token`, or `$OPSGRAT_HOME`'s). Profiles live in
`$XDG_CONFIG_HOME/opsgrat/profiles.json` (`~/.config/...`), readable by the user alone (0600).
"""
from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from opsgrat_cli.errors import CliError

DEFAULT_PROFILE = "default"


@dataclass(frozen=True)
class Connection:
    url: str
    token: str
    #: where the values came from, for `opsgrat whoami` and error messages
    source: str


def config_dir() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "opsgrat"


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "opsgrat"


def _profiles_file() -> Path:
    return config_dir() / "profiles.json"


def load_profiles() -> dict[str, dict]:
    path = _profiles_file()
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as exc:
        raise CliError(f"cannot read {path}: {exc}") from None
    return data.get("profiles", {}) if isinstance(data, dict) else {}


def _write_profiles(profiles: dict[str, dict]) -> Path:
    path = _profiles_file()
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = path.with_suffix(".tmp")
    # created 0600 before a byte of a token is written into it
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump({"profiles": profiles}, fh, indent=2, sort_keys=True)
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return path


def save_profile(name: str, url: str, token: str, username: str = "") -> Path:
    profiles = load_profiles()
    profiles[name] = {"url": url.rstrip("/"), "token": token, "username": username}
    return _write_profiles(profiles)


def remove_profile(name: str) -> bool:
    profiles = load_profiles()
    if profiles.pop(name, None) is None:
        return False
    _write_profiles(profiles)
    return True


def local_stack(start: Path | None = None) -> tuple[str, str] | None:
    """The URL and admin token of a local stack whose home is `$OPSGRAT_HOME` or a `.opsgrat`
    directory in the current directory or one above it."""
    homes = [Path(os.environ["OPSGRAT_HOME"])] if os.environ.get("OPSGRAT_HOME") else []
    here = (start or Path.cwd()).resolve()
    homes += [d / ".opsgrat" for d in (here, *here.parents)]
    for home in homes:
        try:
            url = (home / "url").read_text().strip()
            token = (home / "admin-token").read_text().strip()
        except OSError:
            continue
        if url and token:
            return url, token
    return None


def resolve(url: str | None = None, token: str | None = None, profile: str | None = None) -> Connection:
    """The connection to use (see the module's docstring for the order)."""
    url = url or os.environ.get("OPSGRAT_URL") or None
    token = token or os.environ.get("OPSGRAT_TOKEN") or None
    if url and token:
        return Connection(url.rstrip("/"), token, "command line / environment")
    named = profile or os.environ.get("OPSGRAT_PROFILE") or None
    profiles = load_profiles()
    if named and named not in profiles:
        raise CliError(f"no profile {named!r}: run `opsgrat login --profile {named}`")
    saved = profiles.get(named or DEFAULT_PROFILE)
    if saved and (not url or url.rstrip("/") == saved.get("url")):
        return Connection(saved["url"], token or saved.get("token", ""), f"profile {named or DEFAULT_PROFILE}")
    found = local_stack()
    if found and (not url or url.rstrip("/") == found[0]):
        return Connection(found[0], token or found[1], "local stack")
    if url:
        return Connection(url.rstrip("/"), token or "", "command line / environment")
    raise CliError("not connected: run `opsgrat login`, or set OPSGRAT_URL and OPSGRAT_TOKEN")

"""Install the runner's default Ansible collections, the ones runner_image/collections.txt pins.

    python runner_image/default_collections.py [--wheel PATH] [--into DIR]

Galaxy is not reachable, so the collections come from PyPI's community package `ansible`: its wheel
(pinned with its sha256; downloaded with `pip download` unless --wheel names a copy) holds 92
collections, and only the listed ones are extracted, into DIR/ansible_collections (default: this
interpreter's site-packages). ansible-core finds collections there through sys.path
(COLLECTIONS_SCAN_SYS_PATH, on by default), so every job that runs on this Python sees them, in
the sandbox too (it mounts the Python installation read-only), with no setting of its own;
collections a job installs itself (a project's collections/requirements.yml) come first.

Each collection's MANIFEST.json must carry the pinned version. A marker file records what was
installed: a second run with the same pins does nothing, and a run with new pins replaces the
collections of the old ones. The runner image runs this at build time (runner_image/Dockerfile),
scripts/bootstrap into the dev venv. Standard library only: it runs before the project is.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import sysconfig
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

PINS = Path(__file__).resolve().with_name("collections.txt")
#: in DIR/ansible_collections: what this script installed there (the pins, as JSON)
MARKER = ".opsgrat-default-collections.json"
STAGING_PREFIX = ".opsgrat-staging-"
SOURCE_LINE = re.compile(r"^(?P<requirement>[A-Za-z0-9][A-Za-z0-9._-]*==[A-Za-z0-9.+!_-]+)\s+"
                         r"--hash=sha256:(?P<sha256>[0-9a-f]{64})$")
COLLECTION_LINE = re.compile(r"^(?P<namespace>[a-z0-9_]+)\.(?P<name>[a-z0-9_]+)==(?P<version>[A-Za-z0-9.+_-]+)$")


class Refused(Exception):
    """The pins, the wheel or its contents are not what they must be: nothing was changed."""


@dataclass(frozen=True)
class Pins:
    #: the wheel's requirement, e.g. ``ansible==12.3.0``
    source: str
    sha256: str
    #: ``namespace.name`` -> version
    collections: dict[str, str]

    def state(self) -> dict:
        return {"source": self.source, "sha256": self.sha256, "collections": self.collections}


def read_pins(path: Path = PINS) -> Pins:
    source = sha256 = None
    collections: dict[str, str] = {}
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        if match := COLLECTION_LINE.match(line):
            collections[f"{match['namespace']}.{match['name']}"] = match["version"]
        elif (match := SOURCE_LINE.match(line)) and source is None:
            source, sha256 = match["requirement"], match["sha256"]
        else:
            raise Refused(f"{path.name}:{number}: neither `namespace.name==version` nor the one "
                          f"`package==version --hash=sha256:...` line: {raw!r}")
    if source is None or not collections:
        raise Refused(f"{path.name}: needs the source line (`ansible==... --hash=sha256:...`) and at least one collection")
    return Pins(source, sha256, collections)


def default_target() -> Path:
    return Path(sysconfig.get_paths()["purelib"])


def installed_state(root: Path) -> dict | None:
    try:
        return json.loads((root / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def manifest_version(directory: Path) -> tuple[str, str, str] | None:
    try:
        info = json.loads((directory / "MANIFEST.json").read_text(encoding="utf-8"))["collection_info"]
        return info["namespace"], info["name"], info["version"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def up_to_date(root: Path, pins: Pins) -> bool:
    """The marker records these pins and every collection is there at its version."""
    if installed_state(root) != pins.state():
        return False
    return all(manifest_version(root.joinpath(*key.split("."))) == (*key.split("."), version)
               for key, version in pins.collections.items())


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def download(pins: Pins, directory: Path) -> Path:
    """The pinned wheel, fetched by pip (with its hash checked) into `directory`."""
    requirement = directory / "source.txt"
    requirement.write_text(f"{pins.source} --hash=sha256:{pins.sha256}\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
                           "--no-deps", "--only-binary=:all:", "--require-hashes", "--dest", str(directory),
                           "-r", str(requirement)], capture_output=True, text=True)
    if proc.returncode != 0:
        raise Refused(f"pip download {pins.source} failed: {(proc.stderr or proc.stdout).strip()[-2000:]}")
    wheels = sorted(directory.glob("*.whl"))
    if len(wheels) != 1:
        raise Refused(f"pip download of {pins.source} left {len(wheels)} wheels")
    return wheels[0]


def _member_path(info: zipfile.ZipInfo, wanted: dict[str, str]) -> tuple[str, list[str]] | None:
    """(collection, path parts under ansible_collections/) of a member to extract; None for the
    members of other collections. Refuses a member that could land outside its collection."""
    name = info.filename
    parts = name.split("/")
    if parts[0] != "ansible_collections" or len(parts) < 4:
        return None
    key = f"{parts[1]}.{parts[2]}"
    if key not in wanted:
        return None
    inner = parts[1:-1] if info.is_dir() else parts[1:]
    if "\\" in name or "\0" in name or any(part in ("", ".", "..") for part in inner):
        raise Refused(f"unsafe member path in the wheel: {name!r}")
    if stat.S_ISLNK(info.external_attr >> 16):
        raise Refused(f"symbolic link in the wheel: {name!r}")
    return key, inner


def extract(wheel: Path, pins: Pins, staging: Path) -> None:
    """The listed collections of `wheel` into `staging/<namespace>/<name>`, world-readable (the
    job user runs them), each checked against its pinned version."""
    base = staging.resolve()
    with zipfile.ZipFile(wheel) as archive:
        for info in archive.infolist():
            found = _member_path(info, pins.collections)
            if found is None:
                continue
            target = base.joinpath(*found[1])
            if not target.resolve().is_relative_to(base):
                raise Refused(f"unsafe member path in the wheel: {info.filename!r}")
            if info.is_dir():
                target.mkdir(parents=True, exist_ok=True)
                continue
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as source, open(target, "xb") as out:
                shutil.copyfileobj(source, out, 1 << 20)
            os.chmod(target, 0o755 if (info.external_attr >> 16) & 0o111 else 0o644)
    for folder, _, _ in os.walk(base):
        os.chmod(folder, 0o755)
    for key, version in pins.collections.items():
        found = manifest_version(base.joinpath(*key.split(".")))
        if found is None:
            raise Refused(f"{key} is not in {wheel.name} (or has no readable MANIFEST.json)")
        if found != (*key.split("."), version):
            raise Refused(f"{wheel.name} holds {'.'.join(found[:2])} {found[2]}, not the pinned {key}=={version}")


def install(pins: Pins, root: Path, wheel: Path | None = None) -> bool:
    """Make `root` (an ansible_collections directory) hold exactly the pinned default collections.
    False when it already did."""
    if up_to_date(root, pins):
        return False
    root.mkdir(parents=True, exist_ok=True)
    os.chmod(root, 0o755)
    for leftover in root.glob(STAGING_PREFIX + "*"):  # of an interrupted run
        shutil.rmtree(leftover, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix=STAGING_PREFIX, dir=root) as work:
        staging = Path(work) / "collections"
        staging.mkdir()
        if wheel is None:
            downloads = Path(work) / "download"
            downloads.mkdir()
            wheel = download(pins, downloads)
        if sha256_of(wheel) != pins.sha256:
            raise Refused(f"{wheel}: sha256 {sha256_of(wheel)} is not the pinned {pins.sha256}")
        extract(wheel, pins, staging)
        # the marker goes first (so an interrupted run is redone), then the old pins' collections
        previous = (installed_state(root) or {}).get("collections") or {}
        (root / MARKER).unlink(missing_ok=True)
        for key in sorted(set(previous) | set(pins.collections)):
            old = root.joinpath(*key.split("."))
            if old.is_dir() and not old.is_symlink():
                shutil.rmtree(old)
            if key not in pins.collections and old.parent.is_dir() and not any(old.parent.iterdir()):
                old.parent.rmdir()
        for key in pins.collections:
            namespace, name = key.split(".")
            (root / namespace).mkdir(exist_ok=True)
            os.chmod(root / namespace, 0o755)
            os.rename(staging / namespace / name, root / namespace / name)
    marker = root / (MARKER + ".new")
    marker.write_text(json.dumps(pins.state(), indent=1, sort_keys=True) + "\n", encoding="utf-8")
    os.chmod(marker, 0o644)
    os.replace(marker, root / MARKER)
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheel", type=Path, help="a copy of the pinned wheel (default: pip download it)")
    parser.add_argument("--into", type=Path, help="install into DIR/ansible_collections (default: this Python's "
                                                  "site-packages)")
    parser.add_argument("--pins", type=Path, default=PINS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    root = (args.into or default_target()) / "ansible_collections"
    try:
        pins = read_pins(args.pins)
        if install(pins, root, args.wheel):
            print(f"default collections: {', '.join(f'{k} {v}' for k, v in pins.collections.items())} "
                  f"(from {pins.source}) in {root}")
    except (Refused, OSError) as error:
        print(f"default_collections: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

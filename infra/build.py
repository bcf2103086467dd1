"""`make package`: the merge template, `chalice package` with it, then the trimmed Lambda package.

Usage: `python -m infra.build [OUTDIR]` (default `build`). Writes OUTDIR/merge.json and
OUTDIR/package/{sam.json,deployment.zip}; prints the API Lambda package size. The tests call
`package()` too, so what CI checks is what an operator deploys. `chalice package` vendors what the
app root's requirements.txt pins: the API Lambda's lock (`make lock`, pyproject.toml's `api` extra).
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from infra import lambda_package

ROOT = Path(__file__).resolve().parent.parent
STAGE = "prod"


def package(outdir: Path) -> Path:
    """Build everything into `outdir`; returns the directory holding sam.json and deployment.zip."""
    outdir = outdir.resolve()
    outdir.mkdir(parents=True, exist_ok=True)
    env = dict(os.environ)
    env.setdefault("AWS_DEFAULT_REGION", env.get("AWS_REGION", "us-east-1"))  # chalice package needs one
    bin_dir = Path(sys.executable).parent
    merge = outdir / "merge.json"
    subprocess.run([sys.executable, "-m", "infra.template", str(merge)], cwd=ROOT, env=env, check=True)
    target = outdir / "package"
    subprocess.run([str(bin_dir / "chalice"), "package", "--stage", STAGE, "--merge-template", str(merge),
                    str(target)], cwd=ROOT, env=env, check=True)
    lambda_package.trim(target / "deployment.zip")
    return target


def main(argv: list[str]) -> int:
    target = package(Path(argv[0] if argv else "build"))
    zip_path = target / "deployment.zip"
    print(lambda_package.report(zip_path))
    bad = lambda_package.forbidden_modules(zip_path)
    if bad:
        print(f"ERROR: the API Lambda package contains {bad}", file=sys.stderr)
        return 1
    print(f"template: {target / 'sam.json'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))

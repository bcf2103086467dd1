"""The console's files, checked without a browser: every module parses and links (its imports
name files and exports that exist), and no code writes markup from strings (text goes into the
page as text nodes only, so a record's content can never run as script)."""
from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

CONSOLE = Path(__file__).resolve().parent.parent / "console"
MODULES = sorted(p for p in CONSOLE.rglob("*.js"))
#: app.js starts the console when imported (it needs a document); the rest only declare
LIBRARY = [p for p in MODULES if p.name != "app.js"]
NODE = shutil.which("node") or "node"  # scripts/bootstrap installs nodejs


def test_there_are_modules_to_check():
    assert len(LIBRARY) >= 10


def test_every_module_parses_and_its_imports_link():
    script = ("const files = JSON.parse(process.argv[1]); const failed = [];"
              "for (const f of files) { try { await import('file://' + f); } catch (e) { failed.push(f + ': ' + e); } }"
              "console.log(JSON.stringify(failed));")
    out = subprocess.run([NODE, "--input-type=module", "-e", script, json.dumps([str(p) for p in LIBRARY])],
                         capture_output=True, text=True, timeout=60, check=True)
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []


def test_the_entry_point_parses():
    subprocess.run([NODE, "--experimental-default-type=module", "--check", str(CONSOLE / "app.js")],
                   capture_output=True, text=True, timeout=60, check=True)


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(CONSOLE)))
def test_no_module_writes_markup_from_strings(path):
    code = re.sub(r"^\s*(//|/?\*).*$", "", path.read_text(), flags=re.M)  # comments may name them
    assert not re.search(r"\b(innerHTML|outerHTML|insertAdjacentHTML|document\.write)\b|\beval\(|new Function\(", code)


def test_the_page_has_no_inline_script_or_style():
    html = (CONSOLE / "index.html").read_text()
    assert re.findall(r"<script(?![^>]*\bsrc=)", html) == []
    assert "<style" not in html and "style=" not in html
    assert re.search(r"\son[a-z]+=", html) is None

"""The console's ANSI parser (console/lib/ansi.js), run under node: ansible's colour codes become
the `.ansi-*` classes of style.css, every other escape sequence is dropped."""
from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

ANSI_JS = Path(__file__).resolve().parent.parent / "console" / "lib" / "ansi.js"
NODE = shutil.which("node") or "node"  # scripts/bootstrap installs nodejs



def parse(*texts: str) -> list[list[dict]]:
    """Segments of each text, parsed one after the other with one carried-over state."""
    script = (f"import {{ parse, initialState }} from {json.dumps(ANSI_JS.as_uri())};\n"
              "const state = initialState();\n"
              f"console.log(JSON.stringify({json.dumps(list(texts))}.map((t) => parse(t, state))));\n")
    out = subprocess.run([NODE, "--input-type=module", "-e", script], capture_output=True, text=True, check=True, timeout=30)
    return json.loads(out.stdout)


def test_ansible_green_ok_line_becomes_a_green_segment():
    [segments] = parse("\x1b[0;32mok: [localhost]\x1b[0m")
    assert segments == [{"text": "ok: [localhost]", "classes": ["ansi-fg-32"]}]


def test_plain_text_has_no_classes():
    assert parse("PLAY [all] ****") == [[{"text": "PLAY [all] ****", "classes": []}]]


def test_bold_bright_colour_and_background_combine():
    [segments] = parse("\x1b[1;91;44mfatal\x1b[0m after")
    assert segments == [{"text": "fatal", "classes": ["ansi-bold", "ansi-fg-91", "ansi-bg-44"]},
                        {"text": " after", "classes": []}]


def test_codes_switch_single_attributes_off():
    [segments] = parse("\x1b[1;31mA\x1b[22mB\x1b[39mC")
    assert segments == [{"text": "A", "classes": ["ansi-bold", "ansi-fg-31"]},
                        {"text": "B", "classes": ["ansi-fg-31"]}, {"text": "C", "classes": []}]


def test_empty_sgr_resets():
    [segments] = parse("\x1b[33mwarn\x1b[m plain")
    assert segments == [{"text": "warn", "classes": ["ansi-fg-33"]}, {"text": " plain", "classes": []}]


def test_a_colour_carries_over_to_the_next_line_until_reset():
    first, second, third = parse("\x1b[31mred", "still red", "\x1b[0mplain")
    assert second == [{"text": "still red", "classes": ["ansi-fg-31"]}]
    assert third == [{"text": "plain", "classes": []}]


def test_other_escape_sequences_and_carriage_returns_are_dropped():
    [segments] = parse("a\x1b[2Kb\x1b[?25lc\x1b]0;title\x07d\x1b(Be\r\n\x1b[38;5;200mf\x1b[38;2;1;2;3mg")
    assert segments == [{"text": "abcde\nfg", "classes": []}]

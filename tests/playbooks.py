"""Playbooks several end-to-end tests run: one that fails on purpose, one that waits."""
from __future__ import annotations

FAIL = """- hosts: all
  gather_facts: false
  tasks:
    - name: break
      fail:
        msg: "this play fails on purpose"
"""


def sleeping(seconds: int) -> str:
    """A play that waits `seconds` (a job to cancel, or one that is still running)."""
    return f"""- hosts: all
  gather_facts: false
  tasks:
    - name: wait
      command: sleep {seconds}
"""

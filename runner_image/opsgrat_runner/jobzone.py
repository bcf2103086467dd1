"""The job zone's program: runs ansible for one job, inside the sandbox, as the job user.

It knows nothing of the platform: it reads one `RunSpec` (JSON) on stdin, runs it with
`execute.run`, and writes JSON lines to the file descriptor named on its command line: one
``{"event": ...}`` per ansible event as it happens, then one ``{"result": ...}``. The runner
(`opsgrat_runner.zone`) reads them as data. Whatever the job does to this process, it can only
lie about its own output.
"""
from __future__ import annotations

import dataclasses
import json
import os
import sys

from .execute import RunSpec, run


def main(argv: list[str]) -> int:
    out = os.fdopen(int(argv[1]), "w", encoding="utf-8")
    spec = RunSpec(**json.load(sys.stdin))

    def emit(event: dict) -> None:
        out.write(json.dumps({"event": event}, default=str) + "\n")
        out.flush()

    result = run(spec, on_event=emit)
    # stdout is rebuilt by the runner from the events; sending it again would double the pipe
    out.write(json.dumps({"result": {**dataclasses.asdict(result), "stdout": ""}}, default=str) + "\n")
    out.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

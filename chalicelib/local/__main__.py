"""`python -m chalicelib.local` (what `make dev` runs): the local stack in the foreground.

OPSGRAT_PORT (default 8000) and OPSGRAT_HOME (default ./.opsgrat) configure it.
"""
from __future__ import annotations

import os
from pathlib import Path

from chalicelib.local.runtime import LocalStack, serve_forever


def main() -> None:
    home = Path(os.environ.get("OPSGRAT_HOME", ".opsgrat")).resolve()
    port = int(os.environ.get("OPSGRAT_PORT", "8000"))
    os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
    serve_forever(LocalStack(home, port))


if __name__ == "__main__":
    main()

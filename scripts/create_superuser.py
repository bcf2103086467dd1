#!/usr/bin/env python3
"""Create the first superuser of a deployed installation and print an API token for it.

Runs on the operator's machine with the operator's AWS credentials, against the installation's
tables and key (the same service code the API uses: `chalicelib.services.auth.ensure_superuser`).
The API cannot do this itself: every route needs a token, and there is none yet.

    OPSGRAT_PREFIX=opsgrat AWS_REGION=eu-west-1 python scripts/create_superuser.py [--username admin]

If the user exists already, `--new-token` issues it a fresh token (earlier ones keep working).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--username", default="admin")
    parser.add_argument("--new-token", action="store_true", help="issue a new token if the user already exists")
    args = parser.parse_args(argv)

    import chalicelib.services.catalog  # noqa: F401 - registers the resource families
    from chalicelib.services import auth

    user, token = auth.ensure_superuser(args.username)
    if token is None:
        if not args.new_token:
            print(f"user {args.username!r} exists already (id {user['id']}); pass --new-token for a new token",
                  file=sys.stderr)
            return 1
        token = auth.issue_token(user)
    print(f"superuser {args.username!r} (id {user['id']}); API token (shown once):")
    print(token)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""`/api/ping/`, `/api/auth/token/`, `/api/auth/token/regenerate/`, `/api/auth/me/`."""
from chalice import Blueprint

from chalicelib.api.http import endpoint, parse_body, source_address
from chalicelib.services import auth, crud
from chalicelib.services.catalog.users import USERS

bp = Blueprint(__name__)

_TOKEN_DOC = {"type": "object", "properties": {"token": {"type": "string"}, "user": {"type": "object"}}}


def _ping(request, principal):
    return {"status": "ok"}, 200


def _login(request, principal):
    body = parse_body(request)
    user, token = auth.login(str(body.get("username") or ""), str(body.get("password") or ""),
                             source_address(request))
    return {"token": token, "user": crud.serialize(USERS, user)}, 200


def _regenerate(request, principal):
    token = auth.issue_token(principal.user, revoke_others=True)
    return {"token": token, "user": crud.serialize(USERS, principal.user)}, 200


def _me(request, principal):
    return crud.serialize(USERS, principal.user), 200


endpoint(bp, "/api/ping", {"GET": _ping}, tag="auth", public=True,
         docs={"GET": {"summary": "Liveness check (no token needed)"}})
endpoint(bp, "/api/auth/token", {"POST": _login}, tag="auth", public=True,
         docs={"POST": {"summary": "Log in: username + password -> a new API token",
                        "request": {"type": "object", "required": ["username", "password"],
                                    "properties": {"username": {"type": "string"},
                                                   "password": {"type": "string", "writeOnly": True}}},
                        "response": _TOKEN_DOC,
                        "errors": {429: "Too many failed logins of this username from this address, or from "
                                        "this address; retry after Retry-After seconds"}}})
endpoint(bp, "/api/auth/token/regenerate", {"POST": _regenerate}, tag="auth",
         docs={"POST": {"summary": "Revoke every token of the caller and issue a new one", "response": _TOKEN_DOC}})
endpoint(bp, "/api/auth/me", {"GET": _me}, tag="auth", docs={"GET": {"summary": "The calling user"}})

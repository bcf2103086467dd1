"""`/api/ping/`, `/api/auth/token/`, `/api/auth/token/regenerate/`, `/api/auth/me/`."""
from chalice import Blueprint

from chalicelib.api.http import endpoint, parse_body, source_address
from chalicelib.api.openapi import ref
from chalicelib.services import auth, crud
from chalicelib.services.catalog.users import USERS
from chalicelib.services.fields import Str

bp = Blueprint(__name__)

_TOKEN_DOC = {"type": "object", "required": ["token", "user"],
              "properties": {"token": {"type": "string", "pattern": "^[0-9a-f]{40}$"}, "user": ref(USERS)}}


def _ping(request, principal):
    return {"status": "ok"}, 200


_LOGIN_FIELDS = (Str("username", max_length=150), Str("password", max_length=256))


def _login(request, principal):
    body = parse_body(request)
    username, password = (f.parse(body.get(f.name)) for f in _LOGIN_FIELDS)
    user, token = auth.login(username, password, source_address(request))
    return {"token": token, "user": crud.serialize(USERS, user)}, 200


def _regenerate(request, principal):
    token = auth.issue_token(principal.user, revoke_others=True)
    return {"token": token, "user": crud.serialize(USERS, principal.user)}, 200


def _me(request, principal):
    return crud.serialize(USERS, principal.user), 200


endpoint(bp, "/api/ping", {"GET": _ping}, tag="auth", public=True,
         docs={"GET": {"summary": "Liveness check (no token needed)",
                       "response": {"type": "object", "required": ["status"], "properties": {"status": {"const": "ok"}}}}})
endpoint(bp, "/api/auth/token", {"POST": _login}, tag="auth", public=True,
         docs={"POST": {"summary": "Log in: username + password -> a new API token",
                        "request": {"type": "object", "required": ["username", "password"],
                                    "properties": {f.name: {**f.openapi(), "writeOnly": True} if f.name == "password"
                                                   else f.openapi() for f in _LOGIN_FIELDS}},
                        "response": _TOKEN_DOC,
                        "errors": {429: "Too many failed logins of this username from this address, or from "
                                        "this address; retry after Retry-After seconds"}}})
endpoint(bp, "/api/auth/token/regenerate", {"POST": _regenerate}, tag="auth",
         docs={"POST": {"summary": "Revoke every token of the caller and issue a new one", "response": _TOKEN_DOC}})
endpoint(bp, "/api/auth/me", {"GET": _me}, tag="auth", docs={"GET": {"summary": "The calling user", "response": ref(USERS)}})

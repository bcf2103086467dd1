"""Users, passwords and API tokens.

Passwords are hashed with scrypt (a slow, memory-hard KDF from the standard library); failed
logins are limited (`login_limits`) before scrypt runs. Tokens are 40 hex characters, shown once,
stored as SHA-256 digests.

Revocation: the user record holds a token generation and every token row the generation it was
issued in; regenerating a token or deactivating the user raises the generation, and a token of an
older one is refused. That one conditional write revokes every token at once, also those that a
query of the tokens' `by-user` index would miss (the index is eventually consistent) or a delete
interrupted halfway would leave; the rows themselves are then deleted through that index.
Authenticating a request stays one GetItem on the token and one on the user.
"""
from __future__ import annotations

import functools
import hashlib
import hmac
import re
import secrets as pysecrets
import time

from pynamodb.exceptions import DoesNotExist

from chalicelib.models import AuthToken
from chalicelib.services import activity, login_limits, store
from chalicelib.services.errors import NotAuthenticated, ValidationError
from chalicelib.services.rbac import Principal
from chalicelib.services.resources import get as get_resource

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_TOKEN_RE = re.compile(r"Token\s+([0-9a-f]{40})\s*", re.IGNORECASE)
#: the user record's field holding its token generation (absent: 0)
TOKEN_GENERATION = "token_generation"
#: one message for every failed login: do not reveal which logins exist
LOGIN_FAILED = "Unable to log in with the provided username and password."


def hash_password(password: str) -> str:
    salt = pysecrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, dklen=32, **_SCRYPT)
    return f"scrypt${_SCRYPT['n']}${_SCRYPT['r']}${_SCRYPT['p']}${salt.hex()}${digest.hex()}"


def verify_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, digest = stored.split("$")
    except (AttributeError, ValueError):
        return False
    candidate = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r),
                               p=int(p), dklen=32)
    return hmac.compare_digest(candidate.hex(), digest)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def find_user(username: str) -> dict | None:
    return next(iter(store.scan_index(get_resource("user"), "username", username, limit=1)), None)


def token_generation(user: dict) -> int:
    return int(user.get(TOKEN_GENERATION) or 0)


def issue_token(user: dict, revoke_others: bool = False) -> str:
    """A new token for `user`; with `revoke_others`, every earlier token stops working."""
    # read consistently: a token issued in a generation that has just ended would not work
    fresh = store.get("user", user["id"], consistent=True) or user
    if revoke_others:
        fresh = store.update(get_resource("user"), fresh, {**fresh, TOKEN_GENERATION: token_generation(fresh) + 1})
    token = pysecrets.token_hex(20)
    digest = _digest(token)
    AuthToken(digest, user_id=fresh["id"], created=int(time.time()), generation=token_generation(fresh)).save()
    if revoke_others:
        delete_tokens(fresh["id"], keep=digest)
    return token


def delete_tokens(user_id: int, keep: str | None = None) -> None:
    """Delete every token row of the user but `keep` (a digest). Revocation itself is the
    generation change; this removes the rows it made useless."""
    with AuthToken.batch_write() as batch:
        for row in AuthToken.by_user.query(int(user_id)):
            if row.digest != keep:
                batch.delete(AuthToken(row.digest))


@functools.lru_cache(maxsize=1)
def _dummy_hash() -> str:
    """A hash no password matches in practice, checked for logins with no user behind them
    (made on first use: scrypt is slow, and cold starts should not pay for it)."""
    return hash_password(pysecrets.token_hex(16))


def login(username: str, password: str, source: str) -> tuple[dict, str]:
    """The user and a new token for a username and password sent from address `source`.

    TooManyRequests (without checking the password) while the username at that address, or the
    address, has failed too often; the failure that reaches a limit is refused the same way.
    """
    if not username or not password:
        raise ValidationError("username" if not username else "password", "This field is required.")
    attempt = login_limits.begin(username, source)
    user = find_user(username)
    # an unknown or inactive login costs the same scrypt as a wrong password: no timing tells them apart
    stored = user.get("password", "") if user and user.get("active", 1) else _dummy_hash()
    if not verify_password(password, stored) or stored is _dummy_hash():
        attempt.failed()
        if user is not None:  # a wrong password for a real account shows in its owner's stream
            activity.record(Principal(user), activity.Action.LOGIN, "user", user["id"], user.get("username"),
                            {"failed": 1})
        raise ValidationError(None, LOGIN_FAILED)
    attempt.succeeded()
    token = issue_token(user)
    activity.record(Principal(user), activity.Action.LOGIN, "user", user["id"], user.get("username"))
    return user, token


def authenticate(header: str | None) -> Principal:
    """The principal behind an `Authorization: Token <40 hex>` header, or 401."""
    if not header:
        raise NotAuthenticated("Authentication credentials were not provided.")
    match = _TOKEN_RE.fullmatch(header.strip())
    if not match:
        raise NotAuthenticated("Invalid token header: use 'Authorization: Token <40 hex characters>'.")
    try:
        token = AuthToken.get(_digest(match.group(1).lower()))
    except DoesNotExist:
        raise NotAuthenticated("Invalid token.") from None
    user = store.get("user", int(token.user_id))
    if user is None or not user.get("active", 1):
        raise NotAuthenticated("User inactive or deleted.")
    # older, not different: a read of the user just after a regenerate may still show the old
    # generation, and the new token must work at once
    if int(token.generation or 0) < token_generation(user):
        raise NotAuthenticated("Invalid token.")
    return Principal(user)


def ensure_superuser(username: str = "admin") -> tuple[dict, str | None]:
    """Create the first superuser if missing. Returns it and, when created, its new token."""
    user = find_user(username)
    if user is not None:
        return user, None
    users = get_resource("user")
    user = store.create(users, {"username": username, "last_name": username.capitalize(), "email": "",
                                "active": 1, "superuser": 1,
                                "password": hash_password(pysecrets.token_urlsafe(16))})
    return user, issue_token(user)

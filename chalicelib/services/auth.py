"""Users, passwords and API tokens.

Passwords are hashed with scrypt (a slow, memory-hard KDF from the standard library). Tokens are
40 hex characters, shown once, stored as SHA-256 digests; a user's digests are kept on the user
record so that regenerating revokes every earlier token.
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets as pysecrets
import time

from pynamodb.exceptions import DoesNotExist

from chalicelib.models import AuthToken
from chalicelib.services import store
from chalicelib.services.errors import NotAuthenticated, ValidationError
from chalicelib.services.rbac import Principal
from chalicelib.services.resources import get as get_resource

_SCRYPT = {"n": 2**14, "r": 8, "p": 1}
_TOKEN_RE = re.compile(r"Token\s+([0-9a-f]{40})\s*", re.IGNORECASE)


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


def issue_token(user: dict, revoke_others: bool = False) -> str:
    """A new token for `user`; with `revoke_others`, every earlier token stops working."""
    users = get_resource("user")
    token = pysecrets.token_hex(20)
    digest = _digest(token)
    AuthToken(digest, user_id=user["id"], created=int(time.time())).save()
    fresh = store.get("user", user["id"]) or user
    kept = [] if revoke_others else list(fresh.get("token_digests", []))
    if revoke_others:
        for old in fresh.get("token_digests", []):
            AuthToken(old).delete()
    store.update(users, fresh, {**fresh, "token_digests": (kept + [digest])[-20:]})
    return token


def login(username: str, password: str) -> tuple[dict, str]:
    if not username or not password:
        raise ValidationError("username" if not username else "password", "This field is required.")
    user = find_user(username)
    if user is None or not user.get("active", 1) or not verify_password(password, user.get("password", "")):
        # one message for every failure: do not reveal which logins exist
        raise ValidationError(None, "Unable to log in with the provided username and password.")
    return user, issue_token(user)


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

"""Failed logins per scope (a username at a source address, or a source address alone), counted
in a window that opens at the first failure. The TTL removes a window's row once it has ended, so
the table holds only the scopes that failed recently."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, TTLAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.models.base import meta


class LoginFailures(Model):
    Meta = meta("login-failures")

    scope = UnicodeAttribute(hash_key=True)
    failures = NumberAttribute(default=0)
    #: epoch seconds at which the window closes; the row counts only before it (TTL deletion
    #: may lag by hours, so readers compare this, not the row's presence)
    window_end = NumberAttribute()
    expires = TTLAttribute()

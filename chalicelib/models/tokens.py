"""API tokens, stored as SHA-256 digests: a leaked table does not leak usable tokens."""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.models import Model

from chalicelib.models.base import meta


class AuthToken(Model):
    Meta = meta("tokens")

    digest = UnicodeAttribute(hash_key=True)
    user_id = NumberAttribute()
    created = NumberAttribute()

"""API tokens, stored as SHA-256 digests: a leaked table does not leak usable tokens.

`by_user` lists a user's tokens so that revoking them all is one query however many there are;
it projects only the keys, which is all a delete needs.
"""
from __future__ import annotations

from pynamodb.attributes import NumberAttribute, UnicodeAttribute
from pynamodb.indexes import GlobalSecondaryIndex, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.models.base import meta


class _ByUser(GlobalSecondaryIndex):
    class Meta:
        index_name = "by-user"
        projection = KeysOnlyProjection()

    user_id = NumberAttribute(hash_key=True)
    created = NumberAttribute(range_key=True)


class AuthToken(Model):
    Meta = meta("tokens")

    digest = UnicodeAttribute(hash_key=True)
    user_id = NumberAttribute()
    created = NumberAttribute()
    #: the user's token generation when it was issued; a token of an older one is revoked
    #: (absent on tokens issued before generations existed: generation 0)
    generation = NumberAttribute(null=True)

    by_user = _ByUser()

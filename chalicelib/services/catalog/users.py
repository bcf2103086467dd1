"""Users (`/api/system/user/`): superuser-only CRUD; passwords hashed, never shown."""
from __future__ import annotations

from chalicelib.services import auth
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Bool01, Str
from chalicelib.services.resources import Access, Resource, register


def _deactivated(previous: dict | None, rec: dict) -> bool:
    return previous is not None and bool(previous.get("active", 1)) and not rec.get("active", 1)


def _validate(change) -> None:
    if "password" in change.changed:
        password = change.data["password"]
        if len(password) < 8:
            raise ValidationError("password", "Ensure this field has at least 8 characters.")
        change.data["password"] = auth.hash_password(password)
    elif change.creating:
        raise ValidationError("password", "This field is required.")
    if _deactivated(change.existing, change.data):
        # saved with the record: its tokens are revoked for good, reactivation does not revive them
        change.data[auth.TOKEN_GENERATION] = auth.token_generation(change.existing) + 1


def _after_save(principal, rec, previous) -> None:
    """Teams carry their members' last names (denormalized, spec §6.3): refresh them on a rename.
    A deactivated user's token rows are deleted (the new generation already revoked them)."""
    if previous is not None and previous.get("last_name") != rec.get("last_name"):
        from chalicelib.services.catalog import system  # imported here: system imports users' family

        system.refresh_teams_of_user(rec["id"])
    if _deactivated(previous, rec):
        auth.delete_tokens(rec["id"])


def _after_delete(principal, rec) -> None:
    auth.delete_tokens(rec["id"])


USERS = register(Resource(
    family="user", path="/api/system/user", title="Users",
    description="Accounts that can log in and hold API tokens. Superusers only.",
    access=Access.superuser(),
    fields=[
        Str("username", required=True, blank=False, max_length=150, pattern=r"[A-Za-z0-9@.+_-]+",
            description="Login name (letters, digits and @.+_-)."),
        Str("last_name", max_length=150, description="Display name."),
        Str("email", max_length=254, pattern=r"[^@\s]+@[^@\s]+", description="E-mail address."),
        Bool01("active", default=1,
               description="0 disables login and revokes every token (reactivating does not revive them)."),
        Bool01("superuser", default=0, description="1 passes every permission check."),
        Str("password", hidden=True, max_length=256, description="Write-only; hashed with scrypt."),
    ],
    search=("username", "last_name", "email"), filters=("username", "active", "superuser"),
    ordering=("username", "last_name"), indexes=("username",), unique=(("username",),),
    validate=_validate, after_save=_after_save, after_delete=_after_delete,
))

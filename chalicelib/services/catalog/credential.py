"""Credentials (spec §3.1) and their grants (§3.7, §3.8).

Type codes: `ssh` (machine login: user + password and/or private key + passphrase, plus
become_*), `user_pwd` (source-control login), `vault` (Ansible Vault password + vault id),
`aws` (access key id + secret) and `galaxy` (a Galaxy or Automation Hub server URL + API token,
which a project's requirements are installed from). Every secret field is KMS-encrypted by the generic CRUD and shown
as "$encrypted$"; this module only adds the rules that tie fields to types and checks that a
private key really is one (an unusable key should fail at save time, not in the middle of a job).
"""
from __future__ import annotations

from chalicelib.services import secrets, urls
from chalicelib.services.catalog.grants import protect
from chalicelib.services.errors import ValidationError
from chalicelib.services.fields import Int, Label, Str, Text
from chalicelib.services.resources import Access, Resource, register

TYPE_LABELS = {"ssh": "ssh", "user_pwd": "Username/password", "vault": "Vault", "aws": "AWS access key",
               "galaxy": "Ansible Galaxy/Automation Hub"}

#: which fields each type uses; a field outside its type's set must stay empty
TYPE_FIELDS = {
    "ssh": {"user_name", "password", "private_key", "passphrase", "become_method", "become_user", "become_pass"},
    "user_pwd": {"user_name", "password"},
    "vault": {"vault_password", "vault_id"},
    "aws": {"key_id", "key_secret"},
    "galaxy": {"url", "token"},
}
TYPED_FIELDS = sorted(set().union(*TYPE_FIELDS.values()))

#: ansible-core's become plugins
BECOME_METHODS = ("sudo", "su", "pbrun", "pfexec", "doas", "dzdo", "ksu", "runas", "machinectl", "sesu", "enable")


def plaintext(rec: dict, field_name: str) -> str:
    """A credential's secret field in clear, for the code that uses it (runner, host sources)."""
    return secrets.decrypt(rec.get(field_name) or "", "credential", field_name)


def normalize_key(text: str) -> str:
    """Keys pasted from browsers carry CRLF or lose the final newline; OpenSSH rejects both."""
    text = text.replace("\r\n", "\n").strip()
    return text + "\n" if text else ""


def check_private_key(key: str, passphrase: str) -> None:
    """Raise a 400 unless `key` is a private key, and a passphrase is given exactly when it is
    encrypted. Whether the passphrase opens the key is checked by the runner, which has the crypto
    libraries the API Lambda leaves out (see `chalicelib.services.sshkeys`)."""
    from chalicelib.services.sshkeys import KeyFormatError, inspect

    try:
        info = inspect(key)
    except KeyFormatError as exc:
        raise ValidationError("private_key", f"cannot be read as a private key: {exc}") from None
    if info.encrypted and not passphrase:
        raise ValidationError("passphrase", "the private key is encrypted; give its passphrase")
    if not info.encrypted and passphrase:
        raise ValidationError("passphrase", "the private key is not encrypted; leave passphrase empty")


def _validate(change) -> None:
    data = change.data
    kind = data.get("type")
    used = TYPE_FIELDS[kind]
    type_changed = change.existing is not None and "type" in change.changed and change.existing.get("type") != kind
    for name in TYPED_FIELDS:
        if name in used:
            continue
        if name in change.changed and data.get(name):
            raise ValidationError(name, f"not used by {kind} credentials")
        if type_changed:
            data[name] = ""  # a secret of the old type must not linger unseen
    if "private_key" in change.changed and data.get("private_key"):
        data["private_key"] = normalize_key(data["private_key"])
    if kind == "ssh" and ({"private_key", "passphrase"} & change.changed or change.creating):
        key, passphrase = change.plaintext("private_key"), change.plaintext("passphrase")
        if key:
            check_private_key(key, passphrase)
        elif passphrase:
            raise ValidationError("passphrase", "a passphrase needs a private_key")
    if kind == "ssh" and data.get("become_pass") and not data.get("become_method"):
        data["become_method"] = "sudo"
    if kind == "user_pwd" and not data.get("user_name"):
        raise ValidationError("user_name", "required for user_pwd credentials")
    if kind == "vault" and not change.plaintext("vault_password"):
        raise ValidationError("vault_password", "required for vault credentials")
    if kind == "aws":
        if not data.get("key_id"):
            raise ValidationError("key_id", "required for aws credentials")
        if not change.plaintext("key_secret"):
            raise ValidationError("key_secret", "required for aws credentials")
    if kind == "galaxy":
        check_galaxy_url(data.get("url") or "")


def check_galaxy_url(url: str) -> None:
    """A galaxy server is an http(s) URL with a host, and no password in it (the token is the secret)."""
    if not url:
        raise ValidationError("url", "required for galaxy credentials")
    parts = urls.split("url", url)
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ValidationError("url", "expected the galaxy server's http(s):// URL, e.g. https://galaxy.ansible.com/")
    if parts.password:
        raise ValidationError("url", "do not put a password in the URL; the token field is the secret")


CREDENTIALS = register(Resource(
    family="credential", path="/api/project/credential", title="Credentials",
    description="Secrets jobs use: machine logins (ssh), source-control logins (user_pwd), Ansible Vault "
                "passwords (vault), AWS access keys (aws) and Galaxy servers with their tokens (galaxy). "
                'Secret fields are write-only: responses show "$encrypted$", and sending "$encrypted$" back keeps '
                "the stored value.",
    access=Access.protected(),
    fields=[
        Str("name", required=True, blank=False, max_length=512, description="Credential name."),
        Str("description", max_length=1024, description="Description."),
        Str("type", required=True, blank=False, choices=tuple(TYPE_LABELS), description="ssh, user_pwd, vault, aws or galaxy."),
        Str("user_name", max_length=256, description="Login user (ssh, user_pwd)."),
        Str("password", secret=True, max_length=4096, description="Login password (ssh, user_pwd). Write-only."),
        Text("private_key", secret=True, max_length=65_536,
             description="SSH private key, PEM or OpenSSH format (ssh). Checked to be parseable. Write-only."),
        Str("passphrase", secret=True, max_length=4096, description="Passphrase of the private key (ssh). Write-only."),
        Str("become_method", choices=BECOME_METHODS, description="Privilege escalation method (ssh); sudo when only a become_pass is given."),
        Str("become_user", max_length=256, description="Escalate to this user (ssh)."),
        Str("become_pass", secret=True, max_length=4096, description="Escalation password (ssh). Write-only."),
        Str("vault_password", secret=True, max_length=4096, description="Ansible Vault password (vault). Write-only."),
        Str("vault_id", max_length=128, pattern=r"[A-Za-z0-9_.-]+", description="Vault id label (vault)."),
        Str("key_id", max_length=256, description="Access key id (aws)."),
        Str("key_secret", secret=True, max_length=4096, description="Secret access key (aws). Write-only."),
        Str("url", max_length=2048, description="Galaxy or Automation Hub server URL, http(s):// (galaxy)."),
        Str("token", secret=True, max_length=4096,
            description="API token of the galaxy server (galaxy); empty for an anonymous server. Write-only."),
        Int("cuser", read_only=True, default=None, description="Creator's user id."),
        Int("ctime", read_only=True, default=None, description="Creation time (epoch seconds)."),
    ],
    labels=[Label("type_name", "type", choices=TYPE_LABELS),
            Label("cuser_name", "cuser", family="user", attr="username")],
    search=("name", "user_name"), filters=("name", "type"), ordering=("name", "type"),
    validate=_validate,
))

CREDENTIAL_USERS, CREDENTIAL_TEAMS = protect(CREDENTIALS, "/api/project/credential/authorized/users",
                                             "/api/project/credential/empowered/teams")

"""Credentials (`/api/project/credential/`): types, secrets that never come back, key checks, grants."""
from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519, rsa

from tests.conftest import Api

URL = "/api/project/credential/"
SECRET_VALUES = ["pw-Plain-1", "pass-Phrase-2", "become-Pw-3", "vault-Pw-4", "aws-Secret-5"]


def openssh_key(passphrase: str | None = None) -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    enc = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, enc).decode()


def pem_rsa_key(passphrase: str | None = None) -> str:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    enc = serialization.BestAvailableEncryption(passphrase.encode()) if passphrase else serialization.NoEncryption()
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.TraditionalOpenSSL, enc).decode()


@pytest.fixture
def bodies(monkeypatch) -> list[str]:
    """Every response body any client sends back during the test."""
    seen: list[str] = []
    original = Api.request

    def recording(self, *args, **kwargs):
        response = original(self, *args, **kwargs)
        seen.append(response.body.decode() if isinstance(response.body, bytes) else str(response.body or ""))
        return response

    monkeypatch.setattr(Api, "request", recording)
    return seen


def ssh_payload(**extra) -> dict:
    return {"name": "web login", "type": "ssh", "user_name": "deploy", "password": "pw-Plain-1",
            "become_method": "sudo", "become_user": "root", "become_pass": "become-Pw-3", **extra}


def test_ssh_credential_is_created_with_secrets_masked(api):
    r = api.post(URL, ssh_payload())
    assert r.status_code == 201, r.body
    assert r.data["type_name"] == "ssh"
    assert r.data["user_name"] == "deploy"
    assert r.data["password"] == "$encrypted$"
    assert r.data["become_pass"] == "$encrypted$"
    assert r.data["private_key"] == ""  # nothing stored: nothing to mask


def test_secrets_are_stored_encrypted_at_rest(api):
    from chalicelib.services import store
    from chalicelib.services.catalog.credential import plaintext

    cid = api.post(URL, ssh_payload()).data["id"]
    stored = store.get("credential", cid)
    assert stored["password"].startswith("kms:") and "pw-Plain-1" not in stored["password"]
    assert plaintext(stored, "password") == "pw-Plain-1"


def test_no_response_ever_contains_a_plaintext_secret(api, make_user, bodies):
    key = openssh_key("pass-Phrase-2")
    r = api.post(URL, ssh_payload(private_key=key, passphrase="pass-Phrase-2"))
    assert r.status_code == 201, r.body
    ssh_id = r.data["id"]
    vault_id = api.post(URL, {"name": "v", "type": "vault", "vault_password": "vault-Pw-4", "vault_id": "prod"}).data["id"]
    aws_id = api.post(URL, {"name": "a", "type": "aws", "key_id": "AKIAEXAMPLE", "key_secret": "aws-Secret-5"}).data["id"]
    api.get(URL)
    api.get(URL + "?search=web")
    for cid in (ssh_id, vault_id, aws_id):
        api.get(f"{URL}{cid}/")
        api.patch(f"{URL}{cid}/", {"description": "touched"})
    api.put(f"{URL}{ssh_id}/", {**ssh_payload(), "private_key": "$encrypted$", "passphrase": "$encrypted$",
                                 "password": "$encrypted$", "become_pass": "$encrypted$"})
    user, as_user = make_user()
    api.post(URL + "authorized/users/", {"username": user["id"], "data": ssh_id, "permission": "read"})
    as_user.get(URL)
    as_user.get(f"{URL}{ssh_id}/")
    api.get(URL + "authorized/users/")
    api.get("/api/openapi.json")
    assert len(bodies) > 15
    key_body = "".join(key.splitlines()[1:3])
    for body in bodies:
        for secret in SECRET_VALUES + [key_body]:
            assert secret not in body


def test_sending_encrypted_placeholder_keeps_the_stored_secret(api):
    from chalicelib.services import store
    from chalicelib.services.catalog.credential import plaintext

    cid = api.post(URL, ssh_payload()).data["id"]
    r = api.patch(f"{URL}{cid}/", {"password": "$encrypted$", "user_name": "ops"})
    assert r.status_code == 200, r.body
    assert plaintext(store.get("credential", cid), "password") == "pw-Plain-1"
    api.patch(f"{URL}{cid}/", {"password": "new-pw"})
    assert plaintext(store.get("credential", cid), "password") == "new-pw"


@pytest.mark.parametrize("make_key", [openssh_key, pem_rsa_key], ids=["openssh", "pem"])
def test_passphrase_protected_private_key_is_accepted_with_its_passphrase(api, make_key):
    r = api.post(URL, ssh_payload(private_key=make_key("pass-Phrase-2"), passphrase="pass-Phrase-2"))
    assert r.status_code == 201, r.body
    assert r.data["private_key"] == "$encrypted$" and r.data["passphrase"] == "$encrypted$"


def test_unencrypted_private_key_with_crlf_is_accepted(api):
    r = api.post(URL, ssh_payload(private_key=pem_rsa_key().replace("\n", "\r\n")))
    assert r.status_code == 201, r.body


def test_garbage_private_key_is_rejected(api):
    r = api.post(URL, ssh_payload(private_key="-----BEGIN RSA PRIVATE KEY-----\nnot a key\n-----END RSA PRIVATE KEY-----"))
    assert r.status_code == 400
    assert r.data["detail"].startswith("private_key:")
    r = api.post(URL, ssh_payload(private_key="hello"))
    assert r.status_code == 400 and r.data["detail"].startswith("private_key:")


def test_encrypted_key_without_a_passphrase_is_rejected(api):
    r = api.post(URL, ssh_payload(private_key=openssh_key("right")))
    assert r.status_code == 400 and r.data["detail"].startswith("passphrase:")


def test_a_passphrase_for_an_unencrypted_key_is_rejected(api):
    r = api.post(URL, ssh_payload(private_key=openssh_key(), passphrase="needless"))
    assert r.status_code == 400 and r.data["detail"].startswith("passphrase:")


def test_a_public_key_or_a_truncated_key_is_rejected_as_private_key(api):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ed25519

    public = ed25519.Ed25519PrivateKey.generate().public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode()
    r = api.post(URL, ssh_payload(private_key=public))
    assert r.status_code == 400 and "public key" in r.data["detail"]
    lines = openssh_key().splitlines()
    truncated = "\n".join(lines[:2] + lines[-1:])
    r = api.post(URL, ssh_payload(private_key=truncated))
    assert r.status_code == 400 and r.data["detail"].startswith("private_key:")


def test_a_wrong_passphrase_is_stored_and_reported_by_the_run_that_uses_it(api):
    """The API Lambda has no crypto library (size budget): the runner checks the passphrase
    (tests/test_runner_core.py covers the failed run and its reason)."""
    r = api.post(URL, ssh_payload(private_key=pem_rsa_key("one"), passphrase="two"))
    assert r.status_code == 201, r.body


def test_fields_of_another_type_are_rejected(api):
    r = api.post(URL, {"name": "x", "type": "user_pwd", "user_name": "git", "vault_password": "v"})
    assert r.status_code == 400 and r.data["detail"].startswith("vault_password:")


@pytest.mark.parametrize("payload, field", [
    ({"type": "user_pwd", "password": "p"}, "user_name"),
    ({"type": "vault", "vault_id": "x"}, "vault_password"),
    ({"type": "aws", "key_secret": "s"}, "key_id"),
    ({"type": "aws", "key_id": "AKIA"}, "key_secret"),
    ({"type": "winrm"}, "type"),
    ({"type": "ssh", "become_method": "teleport"}, "become_method"),
    ({"type": "vault", "vault_password": "v", "vault_id": "bad id"}, "vault_id"),
])
def test_each_type_requires_its_fields(api, payload, field):
    r = api.post(URL, {"name": "c", **payload})
    assert r.status_code == 400, r.body
    assert r.data["detail"].startswith(f"{field}:")


def test_changing_type_clears_the_old_types_secrets(api):
    from chalicelib.services import store

    cid = api.post(URL, ssh_payload()).data["id"]
    r = api.patch(f"{URL}{cid}/", {"type": "vault", "vault_password": "vault-Pw-4"})
    assert r.status_code == 200, r.body
    stored = store.get("credential", cid)
    assert stored["password"] == "" and stored["become_pass"] == "" and stored["user_name"] == ""
    assert r.data["password"] == ""


def test_become_method_defaults_to_sudo_when_only_a_become_password_is_given(api):
    r = api.post(URL, {"name": "c", "type": "ssh", "user_name": "u", "become_pass": "b"})
    assert r.status_code == 201 and r.data["become_method"] == "sudo"


def test_list_searches_name_and_user_name(api):
    api.post(URL, ssh_payload(name="alpha"))
    api.post(URL, {"name": "beta", "type": "user_pwd", "user_name": "gitlab-bot"})
    assert [c["name"] for c in api.get(URL + "?search=gitlab").data["results"]] == ["beta"]
    assert [c["name"] for c in api.get(URL + "?name=alpha").data["results"]] == ["alpha"]


def test_user_without_grant_sees_no_credential(api, make_user):
    cid = api.post(URL, ssh_payload()).data["id"]
    _, as_user = make_user()
    assert as_user.get(f"{URL}{cid}/").status_code == 403
    assert as_user.get(URL).data["count"] == 0
    assert as_user.patch(f"{URL}{cid}/", {"name": "mine"}).status_code == 403


def test_credential_grants_use_the_spec_paths(api, make_user):
    cid = api.post(URL, ssh_payload()).data["id"]
    user, as_user = make_user()
    team = api.post("/api/system/team/", {"name": "ops"}).data["id"]
    r = api.post(URL + "empowered/teams/", {"team": team, "data": cid, "permission": "read"})
    assert r.status_code == 201 and r.data["data_name"] == "web login"
    r = api.post(URL + "authorized/users/", {"username": user["username"], "data": cid, "permission": "read"})
    assert r.status_code == 201, r.body
    assert r.data["username"] == user["id"] and r.data["permission_name"] == "Read-only"
    assert as_user.get(f"{URL}{cid}/").status_code == 200
    assert as_user.patch(f"{URL}{cid}/", {"name": "x"}).status_code == 403


def test_creator_gets_admin_and_can_delete(api, make_user):
    _, as_user = make_user()
    cid = as_user.post(URL, ssh_payload()).data["id"]
    assert as_user.delete(f"{URL}{cid}/").status_code == 204
    assert api.get(f"{URL}{cid}/").status_code == 404

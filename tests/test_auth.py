"""Spec §1.2 and issue 2 §5, §9: token authentication, login, users, and what never leaks
(passwords and tokens in responses, storage and logs)."""
from __future__ import annotations

import io
import json
import re
import time

import pytest

PASSWORD = "s3cret-pass"  # the password conftest's make_user gives every user
USERS = "/api/system/user/"


def login(anon, username: str, password: str = PASSWORD, form: bool = False):
    return anon.post("/api/auth/token/", {"username": username, "password": password}, form=form)


# ---------------------------------------------------------------- 401


def test_ping_needs_no_token(anon):
    r = anon.get("/api/ping/")
    assert r.status_code == 200
    assert r.data == {"status": "ok"}


def test_a_request_without_a_token_is_401(anon):
    for path in ("/api/system/team/", "/api/system/tag/1/", "/api/auth/me/", "/api/project/inventory/",
                 "/api/system/user/"):
        r = anon.get(path)
        assert r.status_code == 401, path
        assert r.headers.get("WWW-Authenticate") == "Token"
        assert "detail" in r.data


def test_a_write_without_a_token_is_401_and_changes_nothing(api, anon):
    assert anon.post("/api/system/team/", {"name": "x"}).status_code == 401
    assert api.get("/api/system/team/").data["count"] == 0


def test_a_wrong_token_is_401(anon):
    r = anon.as_token("0" * 40).get("/api/system/team/")
    assert r.status_code == 401


def test_a_malformed_authorization_header_is_401(anon):
    for header in ("Bearer " + "a" * 40, "Token", "Token abc", "Token " + "g" * 40, "Token " + "a" * 41,
                   "a" * 40, "Basic YWRtaW46YWRtaW4=", ""):
        r = anon.get("/api/system/team/", headers={"Authorization": header})
        assert r.status_code == 401, header


def test_an_inactive_users_token_is_401(api, make_user):
    user, as_user = make_user("carol")
    assert as_user.get("/api/auth/me/").status_code == 200
    assert api.patch(f"{USERS}{user['id']}/", {"active": 0}).status_code == 200
    assert as_user.get("/api/auth/me/").status_code == 401


def test_an_inactive_user_cannot_log_in(api, anon, make_user):
    user, _ = make_user("carol")
    api.patch(f"{USERS}{user['id']}/", {"active": 0})
    assert login(anon, "carol").status_code == 400


def test_a_deleted_users_token_is_401(api, make_user):
    user, as_user = make_user("carol")
    assert api.delete(f"{USERS}{user['id']}/").status_code == 204
    assert as_user.get("/api/auth/me/").status_code == 401


def test_regenerating_revokes_the_old_token(make_user):
    _, old = make_user("carol")
    r = old.post("/api/auth/token/regenerate/")
    assert r.status_code == 200
    new = old.as_token(r.data["token"])
    assert new.token != old.token
    assert old.get("/api/auth/me/").status_code == 401
    assert new.get("/api/auth/me/").data["username"] == "carol"


def test_regenerating_revokes_every_earlier_token(anon, make_user):
    _, first = make_user("carol")
    second = anon.as_token(login(anon, "carol").data["token"])
    third = anon.as_token(first.post("/api/auth/token/regenerate/").data["token"])
    assert first.get("/api/auth/me/").status_code == 401
    assert second.get("/api/auth/me/").status_code == 401
    assert third.get("/api/auth/me/").status_code == 200


def test_regenerating_revokes_every_earlier_token_however_many_there_are(anon, make_user):
    _, first = make_user("carol")
    earlier = [first] + [anon.as_token(login(anon, "carol").data["token"]) for _ in range(24)]
    assert earlier[0].get("/api/auth/me/").status_code == 200  # 25 tokens, the oldest still works
    new = anon.as_token(earlier[-1].post("/api/auth/token/regenerate/").data["token"])
    refused = [client for client in earlier if client.get("/api/auth/me/").status_code == 401]
    assert len(refused) == len(earlier)
    assert new.get("/api/auth/me/").data["username"] == "carol"


def test_regenerating_leaves_only_the_new_tokens_row(anon, make_user):
    user, first = make_user("carol")
    login(anon, "carol")
    first.post("/api/auth/token/regenerate/")
    assert len(_token_rows(user["id"])) == 1


@pytest.mark.parametrize("method", ["PUT", "PATCH"])
def test_deactivating_a_user_revokes_every_token(api, anon, make_user, method):
    user, first = make_user("carol")
    second = anon.as_token(login(anon, "carol").data["token"])
    r = api.request(method, f"{USERS}{user['id']}/", {"username": "carol", "active": 0})
    assert r.status_code == 200, r.body
    assert first.get("/api/auth/me/").status_code == 401
    assert second.get("/api/auth/me/").status_code == 401
    assert _token_rows(user["id"]) == []


def test_reactivating_a_user_does_not_revive_their_tokens(api, anon, make_user):
    user, old = make_user("carol")
    api.patch(f"{USERS}{user['id']}/", {"active": 0})
    assert api.patch(f"{USERS}{user['id']}/", {"active": 1}).status_code == 200
    assert old.get("/api/auth/me/").status_code == 401
    assert anon.as_token(login(anon, "carol").data["token"]).get("/api/auth/me/").status_code == 200


def test_changing_another_field_of_a_user_keeps_their_tokens(api, make_user):
    user, as_user = make_user("carol")
    assert api.patch(f"{USERS}{user['id']}/", {"last_name": "Caroline"}).status_code == 200
    assert as_user.get("/api/auth/me/").status_code == 200


def test_a_token_of_an_earlier_generation_is_refused_even_if_its_row_survived(make_user):
    """Revocation does not depend on deleting the rows: the by-user index they are found through
    is eventually consistent, and a delete can be interrupted."""
    from chalicelib.models import AuthToken

    user, old = make_user("carol")
    kept = list(AuthToken.scan())
    old.post("/api/auth/token/regenerate/")
    for row in kept:
        row.save()  # as if the revocation had not found it
    assert len(_token_rows(user["id"])) == 2
    assert old.get("/api/auth/me/").status_code == 401


def test_deleting_a_user_removes_their_tokens(api, anon, make_user):
    user, _ = make_user("carol")
    login(anon, "carol")
    other, as_other = make_user("dave")
    assert len(_token_rows(user["id"])) == 2
    assert api.delete(f"{USERS}{user['id']}/").status_code == 204
    assert _token_rows(user["id"]) == []
    assert as_other.get("/api/auth/me/").status_code == 200


def test_a_user_record_keeps_no_list_of_token_digests(make_user):
    from chalicelib.services import store

    user, as_user = make_user("carol")
    as_user.post("/api/auth/token/regenerate/")
    assert "token_digests" not in store.get("user", user["id"])


def test_a_user_record_from_before_generations_still_authenticates_and_regenerates(anon, make_user):
    """Records written before revocation by generation carry `token_digests` and no generation."""
    from chalicelib.models import AuthToken
    from chalicelib.services import auth, store
    from chalicelib.services.resources import get as get_resource

    user, old = make_user("carol")
    rec = store.get("user", user["id"])
    legacy = {k: v for k, v in rec.items() if k != auth.TOKEN_GENERATION}
    store.update(get_resource("user"), rec, {**legacy, "token_digests": ["0" * 64]})
    for row in AuthToken.scan():
        row.generation = None
        row.save()
    assert old.get("/api/auth/me/").status_code == 200
    new = anon.as_token(old.post("/api/auth/token/regenerate/").data["token"])
    assert old.get("/api/auth/me/").status_code == 401
    assert new.get("/api/auth/me/").status_code == 200


def _token_rows(user_id: int) -> list[str]:
    """The digests of the user's token rows, read from the table itself (not through the index)."""
    from chalicelib.models import AuthToken

    return [row.digest for row in AuthToken.scan() if int(row.user_id) == int(user_id)]


def test_regenerate_needs_a_token(anon):
    assert anon.post("/api/auth/token/regenerate/").status_code == 401


# ---------------------------------------------------------------- login


def test_login_returns_a_40_hex_token_that_authenticates(anon, make_user):
    make_user("carol")
    r = login(anon, "carol")
    assert r.status_code == 200
    assert re.fullmatch(r"[0-9a-f]{40}", r.data["token"])
    assert r.data["user"]["username"] == "carol"
    assert anon.as_token(r.data["token"]).get("/api/auth/me/").data["username"] == "carol"


def test_login_accepts_a_form_body(anon, make_user):
    make_user("carol")
    assert login(anon, "carol", form=True).status_code == 200


def test_each_login_gives_a_new_token_and_earlier_ones_keep_working(anon, make_user):
    _, first = make_user("carol")
    second = login(anon, "carol").data["token"]
    assert second != first.token
    assert first.get("/api/auth/me/").status_code == 200


def test_login_with_a_wrong_password_is_400_without_saying_which_part_was_wrong(anon, make_user):
    make_user("carol")
    wrong_password = login(anon, "carol", "not-the-password")
    unknown_user = login(anon, "nobody", "not-the-password")
    assert wrong_password.status_code == unknown_user.status_code == 400
    assert wrong_password.data == unknown_user.data
    detail = wrong_password.data["detail"].lower()
    assert not detail.startswith(("password:", "username:"))
    assert "wrong password" not in detail and "no such user" not in detail and "not exist" not in detail


@pytest.mark.parametrize("body,field", [({"password": "x" * 10}, "username"), ({"username": "admin"}, "password")])
def test_login_without_a_field_is_400_naming_it(anon, body, field):
    r = anon.post("/api/auth/token/", body)
    assert r.status_code == 400
    assert r.data["detail"].startswith(f"{field}:")


def test_login_only_accepts_post(anon):
    r = anon.get("/api/auth/token/")
    assert r.status_code == 405
    assert "POST" in r.headers["Allow"]


def test_me_describes_the_calling_user(make_user):
    user, as_user = make_user("carol")
    r = as_user.get("/api/auth/me/")
    assert r.status_code == 200
    assert r.data == user
    assert r.data["superuser"] == 0


# ---------------------------------------------------------------- login limits


@pytest.fixture
def clock(monkeypatch):
    """The login limits' clock, stopped at the current time and moved by the test."""
    from chalicelib.services import login_limits

    class Clock:
        now = int(time.time())

        def advance(self, seconds: int) -> None:
            self.now += seconds

    stopped = Clock()
    monkeypatch.setattr(login_limits, "now", lambda: stopped.now)
    return stopped


@pytest.fixture
def limits():
    from chalicelib.services import login_limits

    return login_limits.limits()


def fail(anon, username: str, times: int) -> list[int]:
    """The statuses of `times` logins of `username` with a wrong password."""
    return [login(anon, username, "not-the-password").status_code for _ in range(times)]


def from_address(monkeypatch, address: str) -> None:
    """Make the in-process API see requests from `address` (chalice's test client reports 127.0.0.1)."""
    from chalice.local import LambdaEventConverter

    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", address)


def test_the_default_limits_are_5_failures_per_username_and_address_30_per_address_in_5_minutes(limits):
    assert (limits.per_user, limits.per_source, limits.window) == (5, 30, 300)


def test_the_failure_that_reaches_the_limit_is_429_with_retry_after(anon, make_user, clock, limits):
    make_user("carol")
    assert fail(anon, "carol", limits.per_user - 1) == [400] * (limits.per_user - 1)
    r = login(anon, "carol", "not-the-password")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == str(limits.window)
    assert r.data["detail"] == f"Too many failed logins; try again in {limits.window} seconds."


def test_retry_after_counts_down_from_the_first_failure(anon, make_user, clock, limits):
    make_user("carol")
    fail(anon, "carol", limits.per_user)
    clock.advance(100)
    r = login(anon, "carol")
    assert r.status_code == 429
    assert r.headers["Retry-After"] == str(limits.window - 100)


def test_while_limited_the_right_password_is_refused_without_checking_it(anon, make_user, clock, limits,
                                                                         monkeypatch):
    from chalicelib.services import auth

    make_user("carol")
    fail(anon, "carol", limits.per_user)
    checked = []
    monkeypatch.setattr(auth, "verify_password", lambda *args: checked.append(args) or True)
    r = login(anon, "carol")
    assert r.status_code == 429
    assert "Retry-After" in r.headers
    assert checked == []


def test_after_the_window_the_right_password_logs_in_again(anon, make_user, clock, limits):
    make_user("carol")
    fail(anon, "carol", limits.per_user)
    clock.advance(limits.window - 1)
    assert login(anon, "carol").status_code == 429
    clock.advance(1)
    assert login(anon, "carol").status_code == 200


def test_after_the_window_failures_are_counted_afresh(anon, make_user, clock, limits):
    make_user("carol")
    fail(anon, "carol", limits.per_user)
    clock.advance(limits.window)
    assert fail(anon, "carol", limits.per_user - 1) == [400] * (limits.per_user - 1)


def test_failures_of_one_username_do_not_lock_another_from_the_same_address(anon, make_user, clock, limits):
    make_user("carol")
    make_user("bob")
    fail(anon, "carol", limits.per_user)
    assert login(anon, "bob").status_code == 200
    assert login(anon, "carol").status_code == 429


def test_failures_from_one_address_do_not_lock_the_username_at_another(anon, make_user, clock, limits,
                                                                       monkeypatch):
    make_user("carol")
    from_address(monkeypatch, "203.0.113.7")
    fail(anon, "carol", limits.per_user)
    assert login(anon, "carol").status_code == 429
    from_address(monkeypatch, "198.51.100.2")
    assert login(anon, "carol").status_code == 200


def test_a_successful_login_resets_the_failures_of_that_username(anon, make_user, clock, limits):
    make_user("carol")
    fail(anon, "carol", limits.per_user - 1)
    assert login(anon, "carol").status_code == 200
    assert fail(anon, "carol", limits.per_user - 1) == [400] * (limits.per_user - 1)


def test_one_address_cannot_try_many_usernames(anon, make_user, clock, limits):
    make_user("carol")
    statuses = [login(anon, f"guess{n}", "not-the-password").status_code for n in range(limits.per_source)]
    assert statuses == [400] * (limits.per_source - 1) + [429]
    assert login(anon, "carol").status_code == 429  # the address is limited, whatever the login


def test_a_successful_login_does_not_reset_the_failures_of_its_address(anon, make_user, clock, limits):
    make_user("carol")
    for n in range(limits.per_source - 1):
        login(anon, f"guess{n}", "not-the-password")
    assert login(anon, "carol").status_code == 200
    assert login(anon, "guess-last", "not-the-password").status_code == 429


def test_unknown_and_known_usernames_are_limited_alike(anon, make_user, clock, limits):
    make_user("carol")
    assert fail(anon, "carol", limits.per_user) == fail(anon, "nobody", limits.per_user)


def test_successful_logins_are_never_limited(anon, make_user, clock, monkeypatch):
    monkeypatch.setenv("OPSGRAT_LOGIN_FAILURES_PER_USER", "2")
    monkeypatch.setenv("OPSGRAT_LOGIN_FAILURES_PER_SOURCE", "3")
    make_user("carol")
    statuses = [login(anon, "carol").status_code for _ in range(5)]
    assert statuses == [200] * 5


def test_attempts_still_being_checked_count_toward_the_limit(aws_mock, clock, limits):
    """Parallel requests cannot all slip past the limit while their passwords are checked."""
    from chalicelib.services import login_limits
    from chalicelib.services.errors import TooManyRequests

    for _ in range(limits.per_user):
        login_limits.begin("carol", "203.0.113.7")
    with pytest.raises(TooManyRequests):
        login_limits.begin("carol", "203.0.113.7")


def test_the_limits_can_be_set_by_environment_variables(anon, make_user, clock, monkeypatch):
    monkeypatch.setenv("OPSGRAT_LOGIN_FAILURES_PER_USER", "2")
    monkeypatch.setenv("OPSGRAT_LOGIN_WINDOW_SECONDS", "60")
    make_user("carol")
    assert fail(anon, "carol", 2) == [400, 429]
    clock.advance(60)
    assert login(anon, "carol").status_code == 200


def test_the_failure_counts_expire_with_their_window(anon, make_user, clock, limits):
    from chalicelib.models import LoginFailures

    make_user("carol")
    fail(anon, "carol", 1)
    rows = list(LoginFailures.scan())
    assert len(rows) == 2  # the username at the address, and the address
    assert {int(row.expires.timestamp()) for row in rows} == {clock.now + limits.window}


def test_the_failure_counts_do_not_store_the_username(anon, clock):
    from chalicelib.models import LoginFailures

    login(anon, "my-password-typed-as-username", "not-the-password")
    keys = [row.scope for row in LoginFailures.scan()]
    assert keys and not [k for k in keys if "my-password" in k]


# ---------------------------------------------------------------- users


def test_a_superuser_creates_reads_updates_and_deletes_users(api):
    r = api.post(USERS, {"username": "dave", "password": PASSWORD, "last_name": "Dave", "email": "d@example.com"})
    assert r.status_code == 201, r.body
    assert {k: r.data[k] for k in ("username", "last_name", "email", "active", "superuser")} == {
        "username": "dave", "last_name": "Dave", "email": "d@example.com", "active": 1, "superuser": 0}
    uid = r.data["id"]
    assert api.patch(f"{USERS}{uid}/", {"last_name": "David"}).data["last_name"] == "David"
    assert api.get(f"{USERS}{uid}/").data["last_name"] == "David"
    assert api.delete(f"{USERS}{uid}/").status_code == 204
    assert api.get(f"{USERS}{uid}/").status_code == 404


def test_a_normal_user_gets_403_on_every_user_endpoint(api, make_user):
    other, _ = make_user("other")
    _, as_user = make_user("carol")
    item = f"{USERS}{other['id']}/"
    assert as_user.get(USERS).status_code == 403
    assert as_user.post(USERS, {"username": "eve", "password": PASSWORD}).status_code == 403
    assert as_user.get(item).status_code == 403
    assert as_user.put(item, {"username": "other"}).status_code == 403
    assert as_user.patch(item, {"superuser": 1}).status_code == 403
    assert as_user.delete(item).status_code == 403
    assert as_user.delete(USERS, {"pk": str(other["id"])}).status_code == 403
    assert api.get(item).data == other


def test_a_normal_user_cannot_make_themself_superuser(make_user):
    me, as_user = make_user("carol")
    assert as_user.patch(f"{USERS}{me['id']}/", {"superuser": 1}).status_code == 403
    assert as_user.get("/api/auth/me/").data["superuser"] == 0


def test_usernames_are_unique(api, make_user):
    make_user("carol")
    r = api.post(USERS, {"username": "carol", "password": PASSWORD})
    assert r.status_code == 400
    assert r.data["detail"].startswith("username:")


def test_a_user_needs_a_password_of_at_least_8_characters(api):
    assert api.post(USERS, {"username": "dave"}).data["detail"].startswith("password:")
    r = api.post(USERS, {"username": "dave", "password": "short"})
    assert r.status_code == 400
    assert r.data["detail"].startswith("password:")


def test_a_changed_password_replaces_the_old_one(api, anon, make_user):
    user, _ = make_user("carol")
    assert api.patch(f"{USERS}{user['id']}/", {"password": "another-pass"}).status_code == 200
    assert login(anon, "carol").status_code == 400
    assert login(anon, "carol", "another-pass").status_code == 200


def test_the_password_never_appears_in_a_response(api, anon):
    bodies = []
    r = api.post(USERS, {"username": "dave", "password": PASSWORD})
    uid = r.data["id"]
    bodies.append(r)
    bodies.append(api.get(f"{USERS}{uid}/"))
    bodies.append(api.get(USERS))
    bodies.append(api.patch(f"{USERS}{uid}/", {"password": PASSWORD + "2"}))
    bodies.append(api.put(f"{USERS}{uid}/", {"username": "dave", "password": PASSWORD}))
    token = login(anon, "dave")
    bodies.append(token)
    as_dave = anon.as_token(token.data["token"])
    bodies.append(as_dave.get("/api/auth/me/"))
    bodies.append(as_dave.post("/api/auth/token/regenerate/"))
    bodies.append(login(anon, "dave", "wrong-password"))
    for r in bodies:
        text = r.body.decode() if isinstance(r.body, bytes) else r.body
        assert PASSWORD not in text
        assert "scrypt" not in text
        assert '"password"' not in text


def test_the_password_is_stored_as_a_slow_hash_not_as_plaintext(api):
    from chalicelib.models import Record

    uid = api.post(USERS, {"username": "dave", "password": PASSWORD}).data["id"]
    stored = Record.get("user", uid).body
    assert PASSWORD not in stored
    kdf, n, r, p, salt, digest = json.loads(stored)["password"].split("$")
    assert kdf == "scrypt" and int(n) >= 2**14 and len(bytes.fromhex(salt)) >= 16


def test_tokens_are_stored_as_digests_not_as_plaintext(anon, make_user):
    from chalicelib.models import AuthToken

    _, as_user = make_user("carol")
    rows = [t.digest for t in AuthToken.scan()]
    assert rows and as_user.token not in rows
    assert all(re.fullmatch(r"[0-9a-f]{64}", d) for d in rows)


# ---------------------------------------------------------------- logs


@pytest.fixture
def log_output():
    """What the Powertools logger writes during the test, at INFO. Its handler keeps the stdout
    it saw at import, so the stream is swapped rather than captured with capsys."""
    from chalicelib.api.http import logger

    buffer = io.StringIO()
    handler = logger.registered_handler
    old_stream = handler.setStream(buffer)
    old_level = logger.log_level
    logger.setLevel("INFO")
    yield buffer
    logger.setLevel(old_level)
    handler.setStream(old_stream)


def test_log_lines_carry_a_request_id_and_never_a_token_or_password(api, anon, make_user, log_output):
    make_user("carol")
    ok = login(anon, "carol")
    token = ok.data["token"]
    login(anon, "carol", "wrong-password-123")
    as_carol = anon.as_token(token)
    as_carol.get("/api/system/team/")
    as_carol.post("/api/system/team/", {"name": "nope"})  # 403
    as_carol.get("/api/system/user/")  # 403
    wrong = token[:-1] + ("0" if token[-1] != "0" else "1")
    anon.get("/api/system/team/", headers={"Authorization": f"Token {wrong}"})  # 401
    lines = [line for line in log_output.getvalue().splitlines() if line.strip()]
    assert lines, "the refused requests above should have been logged"
    for line in lines:
        record = json.loads(line)
        assert record.get("request_id"), line
        assert token not in line and token[:-1] not in line and wrong not in line
        assert PASSWORD not in line and "wrong-password-123" not in line

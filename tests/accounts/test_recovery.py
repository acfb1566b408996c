"""Password reset by e-mail, end to end: the API, the real job worker, a real SMTP server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from saaskit.config import Settings
from saaskit.kit.hashing import token_hash
from tests.accounts.mailbox import World, link_of, open_world
from tests.conftest import DbUnderTest
from tests.helpers import DEFAULT_PASSWORD, error_of, login, signup, with_limits

pytestmark = pytest.mark.live  # committed data in a fresh database, a real worker

RESET_SUBJECT = "Reset your Acme Boards password"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture
async def world(fresh_database: DbUnderTest, settings: Settings) -> AsyncIterator[World]:
    async with open_world(fresh_database, settings) as opened:
        yield opened


async def confirm(world: World, token: str, password: str = NEW_PASSWORD) -> tuple[int, dict[str, object]]:
    answer = await world.http.post(
        "/api/auth/password-reset/confirm", json={"token": token, "password": password}
    )
    return answer.status_code, answer.json()


async def test_reset_end_to_end_and_unknown_addresses_get_the_same_answer_and_nothing(world: World) -> None:
    http = world.http
    ada = await signup(http, "ada@example.com")
    other_session = (await login(http, ada.email)).json()["token"]

    known = await http.post("/api/auth/password-reset", json={"email": "Ada@Example.com"})
    unknown = await http.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json() and "60 minutes" in known.json()["message"]
    assert known.headers.keys() == unknown.headers.keys()
    # The request did the same work for both: one job each, with the address sealed; no link yet.
    jobs = await world.sql(
        "SELECT args FROM procrastinate_jobs WHERE task_name = 'accounts.send_password_reset' ORDER BY id"
    )
    assert len(jobs) == 2 and [set(j.args) for j in jobs] == [{"sealed_email", "ip_hash"}] * 2
    assert "example.com" not in str(jobs)
    assert await world.sql("SELECT id FROM account_tokens WHERE purpose = 'password_reset'") == []

    await world.drain()
    await world.smtp.wait_for(2)  # the sign-up's verification and the reset
    (reset_mail,) = world.inbox("ada@example.com", RESET_SUBJECT)
    assert world.inbox("nobody@example.com") == [], "an unknown address gets nothing"
    assert len(world.smtp.received) == 2
    assert "for 60 minutes" in reset_mail.part("text/plain")
    token = link_of(reset_mail, "/reset-password")
    assert token.startswith("pwr_") and token not in await world.everything_stored()
    (stored,) = await world.sql(
        "SELECT token_hash, user_id FROM account_tokens WHERE purpose = 'password_reset'"
    )
    assert (stored.token_hash, stored.user_id) == (token_hash(token), ada.id)
    (before,) = await world.sql("SELECT password_hash FROM users WHERE id = :i", i=ada.id)

    # Refusals change nothing: a password the policy refuses (the link still works), a forged token.
    status, body = await confirm(world, token, "short")
    assert status == 422 and body["error"]["field"] == "password"
    status, body = await confirm(world, "pwr_" + "x" * 43)
    assert (status, body["error"]["code"], body["error"]["field"]) == (400, "invalid_token", "token")
    assert await world.sql("SELECT password_hash FROM users WHERE id = :i", i=ada.id) == [before]
    assert (await http.get("/api/me", headers=ada.headers)).status_code == 200

    status, body = await confirm(world, token)
    assert (status, body) == (200, {"email": "ada@example.com", "revoked_sessions": 2})
    # Every session is gone; only the new password signs in.
    for bearer in (ada.token, other_session):
        assert (await http.get("/api/me", headers={"Authorization": f"Bearer {bearer}"})).status_code == 401
    assert (await login(http, ada.email)).status_code == 401
    assert (await login(http, ada.email, NEW_PASSWORD)).status_code == 200
    # The link worked once.
    status, body = await confirm(world, token, "yet another passphrase")
    assert (status, body["error"]["code"]) == (410, "token_used")

    actions = await world.sql(
        "SELECT action, actor_id, metadata FROM activities WHERE entity_id = :i ORDER BY created_at", i=ada.id
    )
    assert [a.action for a in actions] == ["user.password_reset_requested", "user.password_reset"]
    assert actions[1].actor_id == ada.id and actions[1].metadata["revoked_sessions"] == 2
    (notice,) = await world.sql("SELECT kind, title FROM notifications WHERE user_id = :i", i=ada.id)
    assert tuple(notice) == ("security", "Your password was reset")
    assert token not in await world.everything_stored()


async def test_replaced_expired_and_stale_links_are_refused_and_requests_are_limited(world: World) -> None:
    http = world.http
    with_limits(world.runtime, password_reset_per_email="3/hour", password_reset_per_ip="5/hour")
    ada = await signup(http, "ada@example.com")
    for _ in range(2):
        assert (await http.post("/api/auth/password-reset", json={"email": ada.email})).status_code == 202
    await world.drain()
    await world.smtp.wait_for(3)
    first, second = (link_of(m, "/reset-password") for m in world.inbox(ada.email, RESET_SUBJECT))
    (before,) = await world.sql("SELECT password_hash FROM users WHERE id = :i", i=ada.id)

    status, body = await confirm(world, first)
    assert (status, body["error"]["code"]) == (410, "token_revoked"), "a newer link replaced it"
    await world.sql(
        "UPDATE account_tokens SET expires_at = now() - interval '1 second' WHERE used_at IS NULL"
    )
    status, body = await confirm(world, second)
    assert (status, body["error"]["code"]) == (410, "token_expired")
    assert await world.sql("SELECT password_hash FROM users WHERE id = :i", i=ada.id) == [before]

    # A link sent before the password changed (here by the signed-in user) no longer works.
    assert (await http.post("/api/auth/password-reset", json={"email": ada.email})).status_code == 202
    await world.drain()
    third = link_of((await world.smtp.wait_for(4))[-1], "/reset-password")
    changed = await http.post(
        "/api/me/password",
        json={"current_password": DEFAULT_PASSWORD, "new_password": "changed it myself"},
        headers=ada.headers,
    )
    assert changed.status_code == 200, changed.text
    status, body = await confirm(world, third)
    assert (status, body["error"]["code"]) == (410, "token_revoked")

    # Limits: per address (a keyed hash: the same for an unknown one), and per client IP.
    refused = await http.post("/api/auth/password-reset", json={"email": ada.email})
    assert refused.status_code == 429 and "password_reset_per_email" in error_of(refused)["message"]
    assert refused.headers["Retry-After"]
    assert (
        await http.post("/api/auth/password-reset", json={"email": "nobody@example.com"})
    ).status_code == 202
    refused = await http.post("/api/auth/password-reset", json={"email": "someone@example.com"})
    assert refused.status_code == 429 and "password_reset_per_ip" in error_of(refused)["message"]

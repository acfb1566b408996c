"""E-mail verification at sign-up, change of e-mail (end to end: the API, the real job worker, a
real SMTP server), and what an unverified account may do (SAASKIT_AUTH_UNVERIFIED_ACCESS)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.config import Settings
from saaskit.kit.state import Runtime
from tests.accounts.mailbox import World, link_of, open_world
from tests.conftest import DbUnderTest
from tests.factories import grant_admin, sql
from tests.helpers import DEFAULT_PASSWORD, SignedUp, error_of, login, signup

VERIFY_SUBJECT = "Confirm your e-mail address for Acme Boards"
REQUESTED_SUBJECT = "Someone asked to change your Acme Boards e-mail address"
CHANGED_SUBJECT = "Your Acme Boards e-mail address was changed"


@pytest.fixture
async def world(fresh_database: DbUnderTest, settings: Settings) -> AsyncIterator[World]:
    async with open_world(fresh_database, settings) as opened:
        yield opened


async def verify(world: World, token: str) -> httpx.Response:
    return await world.http.post("/api/auth/verify-email", json={"token": token})


async def me(world: World, headers: dict[str, str]) -> dict[str, object]:
    answer = await world.http.get("/api/me", headers=headers)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


@pytest.mark.live
async def test_sign_up_sends_a_link_that_verifies_the_address_once(world: World) -> None:
    http = world.http
    answer = await http.post(
        "/api/auth/signup", json={"email": "ada@example.com", "password": DEFAULT_PASSWORD}
    )
    assert answer.status_code == 201 and answer.json()["user"]["email_verified"] is False
    headers = {"Authorization": f"Bearer {answer.json()['token']}"}
    await world.drain()
    (first_mail,) = await world.smtp.wait_for(1)
    assert first_mail.message["Subject"] == VERIFY_SUBJECT and first_mail.rcpt_tos == ["ada@example.com"]
    first = link_of(first_mail, "/verify-email")
    assert "for 48 hours" in first_mail.part("text/plain")

    # A new link replaces the first.
    resent = await http.post("/api/me/email-verification", headers=headers)
    assert resent.status_code == 202 and resent.json()["sent_to"] == "ada@example.com"
    await world.drain()
    second = link_of((await world.smtp.wait_for(2))[1], "/verify-email")
    assert (await verify(world, first)).json()["error"]["code"] == "token_revoked"
    forged = await verify(world, "emv_" + "A" * 43)
    assert (forged.status_code, error_of(forged)["code"]) == (400, "invalid_token")
    assert (await me(world, headers))["email_verified"] is False, "refusals change nothing"

    verified = await verify(world, second)
    assert verified.status_code == 200, verified.text
    assert verified.json() == {
        "purpose": "email_verification",
        "email": "ada@example.com",
        "email_verified": True,
        "previous_email": None,
    }
    assert (await me(world, headers))["email_verified"] is True
    again = await verify(world, second)
    assert (again.status_code, error_of(again)["code"]) == (410, "token_used")
    done = await http.post("/api/me/email-verification", headers=headers)
    assert (done.status_code, error_of(done)["code"]) == (409, "already_verified")
    (action,) = await world.sql("SELECT action FROM activities WHERE action LIKE 'user.email%'")
    assert action.action == "user.email_verified"


@pytest.mark.live
async def test_change_of_address_is_confirmed_at_the_new_one_and_told_to_the_old_one(world: World) -> None:
    http = world.http
    ada = await signup(http, "ada@example.com")
    await signup(http, "bob@example.com")

    async def change(new_email: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
        body = {"new_email": new_email, "password": password}
        return await http.post("/api/me/email", json=body, headers=ada.headers)

    for new, password, status, code in (
        ("ada@new.example", "wrong password!", 403, "wrong_password"),
        ("ADA@example.com", DEFAULT_PASSWORD, 422, "same_email"),
        ("bob@example.com", DEFAULT_PASSWORD, 409, "email_taken"),
    ):
        refused = await change(new, password)
        assert (refused.status_code, error_of(refused)["code"]) == (status, code), refused.text
    asked = await change("Ada@New.example")
    assert asked.status_code == 202 and asked.json()["sent_to"] == "ada@new.example"
    await world.drain()
    await world.smtp.wait_for(4)  # two sign-up verifications, the new address's link, the notice
    (link_mail,) = world.inbox("ada@new.example", VERIFY_SUBJECT)
    (notice,) = world.inbox("ada@example.com", REQUESTED_SUBJECT)
    assert "ada@new.example" in notice.part("text/plain") and "/verify-email" not in notice.part("text/plain")
    assert (await me(world, ada.headers))["email"] == "ada@example.com", "nothing changes before the link"

    confirmed = await verify(world, link_of(link_mail, "/verify-email"))
    assert confirmed.status_code == 200, confirmed.text
    assert confirmed.json() == {
        "purpose": "email_change",
        "email": "ada@new.example",
        "email_verified": True,
        "previous_email": "ada@example.com",
    }
    await world.drain()
    await world.smtp.wait_for(5)
    (changed,) = world.inbox("ada@example.com", CHANGED_SUBJECT)
    assert "to ada@new.example" in changed.part("text/plain")
    profile = await me(world, ada.headers)
    assert (profile["email"], profile["email_verified"]) == ("ada@new.example", True)
    assert (await login(http, "ada@example.com")).status_code == 401
    assert (await login(http, "ada@new.example")).status_code == 200
    # The sign-up link went to the old address: it no longer applies.
    old_link = link_of(world.inbox("ada@example.com", VERIFY_SUBJECT)[0], "/verify-email")
    assert error_of(await verify(world, old_link))["code"] == "token_revoked"

    # Changing the password cancels a pending change of address.
    assert (await change("ada@third.example")).status_code == 202
    await world.drain()
    (third_mail,) = world.inbox("ada@third.example", VERIFY_SUBJECT)
    new_password = {"current_password": DEFAULT_PASSWORD, "new_password": "another long secret"}
    assert (await http.post("/api/me/password", json=new_password, headers=ada.headers)).status_code == 200
    stale = await verify(world, link_of(third_mail, "/verify-email"))
    assert (stale.status_code, error_of(stale)["code"]) == (410, "token_revoked")
    assert (await me(world, ada.headers))["email"] == "ada@new.example"

    actions = await world.sql(
        "SELECT action FROM activities WHERE entity_id = :i ORDER BY created_at", i=ada.id
    )
    assert [a.action for a in actions] == [
        "user.email_change_requested",
        "user.email_changed",
        "user.email_change_requested",
    ]
    titles = await world.sql(
        "SELECT title FROM notifications WHERE user_id = :i ORDER BY created_at", i=ada.id
    )
    assert [t.title for t in titles] == [REQUESTED_SUBJECT, CHANGED_SUBJECT, REQUESTED_SUBJECT]


async def test_what_an_unverified_account_may_do_is_a_setting(
    client: httpx.AsyncClient, runtime: Runtime, session: AsyncSession
) -> None:
    ada = await signup(client)
    admin = await signup(client)
    await grant_admin(session, admin.id)

    def policy(value: str) -> None:
        auth = runtime.settings.auth.model_copy(update={"unverified_access": value})
        runtime.settings = runtime.settings.model_copy(update={"auth": auth})

    async def status(method: str, path: str, who: SignedUp = ada, json: object = None) -> int:
        answer = await client.request(method, path, headers=who.headers, json=json)
        if answer.status_code == 403:
            assert error_of(answer)["code"] == "email_unverified", answer.text
        return answer.status_code

    # full (the default): everything.
    assert await status("PATCH", "/api/me", json={"name": "Ada"}) == 200
    policy("read_only")
    assert await status("GET", "/api/me/preferences") == 200
    assert await status("PATCH", "/api/me", json={"name": "Ada L"}) == 403
    assert await status("PUT", "/api/me/preferences/ui/theme", json={"value": "dark"}) == 403
    assert await status("POST", "/api/me/email-verification") == 202, "getting verified is always allowed"
    policy("none")
    assert await status("GET", "/api/me/preferences") == 403
    assert await status("GET", "/api/me") == 200
    assert await status("GET", "/api/me/sessions") == 200
    assert await status("GET", "/api/admin/users", who=admin) == 200, "platform admins are never held"
    await sql(session, "UPDATE users SET email_verified = true WHERE id = :i", i=ada.id)
    assert await status("GET", "/api/me/preferences") == 200
    assert await status("PATCH", "/api/me", json={"name": "Ada Lovelace"}) == 200
    assert await status("POST", "/api/auth/logout") == 204

"""Per-kind channel preferences: the settings API, ``tell`` honouring them (the e-mail read back
from ``email_outbox``, the notice from ``notifications``), and the Python and SQL forms of the
rule agreeing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from itertools import product

import httpx
import pytest
from sqlalchemy import literal, select
from sqlalchemy.dialects.postgresql import UUID
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import mail, notifications
from saaskit.kit.db import SERVICE, Context, set_context
from saaskit.kit.state import Runtime
from saaskit.notifications import preferences
from saaskit.notifications.kinds import KINDS
from saaskit.notifications.models import NotificationPreference
from tests.factories import insert_member, insert_org, insert_user, one, sql
from tests.helpers import SignedUp, error_of, signup

PAYMENT_FAILED = {"amount_cents": 1999, "currency": "usd", "manage_url": "https://app.example.com/billing"}


async def _settings(client: httpx.AsyncClient, user: SignedUp) -> dict[str, dict[str, object]]:
    answer = await client.get("/api/me/notification-settings", headers=user.headers)
    assert answer.status_code == 200, answer.text
    return {k.pop("kind"): k for k in answer.json()["kinds"]}


async def _put(
    client: httpx.AsyncClient, user: SignedUp, kinds: dict[str, dict[str, bool]]
) -> httpx.Response:
    return await client.put("/api/me/notification-settings", headers=user.headers, json={"kinds": kinds})


async def test_settings_api_defaults_changes_and_refusals(
    client: httpx.AsyncClient, session: AsyncSession
) -> None:
    ada = await signup(client)
    settings = await _settings(client, ada)
    assert list(settings) == list(KINDS)
    assert all(s["in_app"] for s in settings.values())
    assert settings["payment_failed"]["email"] is True and settings["payment_failed"]["switchable"] is True
    assert settings["security"] == {
        "label": "Security",
        "description": KINDS["security"].description,
        "in_app": True,
        "email": True,
        "switchable": False,
        "has_email": True,
    }
    assert settings["broadcast"]["email"] is False and settings["broadcast"]["has_email"] is False

    changed = await _put(client, ada, {"credits_low": {"email": False}, "broadcast": {"in_app": False}})
    assert changed.status_code == 200, changed.text
    after = {k["kind"]: k for k in changed.json()["kinds"]}
    assert (after["credits_low"]["in_app"], after["credits_low"]["email"]) == (True, False)
    assert after["broadcast"]["in_app"] is False
    assert (await _settings(client, ada))["credits_low"]["email"] is False
    # One channel left out keeps its value.
    await _put(client, ada, {"credits_low": {"in_app": False}})
    assert [
        (s["in_app"], s["email"]) for k, s in (await _settings(client, ada)).items() if k == "credits_low"
    ] == [(False, False)]

    for kinds, field, code in (
        ({"security": {"email": False}}, "kinds.security", "not_switchable"),
        ({"broadcast": {"email": True}}, "kinds.broadcast.email", "no_email"),
        ({"party": {"email": True}}, "kinds.party", "unprocessable"),
    ):
        # A refusal writes nothing, even the valid part of the request.
        refused = await _put(client, ada, {"trial_ending": {"email": False}, **kinds})
        assert refused.status_code == 422, refused.text
        error = error_of(refused)
        assert error["field"] == field and (code == "unprocessable" or error["code"] == code)
    assert (await _settings(client, ada))["trial_ending"]["email"] is True
    bad = await client.put(
        "/api/me/notification-settings", headers=ada.headers, json={"kinds": {"trial_ending": {"sms": True}}}
    )
    assert bad.status_code == 422
    # Switching security *on* is harmless and stores nothing.
    assert (await _put(client, ada, {"security": {"in_app": True}})).status_code == 200
    rows = await sql(
        session, "SELECT kind FROM notification_preferences WHERE user_id = :u ORDER BY kind", u=ada.id
    )
    assert [r.kind for r in rows] == ["broadcast", "credits_low"]
    assert (await client.get("/api/me/notification-settings")).status_code == 401


async def _outbox(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    """The user's mail, but for the verification link every sign-up sends (docs/accounts.md)."""
    rows = await sql(
        session,
        "SELECT template FROM email_outbox WHERE user_id = :u AND template <> 'email_verification' "
        "ORDER BY created_at",
        u=user_id,
    )
    return [r.template for r in rows]


async def _notices(session: AsyncSession, user_id: uuid.UUID) -> list[str]:
    rows = await sql(session, "SELECT kind FROM notifications WHERE user_id = :u", u=user_id)
    return [r.kind for r in rows]


async def test_tell_follows_the_users_choice(
    client: httpx.AsyncClient, session: AsyncSession, runtime: Runtime
) -> None:
    ada = await signup(client, name="Ada Lovelace")

    # Defaults: both channels.
    await set_context(session, SERVICE)
    told = await notifications.tell(
        session,
        runtime,
        user_id=ada.id,
        kind="payment_failed",
        mail_template="payment_failed",
        context=PAYMENT_FAILED,
    )
    assert told.notification_id and told.mail_id
    mail_row = await one(
        session, "SELECT recipient, subject, context, user_id FROM email_outbox WHERE id = :i", i=told.mail_id
    )
    assert mail_row.recipient == ada.email and mail_row.user_id == ada.id
    assert mail_row.context["name"] == "Ada Lovelace", "the account's name fills the greeting"
    notice = await one(session, "SELECT * FROM notifications WHERE id = :i", i=told.notification_id)
    assert notice.title == mail_row.subject == "Your payment for saaskit did not go through"
    assert notice.body == KINDS["payment_failed"].body and notice.severity == "critical"
    assert notice.link == PAYMENT_FAILED["manage_url"] and notice.data == {"mail_id": str(told.mail_id)}

    # E-mail off: the notice only.
    assert (await _put(client, ada, {"payment_failed": {"email": False}})).status_code == 200
    await set_context(session, SERVICE)
    told = await notifications.tell(
        session,
        runtime,
        user_id=ada.id,
        kind="payment_failed",
        mail_template="payment_failed",
        context=PAYMENT_FAILED,
    )
    assert told.notification_id and told.mail_id is None
    assert await _outbox(session, ada.id) == ["payment_failed"]
    assert await _notices(session, ada.id) == ["payment_failed"] * 2

    # In-app off, e-mail on: the mail only.
    assert (await _put(client, ada, {"card_expiring": {"in_app": False}})).status_code == 200
    card = {"card_brand": "visa", "card_last4": "4242", "expires_month": "03/2027"}
    await set_context(session, SERVICE)
    told = await notifications.tell(
        session, runtime, user_id=ada.id, kind="card_expiring", mail_template="card_expiring", context=card
    )
    assert told.notification_id is None and told.mail_id
    assert await _outbox(session, ada.id) == ["payment_failed", "card_expiring"]
    assert "card_expiring" not in await _notices(session, ada.id)

    # Both off: nothing at all; but a bad context is still the caller's bug.
    assert (await _put(client, ada, {"card_expiring": {"email": False}})).status_code == 200
    await set_context(session, SERVICE)
    told = await notifications.tell(
        session, runtime, user_id=ada.id, kind="card_expiring", mail_template="card_expiring", context=card
    )
    assert told == notifications.Told(None, None)
    with pytest.raises(ValueError, match="missing keys"):
        await notifications.tell(
            session, runtime, user_id=ada.id, kind="card_expiring", mail_template="card_expiring", context={}
        )
    with pytest.raises(ValueError, match="never e-mailed"):
        await notifications.tell(
            session, runtime, user_id=ada.id, kind="broadcast", mail_template="payment_failed"
        )
    assert await _outbox(session, ada.id) == ["payment_failed", "card_expiring"]

    # Security: always both, whatever is stored (a row cannot even exist for it).
    told = await notifications.tell(
        session,
        runtime,
        user_id=ada.id,
        kind="security",
        mail_template="email_changed",
        context={"new_email": "ada@new.example.com"},
    )
    assert told.notification_id and told.mail_id
    title = (
        await one(session, "SELECT title FROM notifications WHERE id = :i", i=told.notification_id)
    ).title
    assert title == "Your saaskit e-mail address was changed"
    # A kind without a template (password changed): in-app, with the kind's defaults.
    told = await notifications.tell(
        session, runtime, user_id=ada.id, kind="security", title="Your password was changed"
    )
    assert told.notification_id and told.mail_id is None


async def test_tell_keeps_one_time_links_out_of_the_notice(session: AsyncSession, runtime: Runtime) -> None:
    user_id = await insert_user(session, f"bo-{uuid.uuid4().hex[:6]}@example.com", name="Bo")
    token = "tok-" + uuid.uuid4().hex
    told = await notifications.tell(
        session,
        runtime,
        user_id=user_id,
        kind="invitation",
        mail_template="invitation",
        context={
            "inviter_name": "Ada",
            "organization_name": "Acme",
            "role": "member",
            "accept_url": mail.secret_link(runtime, "/invitations/accept", token=token),
            "expires_days": 7,
        },
        link="/invitations",
        expires_at=datetime.now(UTC) + timedelta(days=7),
    )
    notice = await one(
        session,
        "SELECT title, body, link, data::text AS data FROM notifications WHERE id = :i",
        i=told.notification_id,
    )
    assert notice.title == "Ada invited you to Acme on saaskit" and notice.link == "/invitations"
    assert token not in f"{notice}" and told.mail_id
    with pytest.raises(ValueError, match=r"mail\.Secret"):
        await notifications.tell(
            session,
            runtime,
            user_id=user_id,
            kind="invitation",
            data={"url": mail.secret_link(runtime, "/x", token=token)},
        )
    # A deleted account is told nothing.
    await sql(session, "UPDATE users SET deleted_at = now() WHERE id = :u", u=user_id)
    assert await notifications.tell(
        session, runtime, user_id=user_id, kind="security", title="x"
    ) == notifications.Told(None, None)


async def test_an_organization_reads_its_members_choices(session: AsyncSession, runtime: Runtime) -> None:
    """A request acting for an organization honours its members' choices (and may tell them)."""
    org_id = await insert_org(session)
    member = await insert_user(session)
    stranger = await insert_user(session)
    await insert_member(session, org_id, member)
    for user_id in (member, stranger):
        session.add(
            NotificationPreference(
                user_id=user_id, kind="trial_ending", is_in_app_enabled=False, is_email_enabled=True
            )
        )
    await session.flush()
    await set_context(session, Context(organization_id=org_id))
    assert await preferences.channels(session, member, "trial_ending") == preferences.Channels(False, True)
    # Not a member: the row is not visible, so the defaults apply.
    assert await preferences.channels(session, stranger, "trial_ending") == preferences.Channels(True, True)
    told = await notifications.tell(
        session,
        runtime,
        user_id=member,
        kind="trial_ending",
        mail_template="trial_ending",
        context={"plan_name": "Pro", "trial_ends_on": "2027-03-01"},
        organization_id=org_id,
    )
    assert told.notification_id is None and told.mail_id is not None
    await set_context(session, SERVICE)


async def test_the_python_and_sql_rules_agree(session: AsyncSession) -> None:
    """``effective`` (one user, in Python) and ``wanted`` (many users, in SQL) give the same
    channels for every kind and every stored choice."""
    states: list[tuple[bool, bool] | None] = [None, *product((True, False), repeat=2)]
    for kind in KINDS.values():
        for state in states if kind.switchable else [None]:
            user_id = await insert_user(session)
            stored = None
            if state is not None:
                stored = NotificationPreference(
                    user_id=user_id, kind=kind.name, is_in_app_enabled=state[0], is_email_enabled=state[1]
                )
                session.add(stored)
                await session.flush()
            expected = preferences.effective(kind, stored)
            uid = literal(user_id, UUID(as_uuid=True))
            in_app, email = (
                await session.execute(
                    select(preferences.wanted(kind, "in_app", uid), preferences.wanted(kind, "email", uid))
                )
            ).one()
            assert (in_app, email) == (expected.in_app, expected.email), (kind.name, state)
            assert await preferences.channels(session, user_id, kind.name) == expected

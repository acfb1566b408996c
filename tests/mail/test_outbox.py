"""The outbox without a server: templates, what ``enqueue`` accepts and stores, sealing, RLS,
and docs/mail.md naming every template's keys (each test in a rolled-back transaction)."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import mail
from saaskit.kit import crypto
from saaskit.kit.db import SERVICE, Context, set_context
from saaskit.kit.errors import Unprocessable
from saaskit.kit.state import Runtime
from saaskit.mail import sealing
from saaskit.mail.rendering import TEMPLATES, common_values, render
from tests.factories import insert_user, one, sql

DOCS = Path(__file__).parents[2] / "docs" / "mail.md"

# A value for every key any template declares.
SAMPLE: dict[str, Any] = {
    "name": "Ada <Lovelace>",
    "reset_url": "https://app.example.com/reset?token=abc&x=1",
    "expires_minutes": 60,
    "verify_url": "https://app.example.com/verify?token=abc",
    "expires_hours": 48,
    "new_email": "new@example.com",
    "changed_at": "2027-03-01T10:00:00+00:00",
    "inviter_name": "Bob",
    "organization_name": "Acme & Co",
    "role": "workspace_editor",
    "accept_url": "https://app.example.com/invitations/accept?token=abc",
    "expires_days": 7,
    "target_name": "Operations",
    "amount_cents": 1999,
    "currency": "eur",
    "invoice_number": "INV-0042",
    "next_attempt_on": "2027-03-04",
    "manage_url": "https://app.example.com/settings/billing",
    "card_brand": "visa",
    "card_last4": "4242",
    "expires_month": "03/2027",
    "plan_name": "Pro",
    "trial_ends_on": "2027-03-10",
    "has_payment_method": True,
    "balance_cents": 120,
    "threshold_cents": 500,
    "reason": "Your card was declined.",
    "auto_topup_disabled": True,
    "ends_on": "2027-04-01",
    "advice": "Change your password <now> & turn on two-factor sign-in.",
    "hosted_invoice_url": "https://invoice.stripe.com/i/acct_1/test_abc?s=ap&x=1",
    "action_taken": "downgraded",
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
@pytest.mark.parametrize("everything", [True, False], ids=["all keys", "required keys"])
def test_every_template_renders_text_and_html(runtime: Runtime, name: str, everything: bool) -> None:
    spec = TEMPLATES[name]
    keys = spec.keys if everything else spec.required
    context = {key: SAMPLE[key] for key in keys}
    unsubscribe = "https://api.example.com/api/mail/unsubscribe?token=t" if spec.is_optional else None
    rendered = render(spec, context, common_values(runtime.settings, "ada@example.com", unsubscribe))
    assert rendered.subject and "\n" not in rendered.subject and "{" not in rendered.subject
    assert rendered.text.startswith("Hi") and "— The saaskit team" in rendered.text
    assert rendered.html.startswith("<!doctype html>") and "</html>" in rendered.html
    for key in spec.secrets:  # the link is in both, escaped in the HTML
        assert SAMPLE[key] in rendered.text and SAMPLE[key].replace("&", "&amp;") in rendered.html
    if everything:
        assert "Hi Ada <Lovelace>," in rendered.text and "Hi Ada &lt;Lovelace&gt;," in rendered.html
    assert ("unsubscribe" in rendered.text.lower()) == spec.is_optional
    assert "None" not in rendered.text and "None" not in rendered.subject


def test_money_and_days_read_well(runtime: Runtime) -> None:
    common = common_values(runtime.settings, "a@example.com", None)
    failed = render(TEMPLATES["payment_failed"], {"amount_cents": 1999, "currency": "usd"}, common)
    assert "We could not charge $19.99 for your saaskit subscription." in failed.text
    euros = render(TEMPLATES["topup_failed"], {"amount_cents": 123456, "currency": "eur"}, common)
    assert "1,234.56 EUR" in euros.text
    trial = render(TEMPLATES["trial_ending"], {"plan_name": "Pro", "trial_ends_on": "2027-03-10"}, common)
    assert trial.subject == "Your saaskit trial ends on 10 March 2027"


def test_docs_list_every_template_and_its_keys() -> None:
    docs = DOCS.read_text()
    for name, spec in TEMPLATES.items():
        section = re.search(rf"^### `{name}`\n(.*?)(?=^### |\Z)", docs, re.M | re.S)
        assert section, f"docs/mail.md has no section for {name}"
        for key in spec.keys:
            assert f"`{key}`" in section.group(1), f"docs/mail.md: {name} does not name {key}"


def _reset(runtime: Runtime, token: str) -> dict[str, Any]:
    return {"reset_url": mail.secret_link(runtime, "/reset-password", token=token), "expires_minutes": 60}


async def test_enqueue_stores_the_shown_form_and_seals_the_rest(
    session: AsyncSession, runtime: Runtime
) -> None:
    user_id = await insert_user(session, "ada@example.com")
    token = "raw-" + uuid.uuid4().hex
    expires = datetime.now(UTC) + timedelta(hours=1)
    message_id = await mail.enqueue(
        session,
        runtime,
        to="ada@example.com",
        template="password_reset",
        context={**_reset(runtime, token), "name": "Ada"},
        user_id=user_id,
        expires_at=expires,
    )
    row = await one(session, "SELECT *, t::text AS whole FROM email_outbox t WHERE id = :i", i=message_id)
    assert (
        row.status == "queued" and row.purpose == "account" and row.subject == "Reset your saaskit password"
    )
    assert row.context == {
        "reset_url": "http://127.0.0.1:8000/reset-password?token=[hidden]",
        "expires_minutes": 60,
        "name": "Ada",
    }
    assert token not in row.whole and token.encode() not in row.sealed_secrets
    assert sealing.unseal(runtime.secret, message_id, row.sealed_secrets) == {
        "reset_url": f"http://127.0.0.1:8000/reset-password?token={token}"
    }
    job = await one(
        session,
        "SELECT task_name, args, queue_name FROM procrastinate_jobs WHERE args ->> 'message_id' = :i",
        i=str(message_id),
    )
    assert (job.task_name, job.args, job.queue_name) == (
        "mail.deliver",
        {"message_id": str(message_id)},
        "mail",
    )


async def test_enqueue_refuses_what_would_fail_later(session: AsyncSession, runtime: Runtime) -> None:
    expires = datetime.now(UTC) + timedelta(hours=1)
    with pytest.raises(ValueError, match="no mail template named 'password_rest'"):
        await mail.enqueue(session, runtime, to="a@example.com", template="password_rest", context={})
    with pytest.raises(ValueError, match=r"unknown keys \['reset_link'\], missing keys \['reset_url'\]"):
        await mail.enqueue(
            session,
            runtime,
            to="a@example.com",
            template="password_reset",
            context={"reset_link": "x", "expires_minutes": 5},
            expires_at=expires,
        )
    with pytest.raises(ValueError, match=r"'reset_url' must be a mail\.Secret"):
        await mail.enqueue(
            session,
            runtime,
            to="a@example.com",
            template="password_reset",
            context={"reset_url": "https://x/reset?token=raw", "expires_minutes": 5},
            expires_at=expires,
        )
    with pytest.raises(ValueError, match="needs expires_at"):
        await mail.enqueue(
            session, runtime, to="a@example.com", template="password_reset", context=_reset(runtime, "t")
        )
    with pytest.raises(Unprocessable) as bad:
        await mail.enqueue(
            session,
            runtime,
            to="not an address\r\nBcc: x@example.com",
            template="email_changed",
            context={"new_email": "b@example.com"},
        )
    assert bad.value.field == "email"
    assert (await one(session, "SELECT count(*) AS n FROM email_outbox")).n == 0


async def test_dates_are_stored_as_iso_strings(session: AsyncSession, runtime: Runtime) -> None:
    message_id = await mail.enqueue(
        session,
        runtime,
        to="a@example.com",
        template="subscription_cancelled",
        context={"plan_name": "Pro", "ends_on": date(2027, 4, 1)},
    )
    row = await one(session, "SELECT context, subject FROM email_outbox WHERE id = :i", i=message_id)
    assert row.context == {"plan_name": "Pro", "ends_on": "2027-04-01"}


async def test_rls_a_user_queues_and_sees_only_their_own_mail(
    session: AsyncSession, runtime: Runtime
) -> None:
    ada = await insert_user(session, "ada@example.com")
    bob = await insert_user(session, "bob@example.com")
    for user_id, address in ((ada, "ada@example.com"), (bob, "bob@example.com")):
        await set_context(session, Context(user_id=user_id))
        await mail.enqueue(
            session,
            runtime,
            to=address,
            template="email_changed",
            context={"new_email": "n@example.com"},
            user_id=user_id,
        )
    await set_context(session, Context(user_id=ada))
    seen = (await session.execute(text("SELECT recipient FROM email_outbox"))).scalars().all()
    assert seen == ["ada@example.com"]
    await set_context(session, Context())  # no context: nothing, fail closed
    assert (await session.execute(text("SELECT count(*) FROM email_outbox"))).scalar_one() == 0
    assert (await session.execute(text("SELECT count(*) FROM email_opt_outs"))).scalar_one() == 0
    await set_context(session, Context(user_id=ada))
    with pytest.raises(DBAPIError, match="row-level security"):
        async with session.begin_nested():
            await mail.enqueue(
                session,
                runtime,
                to="bob@example.com",
                template="email_changed",
                context={"new_email": "n@example.com"},
                user_id=bob,
            )
    await set_context(session, SERVICE)
    assert len(await sql(session, "SELECT id FROM email_outbox")) == 2


def test_sealed_values_open_only_with_the_same_secret_purpose_and_row() -> None:
    secret, row = "s" * 40, uuid.uuid4()
    sealed = sealing.seal(secret, row, {"reset_url": "https://x/?token=raw"})
    assert b"raw" not in sealed
    assert sealing.unseal(secret, row, sealed) == {"reset_url": "https://x/?token=raw"}
    assert sealing.seal(secret, row, {"a": "b"}) != sealing.seal(secret, row, {"a": "b"}), "fresh nonces"
    for attempt in (
        lambda: sealing.unseal("t" * 40, row, sealed),  # another instance secret
        lambda: sealing.unseal(secret, uuid.uuid4(), sealed),  # copied to another row
        lambda: crypto.unseal(secret, "other-purpose", sealed, associated=b"email_outbox:" + row.bytes),
        lambda: sealing.unseal(secret, row, sealed[:-1] + bytes([sealed[-1] ^ 1])),  # altered
        lambda: sealing.unseal(secret, row, b"\x02" + sealed[1:]),  # unknown version
    ):
        with pytest.raises(crypto.CannotOpen):
            attempt()


def test_a_secret_never_prints_its_value() -> None:
    value = mail.Secret("https://x/?token=raw", "https://x/?token=[hidden]")
    assert "raw" not in repr(value) and "raw" not in str(value) and "raw" not in f"{value}"
    assert "raw" not in repr({"reset_url": value})

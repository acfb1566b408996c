"""The Outbox page over HTTP (ASGI, the test's rolled-back transaction): with no SMTP server
configured, mail is held and shown there, its links hidden; send again and discard are audited."""

from __future__ import annotations

import html
import re
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from saaskit import mail
from saaskit.kit.state import Runtime
from saaskit.mail import delivery
from tests.admin.conftest import AdminClient
from tests.factories import insert_user, one, sql


async def _held_reset(session: AsyncSession, runtime: Runtime, token: str) -> uuid.UUID:
    user_id = await insert_user(session, f"ada-{uuid.uuid4().hex[:6]}@example.com")
    message_id = await mail.enqueue(
        session,
        runtime,
        to="ada.held@example.com",
        template="password_reset",
        context={
            "reset_url": mail.secret_link(runtime, "/reset-password", token=token),
            "expires_minutes": 60,
            "name": "Ada",
        },
        user_id=user_id,
        expires_at=datetime.now(UTC) + timedelta(hours=1),
    )
    # What the job does with it when no SMTP server is configured (the suite's settings).
    assert not runtime.settings.mail.is_configured
    assert await delivery.deliver(runtime, message_id) == "held"
    return message_id


async def test_held_mail_is_listed_and_shown_without_its_link(
    admin_client: AdminClient, session: AsyncSession, runtime: Runtime
) -> None:
    token = "tok-" + uuid.uuid4().hex
    message_id = await _held_reset(session, runtime, token)
    http = admin_client.http

    page = await http.get("/admin/outbox")
    assert page.status_code == 200
    assert "No SMTP server is configured" in page.text and 'aria-current="page">Outbox' in page.text
    assert "Reset your saaskit password" in page.text and "ada.held@example.com" in page.text
    held = await http.get("/admin/outbox?status=held&template=password_reset")
    assert f"/admin/outbox/{message_id}" in held.text
    none = await http.get("/admin/outbox?status=sent", headers={"HX-Request": "true", "HX-Target": "results"})
    assert "<html" not in none.text and "No message matches these filters." in none.text
    by_address = await http.get("/admin/outbox?recipient=ada.held@example.com")
    assert f"/admin/outbox/{message_id}" in by_address.text
    assert (await http.get("/admin/outbox?status=lost")).status_code == 400
    assert (await http.get("/admin/outbox?template=nope")).status_code == 400

    detail = await http.get(f"/admin/outbox/{message_id}")
    assert detail.status_code == 200
    assert token not in detail.text, "the page never shows the one-time link"
    assert "http://127.0.0.1:8000/reset-password?token=[hidden]" in detail.text  # the text part
    frame = re.search(r'<iframe class="mail-html"[^>]*\ssandbox=""[^>]*srcdoc="([^"]*)"', detail.text)
    assert frame, "the HTML part is in a sandboxed frame"
    srcdoc = html.unescape(frame.group(1))
    assert srcdoc.startswith("<!doctype html>") and "Choose a new password" in srcdoc
    assert "<script" not in frame.group(1), "the HTML arrives escaped inside the attribute"
    assert "no SMTP server is configured" in detail.text and "Send again" in detail.text
    assert (await http.get(f"/admin/outbox/{uuid.uuid4()}")).status_code == 404


async def test_send_again_and_discard_are_audited(
    admin_client: AdminClient, session: AsyncSession, runtime: Runtime
) -> None:
    message_id = await _held_reset(session, runtime, "tok-" + uuid.uuid4().hex)
    before = await one(session, "SELECT message_id FROM email_outbox WHERE id = :i", i=message_id)

    again = await admin_client.post(f"/admin/outbox/{message_id}/resend")
    assert again.status_code == 303 and again.headers["location"] == f"/admin/outbox/{message_id}"
    row = await one(
        session, "SELECT status, attempts, message_id FROM email_outbox WHERE id = :i", i=message_id
    )
    assert row.status == "queued" and row.message_id != before.message_id
    jobs = await sql(
        session,
        "SELECT id FROM procrastinate_jobs WHERE task_name = 'mail.deliver' AND args ->> 'message_id' = :i",
        i=str(message_id),
    )
    assert len(jobs) == 2, "the first delivery's job and the new one"
    assert "is queued again" in (await admin_client.http.get(again.headers["location"])).text
    # A queued message cannot be sent "again"; the refusal comes back as a page.
    refused = await admin_client.post(f"/admin/outbox/{message_id}/resend")
    assert refused.status_code == 409

    gone = await admin_client.post(f"/admin/outbox/{message_id}/discard")
    assert gone.status_code == 303
    row = await one(
        session,
        "SELECT status, sealed_secrets, secrets_wiped_at FROM email_outbox WHERE id = :i",
        i=message_id,
    )
    assert row.status == "discarded" and row.sealed_secrets is None and row.secrets_wiped_at is not None
    detail = await admin_client.http.get(f"/admin/outbox/{message_id}")
    assert "cannot be sent again" in detail.text and "Send again" not in detail.text
    assert (await admin_client.post(f"/admin/outbox/{message_id}/resend")).status_code == 409

    audit = await sql(
        session,
        "SELECT action, actor_id, metadata FROM activities WHERE entity_id = :i ORDER BY created_at",
        i=message_id,
    )
    assert [a.action for a in audit] == ["email.resend_requested", "email.discarded"]
    assert all(a.actor_id == admin_client.admin_id for a in audit)
    assert audit[0].metadata["before"] == {"status": "held"} and audit[1].metadata["after"] == {
        "status": "discarded"
    }
    assert audit[0].metadata["request"] == f"POST /admin/outbox/{message_id}/resend"

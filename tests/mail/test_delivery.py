"""Mail from a request's transaction to a real SMTP server, through the real job worker."""

from __future__ import annotations

import logging
import secrets
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from saaskit import mail
from saaskit.kit.db import SERVICE
from saaskit.kit.state import Runtime
from saaskit.mail import delivery
from tests.mail.conftest import RuntimeFactory, drain, new_user, outbox, sql
from tests.mail.smtp import Certificates, SmtpServer

pytestmark = pytest.mark.live  # committed data in a fresh database, a real worker


def raw_token() -> str:
    return "tok_" + secrets.token_urlsafe(32)


async def everything_stored(runtime: Runtime) -> str:
    """Every outbox row and job, as text: where a raw token must never appear."""
    rows = await sql(runtime, "SELECT t::text FROM email_outbox t")
    jobs = await sql(runtime, "SELECT t::text FROM procrastinate_jobs t")
    return "\n".join(str(r[0]) for r in [*rows, *jobs])


async def queue_reset(
    http: httpx.AsyncClient, user_id: uuid.UUID, email: str, token: str, fail: bool = False
) -> httpx.Response:
    return await http.post(
        "/test/password-reset", json={"user_id": str(user_id), "email": email, "token": token, "fail": fail}
    )


async def test_mail_queued_in_a_request_reaches_the_smtp_server(
    smtp: SmtpServer,
    runtime_with: RuntimeFactory,
    http_for: Callable[[Runtime], httpx.AsyncClient],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    runtime = runtime_with(smtp.settings())
    user_id = await new_user(runtime, "ada@example.com")
    token = raw_token()
    answer = await queue_reset(http_for(runtime), user_id, "Ada@Example.com", token)
    assert answer.status_code == 200, answer.text
    message_id = answer.json()["id"]
    queued = await outbox(runtime, message_id)
    assert (queued.status, queued.user_id, queued.recipient) == ("queued", user_id, "Ada@example.com")
    assert queued.sealed_secrets is not None and queued.secret_keys == ["reset_url"]
    assert queued.context["reset_url"] == "https://app.acme.example/reset-password?token=[hidden]"
    assert token not in await everything_stored(runtime), "the raw token is never stored"

    await drain(runtime)
    (received,) = await smtp.wait_for(1)
    sent = await outbox(runtime, message_id)
    assert (sent.status, sent.attempts, sent.last_error) == ("sent", 1, None)
    assert sent.sealed_secrets is None and sent.secrets_wiped_at is not None, "wiped once sent"
    assert sent.smtp_reply.endswith("OK queued as Q1") and sent.sent_at is not None

    # The envelope and the headers.
    message = received.message
    assert received.mail_from == "no-reply@acme.example" and received.rcpt_tos == ["Ada@example.com"]
    assert message["Subject"] == "Reset your Acme Boards password"
    assert message["From"] == "Acme <no-reply@acme.example>" and message["To"] == "Ada@example.com"
    assert message["Reply-To"] == "help@acme.example"
    assert message["Message-ID"] == sent.message_id and sent.message_id.endswith("@acme.example>")
    assert message["Auto-Submitted"] == "auto-generated" and message["Date"]
    assert message["List-Unsubscribe"] is None, "no unsubscribing from a password reset"
    # Both parts carry the real link; the HTML one escapes it properly.
    link = f"https://app.acme.example/reset-password?token={token}"
    assert message.get_content_type() == "multipart/alternative"
    text_part, html_part = received.part("text/plain"), received.part("text/html")
    assert "Hi Ada," in text_part and link in text_part and "for 60 minutes" in text_part
    assert f'href="{link}"' in html_part and "Choose a new password" in html_part
    assert "help@acme.example" in text_part and "https://app.acme.example" in html_part

    # Nothing kept the token: not the outbox, not the jobs, not the logs.
    assert token not in await everything_stored(runtime)
    # Every log line of saaskit, procrastinate and the libraries (aiosmtpd's own, "mail.log",
    # is the test server's and prints what it receives).
    logged = "\n".join(r.getMessage() for r in caplog.records if r.name != "mail.log")
    assert token not in logged and "saaskit.mail.delivery" in {r.name for r in caplog.records}
    assert 'mail sent: "Reset your Acme Boards password" to Ada@example.com' in logged


async def test_a_rolled_back_request_sends_nothing(
    smtp: SmtpServer, runtime_with: RuntimeFactory, http_for: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    runtime = runtime_with(smtp.settings())
    user_id = await new_user(runtime)
    answer = await queue_reset(http_for(runtime), user_id, "ada@example.com", raw_token(), fail=True)
    assert answer.status_code == 409, answer.text
    assert await sql(runtime, "SELECT id FROM email_outbox") == []
    assert await sql(runtime, "SELECT id FROM procrastinate_jobs WHERE task_name = 'mail.deliver'") == []
    await drain(runtime)
    assert smtp.received == [] and smtp.recorder.data_attempts == []


async def test_temporary_refusals_are_retried_with_backoff(
    smtp: SmtpServer, runtime_with: RuntimeFactory, http_for: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    smtp.recorder.data_replies.extend(["451 4.3.0 Try again later", "421 4.7.0 Too busy"])
    runtime = runtime_with(smtp.settings(retry_base_seconds=0.3, max_attempts=4))
    user_id = await new_user(runtime)
    message_id = (await queue_reset(http_for(runtime), user_id, "ada@example.com", raw_token())).json()["id"]

    await drain(runtime)  # the first attempt only: the retry is scheduled for later
    first = await outbox(runtime, message_id)
    assert (first.status, first.attempts) == ("queued", 1)
    assert first.last_error.startswith("DataError: 451 4.3.0 Try again later")
    gap = (first.next_attempt_at - first.last_attempt_at).total_seconds()
    assert 0.3 <= gap < 1.2, gap
    assert first.sealed_secrets is not None, "kept for the next attempt"

    async def sent() -> bool:
        return bool((await outbox(runtime, message_id)).status == "sent")

    await drain(runtime, until=sent)
    (received,) = await smtp.wait_for(1)
    row = await outbox(runtime, message_id)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    first_at, second_at, third_at = smtp.recorder.data_attempts
    # 0.3 s after the first failure, then 4 x 0.3 s after the second.
    assert second_at - first_at >= 0.3 and third_at - second_at >= 1.2
    assert received.message["Message-ID"] == row.message_id, "one message, one Message-ID"


async def test_a_permanent_refusal_fails_at_once_and_a_refused_recipient_bounces(
    smtp: SmtpServer, runtime_with: RuntimeFactory
) -> None:
    smtp.recorder.data_replies.append("554 5.6.0 Message content rejected")
    smtp.recorder.refused["nobody@example.com"] = "550 5.1.1 No such user here"
    runtime = runtime_with(smtp.settings())
    async with runtime.db.session(SERVICE) as session:
        rejected = await mail.enqueue(
            session,
            runtime,
            to="ada@example.com",
            template="email_changed",
            context={"new_email": "b@example.com"},
        )
        bounced = await mail.enqueue(
            session,
            runtime,
            to="nobody@example.com",
            template="subscription_cancelled",
            context={"plan_name": "Pro", "ends_on": "2027-04-01"},
        )
    await drain(runtime)
    failed = await outbox(runtime, rejected)
    assert (failed.status, failed.attempts) == ("failed", 1)
    assert failed.last_error == "DataError: 554 5.6.0 Message content rejected"
    kept = await outbox(runtime, bounced)
    assert (kept.status, kept.attempts) == ("bounced", 1)
    assert kept.last_error == "recipient refused: 550 5.1.1 No such user here"
    assert smtp.received == []
    pending = await sql(
        runtime, "SELECT id FROM procrastinate_jobs WHERE task_name = 'mail.deliver' AND status = 'todo'"
    )
    assert pending == [], "no retry is scheduled for a permanent refusal"


async def test_attempts_are_bounded(smtp: SmtpServer, runtime_with: RuntimeFactory) -> None:
    smtp.recorder.data_replies.extend(["451 4.3.0 Later"] * 5)
    runtime = runtime_with(smtp.settings(max_attempts=2, retry_base_seconds=0.2))
    async with runtime.db.session(SERVICE) as session:
        message_id = await mail.enqueue(
            session,
            runtime,
            to="ada@example.com",
            template="email_changed",
            context={"new_email": "b@example.com"},
        )

    async def settled() -> bool:
        return bool((await outbox(runtime, message_id)).status == "failed")

    await drain(runtime, until=settled)
    row = await outbox(runtime, message_id)
    assert (
        row.attempts == 2 and row.last_error == "gave up after 2 attempts; last: DataError: 451 4.3.0 Later"
    )
    assert len(smtp.recorder.data_attempts) == 2


async def test_without_smtp_mail_is_held_and_the_link_logged_on_local_installs_only(
    runtime_with: RuntimeFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="saaskit.mail")
    local = runtime_with()  # no SMTP host, embedded database: a developer's machine
    token = raw_token()
    expires = datetime.now(UTC) + timedelta(hours=1)
    async with local.db.session(SERVICE) as session:
        user_id = await new_user(local)
        held_id = await mail.enqueue(
            session,
            local,
            to="ada@example.com",
            template="email_verification",
            context={
                "verify_url": mail.secret_link(local, "/verify-email", token=token),
                "expires_hours": 48,
            },
            user_id=user_id,
            expires_at=expires,
        )
    await drain(local)
    held = await outbox(local, held_id)
    assert (held.status, held.attempts, held.next_attempt_at) == ("held", 0, None)
    assert held.last_error.startswith("no SMTP server is configured")
    assert held.sealed_secrets is not None, "kept sealed until it expires, so that it can be sent later"
    lines = [r.getMessage() for r in caplog.records if "mail held" in r.getMessage()]
    assert lines == [
        "mail held (no SMTP server configured): "
        f'"Confirm your e-mail address for Acme Boards" to ada@example.com (email_verification, {held_id}); '
        f"link: https://app.acme.example/verify-email?token={token}"
    ]
    assert token not in await everything_stored(local)

    # An installation on an external database with no SMTP: held, and the link not logged.
    caplog.clear()
    production = runtime_with(database=local.settings.database.model_copy(update={"url": "postgresql://x/y"}))
    other_token = raw_token()
    async with production.db.session(SERVICE) as session:
        other_id = await mail.enqueue(
            session,
            production,
            to="bob@example.com",
            template="password_reset",
            context={
                "reset_url": mail.secret_link(production, "/reset", token=other_token),
                "expires_minutes": 30,
            },
            expires_at=expires,
        )
    await drain(production)
    assert (await outbox(production, other_id)).status == "held"
    assert "mail held" in caplog.text and "bob@example.com" in caplog.text
    assert other_token not in caplog.text and "its link is not logged" in caplog.text


async def test_starttls_with_auth(certificates: Certificates, runtime_with: RuntimeFactory) -> None:
    server = SmtpServer("starttls", certificates, auth=True)
    try:
        runtime = runtime_with(server.settings())
        async with runtime.db.session(SERVICE) as session:
            await mail.enqueue(
                session,
                runtime,
                to="ada@example.com",
                template="email_changed",
                context={"new_email": "b@example.com"},
            )
        await drain(runtime)
        (received,) = await server.wait_for(1)
        assert received.tls and received.login == "mailer"

        # A wrong password is the server's or our settings' problem, not the message's: retried.
        wrong = runtime_with(server.settings(smtp_password="wrong"))
        async with wrong.db.session(SERVICE) as session:
            refused = await mail.enqueue(
                session,
                wrong,
                to="ada@example.com",
                template="email_changed",
                context={"new_email": "c@example.com"},
            )
        await drain(wrong)
        row = await outbox(wrong, refused)
        assert row.status == "queued" and row.last_error.startswith("the SMTP server refused the login: 535")
        # A server that offers no STARTTLS is refused when STARTTLS is required.
        plain = SmtpServer()
        try:
            insisting = runtime_with(plain.settings(smtp_security="starttls"))
            async with insisting.db.session(SERVICE) as session:
                unsafe = await mail.enqueue(
                    session,
                    insisting,
                    to="ada@example.com",
                    template="email_changed",
                    context={"new_email": "d@example.com"},
                )
            await drain(insisting)
            row = await outbox(insisting, unsafe)
            assert row.status == "queued" and "STARTTLS" in row.last_error and plain.received == []
        finally:
            plain.stop()
    finally:
        server.stop()


async def test_implicit_tls(certificates: Certificates, runtime_with: RuntimeFactory) -> None:
    server = SmtpServer("tls", certificates)
    try:
        runtime = runtime_with(server.settings())
        async with runtime.db.session(SERVICE) as session:
            await mail.enqueue(
                session,
                runtime,
                to="ada@example.com",
                template="email_changed",
                context={"new_email": "b@example.com"},
            )
        await drain(runtime)
        (received,) = await server.wait_for(1)
        assert received.tls
        # Without the CA, the server's certificate is not trusted: nothing is sent.
        untrusting = runtime_with(server.settings(smtp_ca_file=None))
        async with untrusting.db.session(SERVICE) as session:
            refused = await mail.enqueue(
                session,
                untrusting,
                to="ada@example.com",
                template="email_changed",
                context={"new_email": "c@example.com"},
            )
        await drain(untrusting)
        row = await outbox(untrusting, refused)
        assert row.status == "queued" and "CERTIFICATE_VERIFY_FAILED" in row.last_error
        assert len(server.received) == 1
    finally:
        server.stop()


async def test_the_safety_net_sends_what_no_job_will(smtp: SmtpServer, runtime_with: RuntimeFactory) -> None:
    """A message whose job is gone (a crash, a lost job) and one a dead worker left "sending"
    are both sent by the every-minute job."""
    runtime = runtime_with(smtp.settings())
    async with runtime.db.session(SERVICE) as session:
        lost = await mail.enqueue(
            session,
            runtime,
            to="ada@example.com",
            template="email_changed",
            context={"new_email": "b@example.com"},
        )
        stuck = await mail.enqueue(
            session,
            runtime,
            to="bob@example.com",
            template="email_changed",
            context={"new_email": "c@example.com"},
        )
    await sql(runtime, "DELETE FROM procrastinate_jobs WHERE task_name = 'mail.deliver'")
    await sql(
        runtime,
        "UPDATE email_outbox SET status = 'sending', attempts = 1, last_attempt_at = now() - interval '1 hour' "
        "WHERE id = :i",
        i=stuck,
    )
    counts = await delivery.deliver_due(runtime)
    assert counts["requeued_stale"] == 1 and counts["sent"] == 2, counts
    await smtp.wait_for(2)
    assert sorted(r.rcpt_tos[0] for r in smtp.received) == ["ada@example.com", "bob@example.com"]
    assert (await outbox(runtime, lost)).status == "sent"
    assert (await outbox(runtime, stuck)).attempts == 2
    assert await delivery.deliver_due(runtime) == {"failed_stale": 0, "requeued_stale": 0, "secrets_wiped": 0}


async def test_expired_links_are_never_sent_and_their_secrets_wiped(
    smtp: SmtpServer, runtime_with: RuntimeFactory
) -> None:
    runtime = runtime_with(smtp.settings())
    token = raw_token()
    async with runtime.db.session(SERVICE) as session:
        message_id = await mail.enqueue(
            session,
            runtime,
            to="ada@example.com",
            template="invitation",
            context={
                "inviter_name": "Bob",
                "organization_name": "Acme",
                "role": "member",
                "accept_url": mail.secret_link(runtime, "/invitations/accept", token=token),
                "expires_days": 7,
            },
            expires_at=datetime.now(UTC) + timedelta(milliseconds=50),
        )
    await sql(
        runtime,
        "UPDATE email_outbox SET expires_at = now() - interval '1 second' WHERE id = :i",
        i=message_id,
    )
    await drain(runtime)
    row = await outbox(runtime, message_id)
    assert row.status == "failed" and row.last_error.startswith("expired before it could be sent")
    assert row.sealed_secrets is None and row.secrets_wiped_at is not None
    assert smtp.received == []


async def test_a_changed_instance_secret_fails_sealed_mail_instead_of_sending_garbage(
    smtp: SmtpServer, runtime_with: RuntimeFactory
) -> None:
    runtime = runtime_with(smtp.settings())
    async with runtime.db.session(SERVICE) as session:
        message_id = await mail.enqueue(
            session,
            runtime,
            to="ada@example.com",
            template="password_reset",
            context={
                "reset_url": mail.secret_link(runtime, "/reset", token=raw_token()),
                "expires_minutes": 60,
            },
            expires_at=datetime.now(UTC) + timedelta(hours=1),
        )
    rotated = runtime_with(smtp.settings())
    rotated.secret = "another-secret-" + "y" * 32
    await drain(rotated)
    row = await outbox(rotated, message_id)
    assert row.status == "failed" and "SAASKIT_SECRET_KEY" in row.last_error
    assert smtp.received == []


async def test_reminders_carry_one_click_unsubscribe_and_honour_it(
    smtp: SmtpServer, runtime_with: RuntimeFactory, http_for: Callable[[Runtime], httpx.AsyncClient]
) -> None:
    runtime = runtime_with(smtp.settings())
    context = {"balance_cents": 120, "currency": "usd", "threshold_cents": 500}
    async with runtime.db.session(SERVICE) as session:
        await mail.enqueue(session, runtime, to="ada@example.com", template="credits_low", context=context)
    await drain(runtime)
    (received,) = await smtp.wait_for(1)
    header = received.message["List-Unsubscribe"]
    assert header.startswith("<https://app.acme.example/api/mail/unsubscribe?token=") and header.endswith(">")
    assert received.message["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert "$1.20" in received.part("text/plain") and "below the $5.00" in received.part("text/plain")
    assert header[1:-1] in received.part("text/plain")

    http = http_for(runtime)
    path = header[1:-1].removeprefix("https://app.acme.example")
    page = await http.get(path)
    assert page.status_code == 200 and "Stop sending reminders" in page.text
    assert await sql(runtime, "SELECT email FROM email_opt_outs") == [], "opening the page changes nothing"
    # What a mail app's "Unsubscribe" button sends (RFC 8058).
    answer = await http.post(
        path,
        content=b"List-Unsubscribe=One-Click",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answer.status_code == 200 and answer.json() == {"unsubscribed": True, "purpose": "reminders"}
    assert (await http.post(path)).status_code == 200, "twice is fine"
    assert [tuple(r) for r in await sql(runtime, "SELECT email, purpose FROM email_opt_outs")] == [
        ("ada@example.com", "reminders")
    ]
    forged = await http.post(path[:-4] + "AAAA")
    assert forged.status_code == 400 and forged.json()["error"]["code"] == "bad_token"

    async with runtime.db.session(SERVICE) as session:
        skipped = await mail.enqueue(
            session, runtime, to="ada@example.com", template="credits_low", context=context
        )
        notice = await mail.enqueue(
            session,
            runtime,
            to="ada@example.com",
            template="payment_failed",
            context={"amount_cents": 1500, "currency": "usd"},
        )
    await drain(runtime)
    assert (await outbox(runtime, skipped)).status == "discarded"
    assert (await outbox(runtime, notice)).status == "sent", "billing notices are not optional"
    await smtp.wait_for(2)
    assert smtp.received[1].message["Subject"] == "Your payment for Acme Boards did not go through"
    assert smtp.received[1].message["List-Unsubscribe"] is None

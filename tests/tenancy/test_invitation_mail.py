"""Invitations by e-mail, end to end: the link arrives at the test SMTP server (and nowhere else),
an invitee with an account also gets an in-app notice, a resend kills the old link and is limited
per invitation, expired links get 410, and the link works for an existing account and a sign-up."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from datetime import timedelta

import pytest

from saaskit.config import InvitationSettings, Settings
from tests.conftest import DbUnderTest
from tests.factories import make_org
from tests.helpers import error_of, signup, with_limits
from tests.mail.conftest import drain, sql
from tests.mail.live_app import live_app
from tests.mail.smtp import Received, SmtpServer

pytestmark = pytest.mark.live  # committed data in a fresh database, a real worker and SMTP server

LINK = re.compile(r"https://app\.acme\.example/join\?token=(inv_[A-Za-z0-9_-]+)")


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    server = SmtpServer()
    try:
        yield server
    finally:
        server.stop()


def token_in(received: Received) -> str:
    """The token of the accept link, the same in both parts of the mail."""
    text_link = LINK.search(received.part("text/plain"))
    html_link = LINK.search(received.part("text/html"))
    assert text_link and html_link and text_link.group(1) == html_link.group(1), received.message
    return text_link.group(1)


def to(smtp: SmtpServer, address: str) -> list[Received]:
    return [r for r in smtp.received_after_sign_up if r.rcpt_tos == [address]]


async def test_invitation_mail_link_resend_and_expiry(
    fresh_database: DbUnderTest, settings: Settings, smtp: SmtpServer
) -> None:
    invitations = InvitationSettings(expiry_hours=48, accept_path="/join")
    async with live_app(fresh_database, settings, smtp, invitations=invitations) as live:
        http, runtime = live.http, live.runtime
        owner = await signup(http, "owner@example.com", name="Olga Owner")
        org = await make_org(http, owner, "Acme Team")
        ada = await signup(http, "ada@example.com", name="Ada")
        path = f"/api/orgs/{org['id']}/invitations"

        # Creating sends the mail; the answer has the message's id, never the token.
        to_ada = await http.post(
            path, headers=owner.headers, json={"email": "Ada@Example.com", "role": "admin"}
        )
        to_new = await http.post(path, headers=owner.headers, json={"email": "newbie@example.com"})
        assert to_ada.status_code == to_new.status_code == 201, to_ada.text
        assert "token" not in to_ada.json() and to_ada.json()["mail_id"]
        expiry = to_ada.json()["expires_at"]
        stored = await sql(
            runtime,
            "SELECT i.token_hash, o.context->>'accept_url' AS shown, i.expires_at - now() AS left "
            "FROM invitations i JOIN email_outbox o ON o.id = :m WHERE i.id = :i",
            m=to_ada.json()["mail_id"],
            i=to_ada.json()["id"],
        )
        assert stored[0].shown == "https://app.acme.example/join?token=[hidden]"
        assert timedelta(hours=47) < stored[0].left <= timedelta(hours=48), "the expiry setting applies"
        await drain(runtime, until=lambda: _arrived(smtp, 2))
        [mail_to_ada] = to(smtp, "ada@example.com")
        assert mail_to_ada.message["Subject"] == "Olga Owner invited you to Acme Team on Acme Boards"
        assert "as admin" in mail_to_ada.part("text/plain") and "Hi Ada," in mail_to_ada.part("text/plain")
        assert "stays open for 2 days" in mail_to_ada.part("text/plain")
        first_token = token_in(mail_to_ada)
        assert hashlib.sha256(first_token.encode()).hexdigest() == stored[0].token_hash, "hashed at rest"
        assert (
            await sql(
                runtime, "SELECT sealed_secrets FROM email_outbox WHERE id = :m", m=to_ada.json()["mail_id"]
            )
        )[0].sealed_secrets is None, "the link is wiped from the outbox once sent"

        # Ada has an account: an in-app notice too, without the link.
        notices = (await http.get("/api/me/notifications", headers=ada.headers)).json()["items"]
        assert [(n["kind"], n["title"]) for n in notices] == [
            ("invitation", "Olga Owner invited you to Acme Team on Acme Boards")
        ]
        assert first_token not in str(notices) and notices[0]["organization_id"] == org["id"]

        # Resend: a new link by mail, the old one dead; limited per invitation.
        with_limits(runtime, invitation_resends_per_invitation="2/hour")
        resend = f"{path}/{to_ada.json()['id']}/resend"
        for _ in range(2):
            assert (await http.post(resend, headers=owner.headers)).status_code == 200
        refused = await http.post(resend, headers=owner.headers)
        assert (
            refused.status_code == 429 and "invitation_resends_per_invitation" in error_of(refused)["message"]
        )
        await drain(runtime, until=lambda: _arrived(smtp, 4))
        tokens = [token_in(r) for r in to(smtp, "ada@example.com")]
        assert len(set(tokens)) == 3, "each resend mails a new link"
        for old in tokens[:2]:
            dead = await http.post("/api/invitations/accept", headers=ada.headers, json={"token": old})
            assert dead.status_code == 404 and error_of(dead)["code"] == "invitation_not_found"

        # The link works for the existing account ...
        accepted = await http.post("/api/invitations/accept", headers=ada.headers, json={"token": tokens[2]})
        assert accepted.status_code == 200 and accepted.json()["role"] == "admin"
        # ... and for a sign-up with the invited address.
        [mail_to_new] = to(smtp, "newbie@example.com")
        assert "Hi," in mail_to_new.part("text/plain")
        newbie = await signup(http, "newbie@example.com", invitation_token=token_in(mail_to_new))
        assert (await http.get(f"/api/orgs/{org['id']}", headers=newbie.headers)).status_code == 200
        members = (await http.get(f"/api/orgs/{org['id']}/members", headers=owner.headers)).json()["items"]
        assert {m["email"]: m["role"] for m in members} == {
            "owner@example.com": "owner",
            "ada@example.com": "admin",
            "newbie@example.com": "member",
        }

        # Expiry: the inviter's own, then a clear 410 once past.
        late = await http.post(
            path, headers=owner.headers, json={"email": "late@example.com", "expires_in_hours": 1}
        )
        assert late.status_code == 201 and late.json()["expires_at"] < expiry
        await drain(runtime, until=lambda: _arrived(smtp, 5))
        [mail_to_late] = to(smtp, "late@example.com")
        assert "stays open for 1 day." in mail_to_late.part("text/plain")
        await sql(
            runtime,
            "UPDATE invitations SET expires_at = now() - interval '1 second' WHERE id = :i",
            i=late.json()["id"],
        )
        latecomer = await signup(http, "late@example.com")
        expired = await http.post(
            "/api/invitations/accept", headers=latecomer.headers, json={"token": token_in(mail_to_late)}
        )
        assert expired.status_code == 410 and error_of(expired)["code"] == "invitation_expired"


async def _arrived(smtp: SmtpServer, count: int) -> bool:
    return len(smtp.received_after_sign_up) >= count

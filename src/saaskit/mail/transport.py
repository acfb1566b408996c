"""Handing one message to the SMTP server (aiosmtplib), and what its answer means.

- ``SAASKIT_MAIL_SMTP_SECURITY``: ``starttls`` (plain connection upgraded with STARTTLS, which
  the server must offer), ``tls`` (TLS from the first byte, usually port 465) or ``none`` (no
  TLS at all, not even opportunistic: for a relay on the same host or private network).
  Certificates are verified against the system's CAs plus ``SAASKIT_MAIL_SMTP_CA_FILE``.
- AUTH only when ``SAASKIT_MAIL_SMTP_USERNAME`` is set. Every connect and command is bounded by
  ``SAASKIT_MAIL_SMTP_TIMEOUT_SECONDS``.

The answer is an ``Outcome``:

- ``sent``: the server accepted the message (its reply is kept);
- ``bounced``: the server refused the recipient with a 5xx (the address does not take mail);
- ``failed``: any other 5xx refusal of the message (sender, content): retrying cannot help;
- ``retry``: a 4xx, a connection, TLS or timeout problem, or a refused login: the message is
  fine, the server or saaskit's settings are not (yet): try again later.
"""

from __future__ import annotations

import contextlib
import logging
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Literal

import aiosmtplib

from saaskit.config import MailSettings

logger = logging.getLogger(__name__)

OutcomeKind = Literal["sent", "retry", "failed", "bounced"]


@dataclass(frozen=True)
class Outcome:
    kind: OutcomeKind
    detail: str


def _tls_context(settings: MailSettings) -> ssl.SSLContext:
    context = ssl.create_default_context()
    if settings.smtp_ca_file is not None:
        context.load_verify_locations(cafile=str(settings.smtp_ca_file))
    return context


def _client(settings: MailSettings) -> aiosmtplib.SMTP:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return aiosmtplib.SMTP(
        hostname=settings.smtp_host,
        port=settings.port,
        username=settings.smtp_username or None,
        password=password if settings.smtp_username else None,
        use_tls=settings.smtp_security == "tls",
        start_tls=settings.smtp_security == "starttls",
        timeout=settings.smtp_timeout_seconds,
        tls_context=_tls_context(settings) if settings.smtp_security != "none" else None,
    )


def _reply(code: int, message: str) -> str:
    return f"{code} {message}".strip()[:1000]


async def send(settings: MailSettings, message: EmailMessage) -> Outcome:
    """One delivery attempt: connect, (STARTTLS, AUTH,) MAIL/RCPT/DATA, QUIT."""
    client = _client(settings)
    try:
        await client.connect()
        try:
            _, reply = await client.send_message(message)
        finally:
            with contextlib.suppress(aiosmtplib.SMTPException, OSError):
                await client.quit()
        return Outcome("sent", (reply or "accepted")[:1000])
    except aiosmtplib.SMTPRecipientsRefused as exc:
        refusals = [_reply(r.code, r.message) for r in exc.recipients]
        permanent = all(r.code >= 500 for r in exc.recipients)
        return Outcome("bounced" if permanent else "retry", "recipient refused: " + "; ".join(refusals))
    except aiosmtplib.SMTPAuthenticationError as exc:
        return Outcome("retry", f"the SMTP server refused the login: {_reply(exc.code, exc.message)}")
    except aiosmtplib.SMTPResponseException as exc:
        what = type(exc).__name__.removeprefix("SMTP")
        return Outcome("failed" if exc.code >= 500 else "retry", f"{what}: {_reply(exc.code, exc.message)}")
    except (aiosmtplib.SMTPException, OSError, TimeoutError, ssl.SSLError) as exc:
        return Outcome("retry", f"{type(exc).__name__}: {exc}"[:1000])
    except Exception as exc:  # a bug, not the server: keep the message, and say so loudly
        logger.exception("unexpected error while sending mail")
        return Outcome("retry", f"{type(exc).__name__}: {exc}"[:1000])
    finally:
        client.close()

"""A real SMTP server for the tests (aiosmtpd on 127.0.0.1, a free port), recording what
arrives, and able to refuse on cue (4xx to test retries, 5xx to test failures and bounces),
to require STARTTLS and AUTH, or to speak TLS from the first byte. Certificates come from a
throwaway CA made with ``cryptography``; the client trusts it through ``SAASKIT_MAIL_SMTP_CA_FILE``.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import ipaddress
import ssl
import threading
import time
from dataclasses import dataclass, field
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import Any, Literal

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from saaskit.config import MailSettings
from tests.live import free_port

USERNAME = "mailer"
PASSWORD = "relay-password"


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    tls: bool
    login: str | None

    def part(self, content_type: str) -> str:
        body = self.message.get_body(preferencelist=(content_type.split("/")[1],))
        assert body is not None and body.get_content_type() == content_type, self.message
        return str(body.get_content())


@dataclass
class Recorder:
    """The aiosmtpd handler: keeps what arrives; ``data_replies`` / ``refused`` are the cues."""

    received: list[Received] = field(default_factory=list)
    data_replies: list[str] = field(default_factory=list)
    refused: dict[str, str] = field(default_factory=dict)
    data_attempts: list[float] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, rcpt_options: list[str]
    ) -> str:
        if address in self.refused:
            return self.refused[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        with self.lock:
            self.data_attempts.append(time.monotonic())
            if self.data_replies:
                return self.data_replies.pop(0)
            content = envelope.original_content or envelope.content
            assert isinstance(content, bytes)
            message = BytesParser(policy=policy.default).parsebytes(content)
            assert isinstance(message, EmailMessage)
            transport = server.transport
            tls = session.ssl is not None or (
                transport is not None and transport.get_extra_info("ssl_object") is not None
            )
            login = session.auth_data.login.decode() if isinstance(session.auth_data, LoginPassword) else None
            self.received.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), message, tls, login)
            )
            return f"250 2.0.0 OK queued as Q{len(self.received)}"


def _authenticate(
    server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
) -> AuthResult:
    ok = isinstance(data, LoginPassword) and (data.login, data.password) == (
        USERNAME.encode(),
        PASSWORD.encode(),
    )
    return AuthResult(success=ok, handled=False, auth_data=data if ok else None)


@dataclass
class Certificates:
    ca_file: Path
    cert_file: Path
    key_file: Path

    def server_context(self) -> ssl.SSLContext:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.cert_file, self.key_file)
        return context


def make_certificates(directory: Path) -> Certificates:
    """A CA and a certificate for 127.0.0.1 / localhost signed by it (strict X.509 checks pass)."""
    now = dt.datetime.now(dt.UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "saaskit test CA")])
    ca = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(ca_key.public_key()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False
        )
        .sign(ca_key, hashes.SHA256())
    )
    paths = Certificates(directory / "ca.pem", directory / "server.pem", directory / "server.key")
    paths.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    paths.cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    paths.key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    return paths


VERIFICATION = "Confirm your e-mail address"


class SmtpServer:
    """One aiosmtpd server in its own thread; ``stop`` when done."""

    def __init__(
        self,
        security: Literal["starttls", "tls", "none"] = "none",
        certificates: Certificates | None = None,
        *,
        auth: bool = False,
    ) -> None:
        self.recorder = Recorder()
        self.port = free_port()
        self.security = security
        self.certificates = certificates
        self.auth = auth
        kwargs: dict[str, Any] = {}
        if security != "none":
            assert certificates is not None
        if security == "starttls":
            assert certificates is not None
            kwargs.update(tls_context=certificates.server_context(), require_starttls=True)
        elif security == "tls":
            assert certificates is not None
            kwargs.update(ssl_context=certificates.server_context())
        if auth:
            kwargs.update(
                authenticator=_authenticate, auth_required=True, auth_require_tls=security != "none"
            )
        self.controller = Controller(self.recorder, hostname="127.0.0.1", port=self.port, **kwargs)
        self.controller.start()

    def stop(self) -> None:
        self.controller.stop()

    @property
    def received(self) -> list[Received]:
        return self.recorder.received

    @property
    def received_after_sign_up(self) -> list[Received]:
        """What arrived other than the e-mail verification every sign-up sends (for tests of
        other mail whose users sign up first)."""
        return [r for r in self.received if not str(r.message["Subject"]).startswith(VERIFICATION)]

    def settings(self, **overrides: Any) -> MailSettings:
        """Mail settings that send here (fast retries, short timeouts)."""
        values: dict[str, Any] = {
            "smtp_host": "127.0.0.1",
            "smtp_port": self.port,
            "smtp_security": self.security,
            "smtp_timeout_seconds": 5,
            "from_address": "Acme <no-reply@acme.example>",
            "retry_base_seconds": 0.3,
            "max_attempts": 4,
        }
        if self.certificates is not None:
            values["smtp_ca_file"] = self.certificates.ca_file
        if self.auth:
            values.update(smtp_username=USERNAME, smtp_password=PASSWORD)
        values.update(overrides)
        return MailSettings(**values)

    async def wait_for(self, count: int, within_seconds: float = 20) -> list[Received]:
        deadline = time.monotonic() + within_seconds
        while len(self.received) < count:
            if time.monotonic() > deadline:
                raise AssertionError(f"{len(self.received)} of {count} messages arrived in {within_seconds}s")
            await asyncio.sleep(0.05)
        return self.received

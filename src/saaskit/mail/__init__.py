"""Outgoing mail: the outbox, its templates and the SMTP sender (docs/mail.md).

Other domains send mail with one call, in their own transaction::

    from saaskit import mail

    await mail.enqueue(
        session, runtime,
        to=user.email,
        template="password_reset",
        context={"reset_url": mail.secret_link(runtime, "/reset-password", token=raw_token),
                 "expires_minutes": 60, "name": user.name},
        user_id=user.id,
        expires_at=token_expires_at,
    )

The message exists (and is sent) only if that transaction commits. One-time links are
``mail.Secret`` values: sealed in the outbox, never stored raw (``mail.sealing``).
"""

from saaskit.mail.rendering import TEMPLATES
from saaskit.mail.sealing import Secret, secret_link
from saaskit.mail.service import enqueue, subject_of, template_of

__all__ = ["TEMPLATES", "Secret", "enqueue", "secret_link", "subject_of", "template_of"]

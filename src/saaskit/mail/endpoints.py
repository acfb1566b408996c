"""``/api/mail/unsubscribe``: the one-click unsubscribe link of optional notices (RFC 8058).

``POST`` (what mail apps send for ``List-Unsubscribe-Post: List-Unsubscribe=One-Click``)
records the opt-out. ``GET`` (the link in the mail's footer, opened in a browser) only shows a
page with a button that POSTs: link scanners that prefetch every URL in a mail unsubscribe
nobody. The signed token is the only credential (``mail.unsubscribe``).
"""

from __future__ import annotations

from html import escape
from typing import Annotated

from fastapi import APIRouter, Form, Query
from starlette.responses import HTMLResponse, Response

from saaskit.kit.db import SERVICE, set_context
from saaskit.kit.deps import DbSession, RuntimeDep
from saaskit.kit.errors import BadRequest
from saaskit.mail import unsubscribe
from saaskit.mail.schemas import Unsubscribed

router = APIRouter(prefix="/api/mail", tags=["mail"])

Token = Annotated[str, Query(min_length=10, max_length=2000, description="The token of the mail's link.")]
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; form-action 'self'",
}


def _page(title: str, body: str) -> HTMLResponse:
    html = (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{escape(title)}</title></head>"
        '<body style="font-family:system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;">'
        f"<h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, headers=PAGE_HEADERS)


def _read(runtime_secret: str, token: str) -> tuple[str, str]:
    found = unsubscribe.read_token(runtime_secret, token)
    if found is None:
        raise BadRequest("token: not an unsubscribe link of this service", field="token", code="bad_token")
    return found


@router.get(
    "/unsubscribe",
    response_class=HTMLResponse,
    summary="The unsubscribe page of a mail's link: a button that confirms (changes nothing itself)",
)
async def unsubscribe_page(runtime: RuntimeDep, token: Token) -> Response:
    purpose, email = _read(runtime.secret, token)
    product = escape(runtime.settings.product.name)
    return _page(
        "Unsubscribe",
        f"<p>Stop sending {escape(purpose)} from {product} to <strong>{escape(email)}</strong>?</p>"
        f'<form method="post" action="/api/mail/unsubscribe?token={escape(token)}">'
        '<input type="hidden" name="from_page" value="1">'
        '<button type="submit">Unsubscribe</button></form>',
    )


@router.post(
    "/unsubscribe",
    response_model=Unsubscribed,
    summary="One-click unsubscribe (RFC 8058): this address gets no more mail of the token's kind",
    responses={200: {"content": {"text/html": {}}, "description": "JSON, or a page when sent from ours"}},
)
async def unsubscribe_now(
    session: DbSession,
    runtime: RuntimeDep,
    token: Token,
    from_page: Annotated[str | None, Form(max_length=10)] = None,
) -> Unsubscribed | Response:
    purpose, email = _read(runtime.secret, token)
    # The signature is ours: this transaction acts as the service from here on.
    await set_context(session, SERVICE)
    await unsubscribe.opt_out(session, purpose, email)
    if from_page:
        return _page(
            "Unsubscribed",
            f"<p><strong>{escape(email)}</strong> gets no more {escape(purpose)} from "
            f"{escape(runtime.settings.product.name)}. Mail about your account, security and "
            "payments still arrives.</p>",
        )
    return Unsubscribed(unsubscribed=True, purpose=purpose)

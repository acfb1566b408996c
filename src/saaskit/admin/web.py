"""Rendering: the Jinja2 environment and its filters, full pages and htmx fragments, flash
messages, and the HTML answers for errors under ``/admin``."""

from __future__ import annotations

import base64
import hmac
import math
from collections.abc import Mapping
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import orjson
from fastapi import Request
from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.responses import HTMLResponse, RedirectResponse, Response

from saaskit import __version__
from saaskit.admin.security import COOKIE_PATH
from saaskit.kit.hashing import keyed_hash
from saaskit.kit.state import Runtime

STATIC_DIR = Path(__file__).parent / "static"
FLASH_COOKIE = "saaskit_admin_flash"
# Pages hold personal data: never cached, never framed, scripts only from this origin.
PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
}


def _dt(value: datetime | None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    if value is None:
        return "—"
    return value.astimezone(UTC).strftime(fmt) + (" UTC" if "%H" in fmt else "")


def _ago(value: datetime | None) -> str:
    if value is None:
        return "never"
    seconds = (datetime.now(UTC) - value).total_seconds()
    if seconds < 0:
        return "in the future"
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{int(seconds // size)} {unit} ago"
    return "just now"


def _money(cents: int | Decimal | None, currency: str | None = "usd") -> str:
    if cents is None:
        return "—"
    amount = Decimal(cents) / 100
    code = (currency or "usd").upper()
    sign = "-" if amount < 0 else ""
    text = f"{abs(amount):,.2f}"
    return f"{sign}${text}" if code == "USD" else f"{sign}{text} {code}"


def _num(value: int | float | Decimal | None, digits: int = 0) -> str:
    if value is None:
        return "—"
    return f"{value:,.{digits}f}"


def _duration(seconds: float | None) -> str:
    """A median time between funnel steps: "—" when nobody, else the two largest units."""
    if seconds is None:
        return "—"
    whole = round(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [(days, "d"), (hours, "h"), (minutes, "min"), (secs, "s")]
    shown = [f"{n} {unit}" for n, unit in parts if n][:2]
    return " ".join(shown) or "0 s"


def _bytes(value: int | None) -> str:
    if not value:
        return "0 B"
    units = ("B", "kB", "MB", "GB", "TB")
    power = min(len(units) - 1, int(math.log(value, 1024)))
    return f"{value / 1024**power:.1f} {units[power]}" if power else f"{value} B"


def _json(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_INDENT_2 | orjson.OPT_SORT_KEYS, default=str).decode()


def _plural(count: Any, singular: str, plural: str | None = None) -> str:
    """The word for ``count`` of a thing: "1 active member", "2 active members", "0 teams"."""
    return singular if count == 1 else (plural or singular + "s")


def country_label(code: str | None) -> str:
    """A country code as shown: ZZ (ISO 3166's "unknown", used by the geographic view) and none
    read "Unknown" rather than looking like a country."""
    return "Unknown" if code in (None, "", "ZZ") else code


def query_string(params: Mapping[str, Any], **changes: Any) -> str:
    """The current filters with some changed, as a query string (empty values dropped)."""
    merged = {**params, **changes}
    return urlencode({k: v for k, v in merged.items() if v not in (None, "", False)})


ENV = Environment(
    loader=PackageLoader("saaskit.admin", "templates"),
    autoescape=select_autoescape(default=True),
    trim_blocks=True,
    lstrip_blocks=True,
)
ENV.filters.update(
    dt=_dt,
    ago=_ago,
    money=_money,
    num=_num,
    bytes=_bytes,
    pretty_json=_json,
    duration=_duration,
    plural=_plural,
    country=country_label,
)
ENV.globals.update(version=__version__, query=query_string)


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true" and not request.headers.get(
        "hx-history-restore-request"
    )


def _flash_signature(runtime: Runtime, payload: str) -> str:
    return keyed_hash(runtime.secret, "admin-flash", payload)[:32]


def set_flash(response: Response, runtime: Runtime, kind: str, message: str) -> None:
    payload = base64.urlsafe_b64encode(orjson.dumps([kind, message[:500]])).decode()
    response.set_cookie(
        FLASH_COOKIE,
        f"{payload}.{_flash_signature(runtime, payload)}",
        path=COOKIE_PATH,
        httponly=True,
        samesite="lax",
        secure=runtime.settings.auth.cookie_secure,
    )


def _read_flash(request: Request, runtime: Runtime) -> dict[str, str] | None:
    raw = request.cookies.get(FLASH_COOKIE)
    if not raw or "." not in raw:
        return None
    payload, signature = raw.rsplit(".", 1)
    if not hmac.compare_digest(signature, _flash_signature(runtime, payload)):
        return None
    try:
        kind, message = orjson.loads(base64.urlsafe_b64decode(payload))
    except (ValueError, TypeError, orjson.JSONDecodeError):
        return None
    return {"kind": str(kind), "message": str(message)}


def render(
    request: Request,
    template: str,
    context: Mapping[str, Any] | None = None,
    *,
    status_code: int = 200,
    section: str | None = None,
) -> HTMLResponse:
    """A page (or, for htmx, the fragment the template names with ``fragment``)."""
    runtime: Runtime = request.app.state.runtime
    admin = getattr(request.state, "admin", None)
    flash = None if is_htmx(request) else _read_flash(request, runtime)
    values = {
        "request": request,
        "admin": admin,
        "csrf_token": admin.csrf_token if admin else "",
        "flash": flash,
        "section": section,
        "params": dict(request.query_params),
        **(context or {}),
    }
    html = ENV.get_template(template).render(values)
    response = HTMLResponse(html, status_code=status_code, headers=PAGE_HEADERS)
    if flash is not None or (FLASH_COOKIE in request.cookies and not is_htmx(request)):
        response.delete_cookie(FLASH_COOKIE, path=COOKIE_PATH)
    return response


def redirect(
    request: Request, url: str, *, flash: tuple[str, str] | None = None, status_code: int = 303
) -> Response:
    """After a form post: back to a page (Post/Redirect/Get), with a message for it."""
    runtime: Runtime = request.app.state.runtime
    response: Response
    if is_htmx(request):
        response = Response(status_code=204, headers={"HX-Redirect": url})
    else:
        response = RedirectResponse(url, status_code=status_code)
    if flash is not None:
        set_flash(response, runtime, *flash)
    return response


def error_page(request: Request, status_code: int, title: str, message: str) -> HTMLResponse:
    return render(request, "error.html", {"title": title, "message": message}, status_code=status_code)

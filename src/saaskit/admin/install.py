"""Mount the admin pages on the app: routes, static files, and HTML answers for errors under
``/admin`` (the JSON API keeps its JSON error shape everywhere else)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from urllib.parse import quote, urlsplit

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from saaskit.admin.pages import router
from saaskit.admin.security import CsrfRefused, SignInRequired
from saaskit.admin.web import STATIC_DIR, error_page, is_htmx, redirect
from saaskit.kit.db import is_unavailable
from saaskit.kit.errors import DATABASE_ERRORS, INTEGRITY_ERRORS, AppError, constraint_violation

Handler = Callable[[Request, Exception], Response | Awaitable[Response]]

TITLES = {
    400: "Bad request",
    403: "Not allowed",
    404: "Not found",
    405: "Not allowed",
    409: "Cannot do that now",
    413: "Too large",
    422: "Invalid input",
    500: "Something went wrong",
    503: "Unavailable",
}


def _is_admin_page(request: Request) -> bool:
    path = request.url.path
    return (path == "/admin" or path.startswith("/admin/")) and not path.startswith("/admin/static/")


def _message(exc: Exception) -> tuple[int, str]:
    if isinstance(exc, AppError):
        return exc.status_code, exc.message
    if isinstance(exc, StarletteHTTPException):
        if exc.status_code == 404:
            return 404, "There is no such page, or the thing it showed no longer exists."
        return exc.status_code, str(exc.detail)
    if isinstance(exc, RequestValidationError):
        first = exc.errors()[0] if exc.errors() else {}
        field = ".".join(str(p) for p in first.get("loc", ())[1:])
        return 422, f"{field}: {first.get('msg', 'invalid value')}" if field else "invalid input"
    if is_unavailable(exc):
        return 503, "The database is unavailable at the moment (restarting?); try again in a few seconds."
    return 500, "An internal error occurred; it has been logged."


def _form_origin(request: Request) -> str | None:
    """The admin page a form was posted from (same origin only)."""
    if request.method != "POST":
        return None
    referer = urlsplit(request.headers.get("referer", ""))
    if referer.netloc != request.url.netloc or not referer.path.startswith("/admin/"):
        return None
    return referer.path + (f"?{referer.query}" if referer.query else "")


def _html_for_admin(original: Handler) -> Handler:
    async def handler(request: Request, exc: Exception) -> Response:
        if not _is_admin_page(request):
            answer = original(request, exc)
            return await answer if isinstance(answer, Awaitable) else answer
        exc = constraint_violation(exc) or exc  # a refusal PostgreSQL made: as the service's own
        if not isinstance(exc, AppError | StarletteHTTPException | RequestValidationError):
            # Unexpected: logged by the original handler; the operator gets an HTML page.
            answer = original(request, exc)
            if isinstance(answer, Awaitable):
                await answer
        status, message = _message(exc)
        back = _form_origin(request)
        if (
            back
            and isinstance(exc, AppError)
            and not isinstance(exc, CsrfRefused)
            and status in (400, 409, 422)
        ):
            # A refused action (the transaction was rolled back): back to the page it came
            # from, with the reason on top, rather than a dead-end error page.
            return redirect(request, back, flash=("error", message))
        return error_page(request, status, TITLES.get(status, "Error"), message)

    return handler


async def _sign_in_required(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, SignInRequired)
    url = "/admin/login"
    if exc.next_path and exc.next_path not in ("/admin", "/admin/"):
        url += "?next=" + quote(exc.next_path, safe="")
    if is_htmx(request):
        return Response(status_code=204, headers={"HX-Redirect": url})
    return RedirectResponse(url, status_code=303)


def install(app: FastAPI) -> None:
    app.include_router(router)
    app.mount("/admin/static", StaticFiles(directory=STATIC_DIR), name="admin-static")
    for exc_class in (
        AppError,
        RequestValidationError,
        StarletteHTTPException,
        *INTEGRITY_ERRORS,
        *DATABASE_ERRORS,
        Exception,
    ):
        original = app.exception_handlers.get(exc_class)
        if original is not None:
            app.add_exception_handler(exc_class, _html_for_admin(original))
    app.add_exception_handler(SignInRequired, _sign_in_required)

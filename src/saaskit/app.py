"""The FastAPI application factory: every domain's router, error handlers and middleware."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from saaskit import __version__
from saaskit.accounts import endpoints as accounts_endpoints
from saaskit.devices import endpoints as devices_endpoints
from saaskit.kit.errors import install_error_handlers
from saaskit.kit.middleware import BodySizeLimit
from saaskit.kit.state import Runtime
from saaskit.system import endpoints as system_endpoints
from saaskit.system import health


def create_app(runtime: Runtime, *, dispose_on_shutdown: bool = True) -> FastAPI:
    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        yield
        if dispose_on_shutdown:
            await runtime.db.dispose()

    app = FastAPI(
        title="saaskit",
        version=__version__,
        summary="The back office of a SaaS product: accounts, tenancy, billing, analytics, admin.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    install_error_handlers(app)
    # Routes are matched in order: the hot paths (heartbeat, track-visit) come first.
    for router in (
        devices_endpoints.hot_router,
        health.router,
        accounts_endpoints.router,
        accounts_endpoints.admin_router,
        devices_endpoints.router,
        devices_endpoints.admin_router,
        system_endpoints.router,
    ):
        app.include_router(router)
    app.add_middleware(BodySizeLimit, max_bytes=runtime.settings.http.max_body_bytes)
    return app

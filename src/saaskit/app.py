"""The FastAPI application factory: every domain's router, error handlers and middleware."""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi.routing import APIRoute

from saaskit import __version__
from saaskit.access import endpoints as access_endpoints
from saaskit.accounts import api_key_endpoints, recovery_endpoints, two_factor_endpoints
from saaskit.accounts import endpoints as accounts_endpoints
from saaskit.accounts.oidc import endpoints as oidc_endpoints
from saaskit.admin.install import install as install_admin
from saaskit.audit import endpoints as audit_endpoints
from saaskit.billing import errors as billing_errors
from saaskit.billing.endpoints import routers as billing_routers
from saaskit.bookings.endpoints import routers as bookings_routers
from saaskit.devices import endpoints as devices_endpoints
from saaskit.experiments import endpoints as experiments_endpoints
from saaskit.flags import assets as flags_assets
from saaskit.flags import endpoints as flags_endpoints
from saaskit.flags import sdk as flags_sdk
from saaskit.insights.endpoints import routers as insights_routers
from saaskit.integrations import endpoints as integrations_endpoints
from saaskit.kit.errors import install_error_handlers
from saaskit.kit.hotroutes import HotRoutes
from saaskit.kit.middleware import Edge
from saaskit.kit.schemas import ErrorAnswer
from saaskit.kit.state import Runtime
from saaskit.kit.tallies import tallies_of
from saaskit.mail import endpoints as mail_endpoints
from saaskit.notifications import endpoints as notifications_endpoints
from saaskit.privacy import endpoints as privacy_endpoints
from saaskit.system import endpoints as system_endpoints
from saaskit.system import health
from saaskit.tenancy.endpoints import routers as tenancy_routers
from saaskit.tracking.buffer import IngestBuffer
from saaskit.tracking.endpoints import capture as capture_endpoints
from saaskit.tracking.endpoints import native as native_endpoints
from saaskit.tracking.endpoints import repairing_routers
from saaskit.tracking.endpoints import routers as tracking_routers
from saaskit.tracking.latency import LatencyRecorder
from saaskit.trust import endpoints as trust_endpoints
from saaskit.webhooks import endpoints as webhooks_endpoints

# Order matters for speed: routes are matched in order, so the hottest (ingestion) come first.
ROUTERS: list[APIRouter] = [
    devices_endpoints.hot_router,
    *tracking_routers,
    flags_sdk.router,
    health.router,
    accounts_endpoints.router,
    accounts_endpoints.admin_router,
    recovery_endpoints.router,
    two_factor_endpoints.router,
    api_key_endpoints.me_router,
    api_key_endpoints.org_router,
    oidc_endpoints.router,
    system_endpoints.router,
    *tenancy_routers,
    access_endpoints.router,
    access_endpoints.catalog_router,
    audit_endpoints.router,
    *billing_routers,
    devices_endpoints.router,
    devices_endpoints.admin_router,
    *insights_routers,
    mail_endpoints.router,
    notifications_endpoints.router,
    notifications_endpoints.admin_router,
    privacy_endpoints.router,
    privacy_endpoints.admin_router,
    experiments_endpoints.router,
    experiments_endpoints.features_router,
    flags_endpoints.router,
    flags_assets.router,
    integrations_endpoints.router,
    webhooks_endpoints.router,
    webhooks_endpoints.catalog_router,
    trust_endpoints.router,
    *bookings_routers,
]

# Served by kit.hotroutes before FastAPI's routing (they stay declared on their routers too).
HOT_ROUTES = (*devices_endpoints.HOT_ROUTES, *capture_endpoints.HOT_ROUTES, *native_endpoints.HOT_ROUTES)

# Every operation documents its errors with their one shape (kit/errors.py); "4XX" also takes the
# place of FastAPI's 422 schema ({"detail": [...]}), which is not what saaskit answers.
ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    "4XX": {
        "model": ErrorAnswer,
        "description": "Refused: `error.code` says why, `error.field` names the input.",
    },
    "5XX": {"model": ErrorAnswer, "description": "Failed on our side (`internal_error`) or unavailable."},
}


def _errors_are_json(app: FastAPI) -> None:
    """Document errors as JSON on every operation: FastAPI gives an operation's extra responses
    the media type of its success (an HTML page's errors would read as HTML), but every error is
    answered by the JSON handlers of kit/errors.py."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for item in document.get("paths", {}).values():
                for operation in item.values():
                    for status in ERROR_RESPONSES:
                        content = operation.get("responses", {}).get(status, {}).get("content", {})
                        if content and "application/json" not in content:
                            schema = next(iter(content.values()))
                            content.clear()
                            content["application/json"] = schema
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(runtime: Runtime, *, dispose_on_shutdown: bool = True) -> FastAPI:
    latency = LatencyRecorder()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        tracking = runtime.settings.tracking
        # Everything alive now (modules, models, the app) lives for the whole process: move it
        # out of the collector's sight, and collect young objects less often. Requests allocate
        # many short-lived dicts; measured in docs/ingestion.md.
        gc.collect()
        gc.freeze()
        gc.set_threshold(50_000, 50, 100)
        flusher = asyncio.create_task(latency.run(runtime, tracking.latency_flush_seconds))
        if tracking.group_commit:
            app.state.ingest = IngestBuffer(
                runtime,
                writers=tracking.group_commit_writers,
                pipelined=tracking.group_commit_pipeline,
            )
            app.state.ingest.start()
        yield
        if tracking.group_commit:
            await app.state.ingest.stop()
        flusher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await flusher
        await tallies_of(runtime).write()  # the last second's abuse tallies (kit/tallies.py)
        if dispose_on_shutdown:
            await runtime.db.dispose()
            if runtime.replicas is not None:
                await runtime.replicas.dispose()

    app = FastAPI(
        title="saaskit",
        version=__version__,
        summary="The back office of a SaaS product: accounts, tenancy, billing, analytics, admin.",
        lifespan=lifespan,
    )
    app.state.runtime = runtime
    app.state.latency = latency
    install_error_handlers(app)
    billing_errors.install(app)
    for router in ROUTERS:
        app.include_router(router, responses=ERROR_RESPONSES)
    _errors_are_json(app)
    # After the error handlers: it wraps them to answer HTML under /admin.
    install_admin(app)
    # Ours, not FastAPI's max_body_size: Starlette's limiter answers 413 in plain text. It also
    # refuses text PostgreSQL cannot store (kit/inputs.py), except on the ingestion paths,
    # whose endpoints repair it.
    repairs_text = {
        route.path for router in repairing_routers for route in router.routes if isinstance(route, APIRoute)
    }
    http = runtime.settings.http
    # Inside the edge (added first: the last added is the outermost), ahead of the router.
    app.add_middleware(HotRoutes, routes=HOT_ROUTES)
    app.add_middleware(
        Edge,
        max_bytes=http.max_body_bytes,
        observe=latency.record,
        body_timeout=http.body_timeout_seconds,
        repairs_text=repairs_text,
    )
    return app

"""FastAPI dependencies every domain uses: the runtime, the request's unit of work, the client.

The session dependency runs with ``scope="function"`` so its commit happens *before* the
response is sent: a request is acknowledged only once its writes are committed. Work that must
follow the commit (enqueueing jobs that read what was written, for instance) is registered with
``after_commit`` and runs only when the commit succeeded.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from functools import cached_property
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from saaskit.kit.hashing import ip_hash
from saaskit.kit.net import client_country, client_ip
from saaskit.kit.state import Runtime

AfterCommit = Callable[[], Awaitable[None]]


def runtime_of(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime


# Dependencies are ``async def`` even when they do not await: FastAPI runs plain ``def``
# dependencies in a thread pool, a thread hop (and GIL handover) per call on every request.
async def get_runtime(request: Request) -> Runtime:
    return runtime_of(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    runtime = runtime_of(request)
    runtime.db.check_available()
    async with runtime.db.sessionmaker() as session:
        try:
            yield session
            await session.commit()
        except BaseException:
            await session.rollback()
            raise
        await run_after_commit(session)


async def run_after_commit(session: AsyncSession) -> None:
    callbacks: list[AfterCommit] = session.info.pop("after_commit", [])
    for callback in callbacks:
        await callback()


def after_commit(session: AsyncSession, callback: AfterCommit) -> None:
    session.info.setdefault("after_commit", []).append(callback)


DbSession = Annotated[AsyncSession, Depends(get_session, scope="function")]


class Client:
    """The caller as the request shows it: raw IP for this request only, hashed for storage.
    Each figure is computed on first use: hot endpoints that need none of them pay nothing."""

    def __init__(self, request: Request, runtime: Runtime) -> None:
        self._request = request
        self._runtime = runtime

    @cached_property
    def ip(self) -> str:
        return client_ip(self._request, self._runtime.settings.http.trusted_proxies)

    @cached_property
    def ip_hash(self) -> str:
        return ip_hash(self._runtime.secret, self.ip)

    @cached_property
    def country_code(self) -> str | None:
        http = self._runtime.settings.http
        return client_country(self._request, http.trusted_proxies, http.country_header)

    @cached_property
    def user_agent(self) -> str | None:
        return (self._request.headers.get("user-agent") or "")[:512] or None


async def get_client(request: Request, runtime: RuntimeDep) -> Client:
    return Client(request, runtime)


ClientDep = Annotated[Client, Depends(get_client)]

"""Idempotency keys, as Stripe's: a retried request answers what the first one answered.

An endpoint takes the header with the ``Idempotency`` dependency and runs its work through
``IdempotentRequest.respond``:

    async def subscribe(body: SubscribeIn, session: DbSession, idempotency: Idempotency) -> Response:
        async def work() -> SubscriptionOut: ...
        return await idempotency.respond(session, work, status_code=201)

With a key (``Idempotency-Key``, 1-255 characters), in the request's own transaction:

1. The key is claimed: a row of ``idempotency_keys`` (unique per user and key hash) is
   inserted. A concurrent request with the same key waits on that row's unique index, at
   most ``WAIT`` (PostgreSQL's ``lock_timeout``), for the first to finish: then it replays its
   answer, or, if the first is still running, gets **409** ``idempotency_in_progress`` (with
   ``Retry-After``). If the first one failed (its transaction rolled back), the waiting one
   runs as if it were first.
2. A key already answered, with the same method, path and body (JSON compared with its keys
   sorted), is answered with the stored status code and body, byte for byte, plus the header
   ``Idempotent-Replayed: true``; nothing runs again. The same key with another request is
   **422** ``idempotency_key_reused``.
3. The work runs inside a savepoint. Its answer is stored in the same transaction as its
   writes, so a replayed answer always describes committed work. A 4xx raised by saaskit's
   rules (``AppError``, e.g. 402 ``payment_method_required``) is an answer too: the work is
   rolled back to the savepoint and the error is stored and replayed, as Stripe does. Any
   other failure (a 5xx, an exception, a lost connection) stores nothing: the claim rolls back
   with the transaction and a retry runs again (safe where the work's own calls are idempotent,
   as saaskit's calls to Stripe are: they pass a key derived from this one).

Keys are one user's (a key and its answer are never seen by another user; RLS too) and
expire after ``TTL`` (24 hours, as Stripe's): an expired key is treated as new, and the periodic
job ``kit.purge_idempotency_keys`` deletes expired rows. Validation errors (422 before the
endpoint runs) and authentication failures store nothing, as at Stripe.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any

import orjson
import psycopg.errors
from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from pydantic import BaseModel
from sqlalchemy import delete, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.responses import Response

from saaskit.kit.db import SERVICE, current_context
from saaskit.kit.errors import AppError, Conflict, Unprocessable, error_response
from saaskit.kit.idempotency.models import IdempotencyKey
from saaskit.kit.state import Runtime

HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
TTL = timedelta(hours=24)
WAIT = "5s"  # how long a concurrent duplicate waits for the first request before 409

_LOCK_TIMEOUT = text(
    "SELECT current_setting('lock_timeout') AS previous, set_config('lock_timeout', :wait, true)"
)
_RESTORE_LOCK_TIMEOUT = text("SELECT set_config('lock_timeout', :previous, true)")


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """The request as compared between a key's uses: JSON bodies with their keys sorted."""
    try:
        canonical = orjson.dumps(orjson.loads(body), option=orjson.OPT_SORT_KEYS) if body else b""
    except orjson.JSONDecodeError:
        canonical = body
    digest = hashlib.sha256()
    for part in (method.upper().encode(), path.encode(), "&".join(sorted(query.split("&"))).encode()):
        digest.update(part + b"\n")
    digest.update(canonical)
    return digest.hexdigest()


def _json(status_code: int, body: bytes, *, replayed: bool = False) -> Response:
    headers = {REPLAYED_HEADER: "true"} if replayed else None
    return Response(body, status_code=status_code, media_type="application/json", headers=headers)


def _body_of(result: Any) -> bytes:
    if isinstance(result, BaseModel):
        return orjson.dumps(result.model_dump(mode="json", by_alias=True))
    return orjson.dumps(jsonable_encoder(result))


def _in_progress() -> Conflict:
    return Conflict(
        "a request with this Idempotency-Key is still in progress: retry shortly",
        field=HEADER,
        code="idempotency_in_progress",
        headers={"Retry-After": "1"},
    )


@dataclass(frozen=True)
class IdempotentRequest:
    """The request's key (None: not idempotent) and what identifies the request."""

    key: str | None
    method: str
    path: str
    fingerprint: str

    async def respond(
        self, session: AsyncSession, work: Callable[[], Awaitable[Any]], *, status_code: int = 200
    ) -> Response:
        """Run ``work`` once per key and answer its result (a Pydantic model) as JSON."""
        if self.key is None:
            return _json(status_code, _body_of(await work()))
        user_id = current_context(session).user_id
        if user_id is None:
            raise RuntimeError("idempotency keys belong to a signed-in user: authenticate first")
        claimed = await self._claim(session, user_id)
        if isinstance(claimed, Response):
            return claimed
        callbacks: list[Any] = session.info.setdefault("after_commit", [])
        registered = len(callbacks)
        savepoint = await session.begin_nested()
        try:
            result = await work()
        except AppError as exc:
            if exc.status_code >= 500:
                raise
            await savepoint.rollback()
            del callbacks[registered:]  # the work's after-commit jobs went with it
            response = error_response(
                exc.status_code, exc.code, exc.message, exc.field, exc.headers, **exc.extra
            )
        else:
            await savepoint.commit()
            response = _json(status_code, _body_of(result))
        await session.execute(
            update(IdempotencyKey)
            .where(IdempotencyKey.id == claimed)
            .values(response_status_code=response.status_code, response_body=bytes(response.body).decode())
        )
        return response

    async def _claim(self, session: AsyncSession, user_id: uuid.UUID) -> uuid.UUID | Response:
        """The new row's id, or the stored answer to replay; raises 409 / 422."""
        assert self.key is not None
        hashed = key_hash(self.key)
        mine = (IdempotencyKey.user_id == user_id, IdempotencyKey.key_hash == hashed)
        for _ in range(3):
            await session.execute(
                delete(IdempotencyKey).where(*mine, IdempotencyKey.expires_at <= text("now()"))
            )
            previous = (await session.execute(_LOCK_TIMEOUT, {"wait": WAIT})).scalar_one()
            try:
                claimed: uuid.UUID | None = await session.scalar(
                    insert(IdempotencyKey)
                    .values(
                        user_id=user_id,
                        key_hash=hashed,
                        method=self.method,
                        path=self.path,
                        request_fingerprint=self.fingerprint,
                        expires_at=text(f"now() + interval '{int(TTL.total_seconds())} seconds'"),
                    )
                    .on_conflict_do_nothing(index_elements=["user_id", "key_hash"])
                    .returning(IdempotencyKey.id)
                )
            except DBAPIError as exc:
                if isinstance(exc.orig, psycopg.errors.LockNotAvailable):
                    raise _in_progress() from exc
                raise
            await session.execute(_RESTORE_LOCK_TIMEOUT, {"previous": previous})
            if claimed is not None:
                return claimed
            found = (
                await session.execute(
                    select(
                        IdempotencyKey.method,
                        IdempotencyKey.path,
                        IdempotencyKey.request_fingerprint,
                        IdempotencyKey.response_status_code,
                        IdempotencyKey.response_body,
                    ).where(*mine)
                )
            ).one_or_none()
            if found is None:
                continue  # expired and deleted in between: claim again
            if (found.method, found.path, found.request_fingerprint) != (
                self.method,
                self.path,
                self.fingerprint,
            ):
                raise Unprocessable(
                    "this Idempotency-Key was already used with another request: use a new key",
                    field=HEADER,
                    code="idempotency_key_reused",
                )
            if found.response_status_code is None or found.response_body is None:
                raise _in_progress()
            return _json(found.response_status_code, found.response_body.encode(), replayed=True)
        raise _in_progress()


async def idempotency(
    request: Request,
    idempotency_key: Annotated[
        str | None,
        Header(
            min_length=1,
            max_length=255,
            description="Any unique string (a UUID): a retry with the same key gets the first "
            "answer again, for 24 hours.",
        ),
    ] = None,
) -> IdempotentRequest:
    body = await request.body()
    fingerprint = request_fingerprint(request.method, request.url.path, request.url.query, body)
    return IdempotentRequest(idempotency_key, request.method, request.url.path, fingerprint)


Idempotency = Annotated[IdempotentRequest, Depends(idempotency)]


async def purge_expired(runtime: Runtime) -> int:
    """Delete the keys past their 24 hours; returns how many."""
    async with runtime.db.session(SERVICE) as session:
        result = await session.execute(
            delete(IdempotencyKey).where(IdempotencyKey.expires_at <= text("now()"))
        )
    return int(result.rowcount)  # type: ignore[attr-defined]

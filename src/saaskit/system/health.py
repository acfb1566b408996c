"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, schema at head)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from saaskit.kit.deps import RuntimeDep
from saaskit.kit.migrations import head_revision

router = APIRouter(tags=["health"])

_HEAD = head_revision()


@router.get("/healthz", summary="The process is up")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get("/readyz", summary="The database answers and migrations are at head")
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    try:
        async with runtime.db.engine.connect() as connection:
            current = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # any failure to reach the database means not ready
        return JSONResponse(
            {"status": "unavailable", "database": "unreachable", "detail": type(exc).__name__},
            status_code=503,
        )
    if current != _HEAD:
        return JSONResponse(
            {"status": "unavailable", "database": "ok", "migration": current, "head": _HEAD}, status_code=503
        )
    return JSONResponse({"status": "ok", "database": "ok", "migration": current})

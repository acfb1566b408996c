"""``/healthz`` (the process answers) and ``/readyz`` (database reachable, schema at head)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from saaskit.kit.deps import RuntimeDep
from saaskit.kit.migrations import head_revision
from saaskit.system.schemas import Alive, DatabaseUnreachable, Ready, SchemaNotAtHead

router = APIRouter(tags=["health"])

_HEAD = head_revision()


@router.get("/healthz", summary="The process is up")
async def healthz() -> Alive:
    return Alive(status="ok")


@router.get(
    "/readyz",
    response_model=Ready,
    summary="The database answers and migrations are at head",
    responses={
        503: {
            "model": DatabaseUnreachable | SchemaNotAtHead,
            "description": "The database is unreachable, or its migrations are not at head",
        }
    },
)
async def readyz(runtime: RuntimeDep) -> JSONResponse:
    if runtime.db.outage is not None:  # known down (the embedded server is being restarted)
        unreachable = DatabaseUnreachable(detail="DatabaseUnavailable")
        return JSONResponse(unreachable.model_dump(), status_code=503, headers={"Retry-After": "2"})
    try:
        async with runtime.db.engine.connect() as connection:
            current = await connection.scalar(text("SELECT version_num FROM alembic_version"))
    except Exception as exc:  # any failure to reach the database means not ready
        unreachable = DatabaseUnreachable(detail=type(exc).__name__)
        return JSONResponse(unreachable.model_dump(), status_code=503, headers={"Retry-After": "2"})
    if current != _HEAD:
        behind = SchemaNotAtHead(migration=current, head=_HEAD)
        return JSONResponse(behind.model_dump(), status_code=503)
    # A plain JSONResponse, as before the model was declared: /readyz is the benchmarks' baseline
    # (a trivial database round trip), so it must not gain response validation's cost.
    return JSONResponse({"status": "ok", "database": "ok", "migration": current})

"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter
from fastapi.responses import JSONResponse

from api.db.session import StorageUnavailableError
from api.deps import QADep, StoreDep
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def read_health() -> Health:
    """The process is up (no dependency is checked)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def read_readiness(qa: QADep, store: StoreDep) -> JSONResponse:
    """Ready to answer: the vector store answers, an index is published, the database answers."""
    checks: dict[str, str] = {}
    try:
        await store.check()
        checks["database"] = "ok"
    except StorageUnavailableError:
        checks["database"] = "unavailable"
    try:
        ready = await asyncio.to_thread(qa.is_ready)
        checks["qdrant"] = "ok"
        checks["index"] = "ok" if ready else "no index published (run rag-ingest)"
    except Exception as exc:
        checks["qdrant"] = f"unreachable: {type(exc).__name__}"
    ok = all(value == "ok" for value in checks.values())
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)

"""Liveness and readiness probes, and the Prometheus scrape."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from api.deps import MetricsDep, MonitorDep, QADep, StoreDep
from api.monitoring.status import readiness_checks
from api.schemas import Health

router = APIRouter(tags=["operations"])


@router.get("/healthz", response_model=Health)
async def read_health() -> Health:
    """The process is up (no dependency is checked)."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def read_readiness(qa: QADep, store: StoreDep, monitor: MonitorDep) -> JSONResponse:
    """Ready to answer: the vector store answers, an index is published, the database answers."""
    checks = await readiness_checks(qa, store)
    ok = monitor.record_readiness(checks)
    body = Health(status="ok" if ok else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ok else 503)


@router.get("/metrics", include_in_schema=False)
async def read_metrics(request: Request, metrics: MetricsDep, monitor: MonitorDep) -> Response:
    """Prometheus metrics of every worker (the state gauges are refreshed first)."""
    await monitor.refresh()
    body, content_type = metrics.exposition(request.headers.get("accept"))
    return Response(body, media_type=content_type)

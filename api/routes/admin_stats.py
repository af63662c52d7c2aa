"""``GET /v1/admin/stats`` (admin key): live figures for operators.

The figures are read in ``api.monitoring.stats``; the page that draws them is
``api.routes.dashboard``.
"""

from __future__ import annotations

from fastapi import APIRouter, Query

from api.deps import AdminDep, MetricsDep, MonitorDep, SettingsDep, StoreDep
from api.monitoring.stats import collect_stats
from api.monitoring.stats_schemas import AdminStats
from api.schemas import ErrorResponse

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[AdminDep])


@router.get(
    "/stats",
    response_model=AdminStats,
    responses={401: {"model": ErrorResponse, "description": "No valid admin key in X-API-Key."}},
)
async def read_stats(
    settings: SettingsDep,
    store: StoreDep,
    metrics: MetricsDep,
    monitor: MonitorDep,
    days: int = Query(default=7, ge=1, le=90, description="Days of spend history."),
) -> AdminStats:
    """Requests, errors, latency, answers, cache, models, spend against the budget, index."""
    return await collect_stats(settings, store, metrics, monitor, days=days)

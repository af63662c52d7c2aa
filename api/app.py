"""The FastAPI application factory and its lifespan (clients and models opened once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import Depends, FastAPI

from api.db.session import StorageUnavailableError
from api.db.statement_log import install_statement_log
from api.errors import ErrorMiddleware, install_error_handlers
from api.ingest_jobs import IngestJobs
from api.middleware.admission import Admission, AdmissionMiddleware
from api.middleware.body_limit import BodyLimitMiddleware
from api.middleware.https_only import HttpsOnlyMiddleware
from api.middleware.json_body import JsonBodyMiddleware
from api.middleware.observability import ObservabilityMiddleware, record_route
from api.middleware.request_id import RequestIdMiddleware
from api.monitoring.metrics import Metrics
from api.monitoring.status import StatusMonitor
from api.routes import admin, admin_stats, chat, dashboard, health, home, sessions, widget
from api.security.auth import AdminKeys
from api.security.client_address import ClientAddressResolver
from api.security.headers import SecurityHeadersMiddleware
from api.security.origin_check import (
    CORSWithErrorBodyMiddleware,
    OriginCheckMiddleware,
    OriginPolicy,
    cors_options,
)
from api.security.ratelimit import RateLimiter, RateLimitHooks, build_rate_limiter
from api.security.session_ids import SessionIdSigner
from api.settings import ServiceSettings, get_service_settings
from api.storage import ChatStore
from rag.engine import TextbookQA, build_qa
from rag.retrieval.embeddings import LocalEmbedding, build_embed_model
from rag.retrieval.vector_store import build_qdrant_client

logger = logging.getLogger(__name__)
SHUTDOWN_STORE_WAIT_S = 10.0


class AppState(TypedDict):
    """Objects shared by all requests, opened in the lifespan."""

    settings: ServiceSettings
    qa: TextbookQA
    store: ChatStore
    admin_keys: AdminKeys
    ingest_jobs: IngestJobs
    rate_limiter: RateLimiter
    session_ids: SessionIdSigner
    client_addresses: ClientAddressResolver
    metrics: Metrics
    monitor: StatusMonitor


def create_app(
    settings: ServiceSettings | None = None, *, embed_model: LocalEmbedding | None = None
) -> FastAPI:
    """Build the app; ``uvicorn --factory api.app:create_app`` calls it with no arguments.

    Args:
        settings: the settings; read from the environment when omitted.
        embed_model: an already loaded embedding model to share (tests); loaded at start-up if None.
    """
    settings = settings or get_service_settings()
    metrics = Metrics.from_environment()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        client = build_qdrant_client(settings)
        try:
            model = embed_model or build_embed_model(settings)
            await asyncio.to_thread(model.load)  # the first request should not pay for it
            qa = build_qa(settings, client=client, embed_model=model, observer=metrics)
            try:
                if not qa.is_ready():
                    logger.warning(
                        "no index for collection %r yet: run rag-ingest (/readyz is 503 until "
                        "then)",
                        settings.collection,
                    )
            except Exception as exc:  # a Qdrant server down: /readyz says so until it is back
                logger.error("vector store unreachable at start-up: %s", type(exc).__name__)
            store = ChatStore.from_settings(settings)
            install_statement_log(store.engine, slow_ms=settings.db_slow_statement_ms)
            try:
                await store.migrate()
            except StorageUnavailableError as exc:  # readyz says so; requests retry the migration
                logger.error("database not ready at start-up: %s", exc)
            rate_limiter = build_rate_limiter(
                settings, RateLimitHooks(on_limited=metrics.rate_limited)
            )
            if not await rate_limiter.check():
                logger.warning("rate-limit store unreachable at start-up: counting in-process")
            ingest_jobs = IngestJobs(
                settings,
                client=client,
                lock=qa.index.lock,
                on_published=qa.index.refresh,
                embed_model_factory=lambda: build_embed_model(settings),
            )
            monitor = StatusMonitor.for_app(settings, qa=qa, store=store, metrics=metrics)
            await monitor.start()  # gauges set, daily budget seeded from the stored spend
            try:
                yield {
                    "settings": settings,
                    "qa": qa,
                    "store": store,
                    "admin_keys": AdminKeys(settings.admin_api_keys),
                    "ingest_jobs": ingest_jobs,
                    "rate_limiter": rate_limiter,
                    "session_ids": SessionIdSigner(settings.session_secret.get_secret_value()),
                    "client_addresses": ClientAddressResolver(settings.trusted_proxies),
                    "metrics": metrics,
                    "monitor": monitor,
                }
            finally:
                # streams cut by the shutdown's drain limit store what the reader saw first
                if not await store.wait_idle(SHUTDOWN_STORE_WAIT_S):
                    logger.warning("shutdown: some interrupted answers could not be stored")
                await monitor.stop()
                await ingest_jobs.aclose()  # before the client it writes through closes
                await qa.aclose()
                await store.aclose()
                await rate_limiter.aclose()
        finally:
            client.close()

    app = FastAPI(
        title="Textbook RAG",
        version="1.0.0",
        summary="Answers questions about the textbook, citing the page and heading.",
        lifespan=lifespan,
        dependencies=[Depends(record_route)],  # route templates for the access log and metrics
        redoc_url=None,  # /docs is the one API page; its CSP is in api.security.headers
    )
    install_error_handlers(app)
    origins = OriginPolicy.from_settings(settings.cors_origins, env=settings.env)
    # The last added runs first: RequestId -> Observability -> SecurityHeaders -> HttpsOnly
    # (staging, production) -> CORS -> Error -> BodyLimit -> OriginCheck -> JsonBody -> Admission
    # -> routes. CORS sits outside the error and size guards so that an allowed page can read
    # their 413/500 bodies too.
    admission = Admission(
        max_in_flight=settings.max_in_flight,
        max_queued=settings.admission_queue,
        wait_s=settings.admission_wait_s,
        on_change=metrics.admission,
    )
    app.add_middleware(
        AdmissionMiddleware, admission=admission, on_refused=metrics.overloaded_request
    )
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(OriginCheckMiddleware, policy=origins)
    app.add_middleware(BodyLimitMiddleware, max_bytes=settings.max_body_bytes)
    app.add_middleware(ErrorMiddleware)
    app.add_middleware(CORSWithErrorBodyMiddleware, **cors_options(origins))
    if settings.is_deployed:  # staging and production sit behind the platform's TLS proxy
        app.add_middleware(HttpsOnlyMiddleware, trusted_proxies=settings.trusted_proxies)
    app.add_middleware(SecurityHeadersMiddleware, docs_url=app.docs_url)
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(chat.router)
    app.include_router(sessions.router)
    app.include_router(admin.router)
    app.include_router(admin_stats.router)
    app.include_router(dashboard.router)
    app.include_router(health.router)
    app.include_router(widget.router)
    app.include_router(home.router)
    return app

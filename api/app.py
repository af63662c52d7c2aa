"""The FastAPI application factory and its lifespan (clients and models opened once)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TypedDict

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from api.auth import AdminKeys
from api.db.session import StorageUnavailableError
from api.errors import install_error_handlers
from api.middleware import JsonBodyMiddleware, RequestIdMiddleware
from api.routes import chat, health, sessions
from api.storage import ChatStore
from rag.embeddings import LocalEmbedding, build_embed_model
from rag.engine import TextbookQA, build_qa
from rag.settings import Settings, get_settings
from rag.vector_store import build_qdrant_client

logger = logging.getLogger(__name__)


class AppState(TypedDict):
    """Objects shared by all requests, opened in the lifespan."""

    settings: Settings
    qa: TextbookQA
    store: ChatStore
    admin_keys: AdminKeys


def create_app(
    settings: Settings | None = None, *, embed_model: LocalEmbedding | None = None
) -> FastAPI:
    """Build the app; ``uvicorn --factory api.app:create_app`` calls it with no arguments.

    Args:
        settings: the settings; read from the environment when omitted.
        embed_model: an already loaded embedding model to share (tests); loaded at start-up if None.
    """
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[AppState]:
        client = build_qdrant_client(settings)
        try:
            model = embed_model or build_embed_model(settings)
            await asyncio.to_thread(model.load)  # the first request should not pay for it
            qa = build_qa(settings, client=client, embed_model=model)
            if not qa.is_ready():
                logger.warning(
                    "no index for collection %r yet: run rag-ingest (/readyz is 503 until then)",
                    settings.collection,
                )
            store = ChatStore.from_settings(settings)
            try:
                await store.migrate()
            except StorageUnavailableError as exc:  # readyz says so; requests retry the migration
                logger.error("database not ready at start-up: %s", exc)
            try:
                yield {
                    "settings": settings,
                    "qa": qa,
                    "store": store,
                    "admin_keys": AdminKeys(settings.admin_api_keys),
                }
            finally:
                await qa.aclose()
                await store.aclose()
        finally:
            client.close()

    app = FastAPI(
        title="Textbook RAG",
        version="1.0.0",
        summary="Answers questions about the textbook, citing the page and heading.",
        lifespan=lifespan,
    )
    install_error_handlers(app)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "POST", "DELETE"],
            allow_headers=["Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"],
        )
    app.add_middleware(JsonBodyMiddleware)
    app.add_middleware(RequestIdMiddleware)
    app.include_router(chat.router)
    app.include_router(sessions.router)
    app.include_router(health.router)
    return app

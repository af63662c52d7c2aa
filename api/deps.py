"""FastAPI dependencies: the shared objects of the lifespan state, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.storage import ChatStore
from rag.engine import TextbookQA
from rag.settings import Settings


def get_qa(request: Request) -> TextbookQA:
    """The question-answering pipeline."""
    qa: TextbookQA = request.state.qa
    return qa


def get_app_settings(request: Request) -> Settings:
    """The settings the app was built with."""
    settings: Settings = request.state.settings
    return settings


def get_store(request: Request) -> ChatStore:
    """The conversation store."""
    store: ChatStore = request.state.store
    return store


QADep = Annotated[TextbookQA, Depends(get_qa)]
StoreDep = Annotated[ChatStore, Depends(get_store)]
SettingsDep = Annotated[Settings, Depends(get_app_settings)]

"""FastAPI dependencies, every alias the routes use: lifespan objects, security checks, limits.

The functions live with their concept (``api.security``, ``api.monitoring``); the aliases the
routes declare their parameters with are all here.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from api.monitoring.metrics import Metrics, get_metrics
from api.monitoring.status import StatusMonitor, get_monitor
from api.security.auth import require_admin
from api.security.ratelimit import (
    AdmittedQuestion,
    RateLimitState,
    limit_question,
    limit_reader,
)
from api.security.session_ids import verified_session_id
from api.settings import ServiceSettings
from api.storage import ChatStore
from rag.engine import TextbookQA


def get_qa(request: Request) -> TextbookQA:
    """The question-answering pipeline."""
    qa: TextbookQA = request.state.qa
    return qa


def get_app_settings(request: Request) -> ServiceSettings:
    """The settings the app was built with."""
    settings: ServiceSettings = request.state.settings
    return settings


def get_store(request: Request) -> ChatStore:
    """The conversation store."""
    store: ChatStore = request.state.store
    return store


QADep = Annotated[TextbookQA, Depends(get_qa)]
StoreDep = Annotated[ChatStore, Depends(get_store)]
SettingsDep = Annotated[ServiceSettings, Depends(get_app_settings)]
MetricsDep = Annotated[Metrics, Depends(get_metrics)]
MonitorDep = Annotated[StatusMonitor, Depends(get_monitor)]
#: the per-address limit of a reader request (429 past it), with its RateLimit headers
ReaderLimitDep = Annotated[RateLimitState, Depends(limit_reader)]
#: a question counted under the address and session limits, with its (new or verified) session
AdmittedQuestionDep = Annotated[AdmittedQuestion, Depends(limit_question)]
VerifiedSessionIdDep = Annotated[str, Depends(verified_session_id)]
#: for ``dependencies=[AdminDep]``: the admin key check (401 without a valid ``X-API-Key``)
AdminDep = Depends(require_admin)

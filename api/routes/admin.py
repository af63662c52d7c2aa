"""Admin routes (``X-API-Key``): ingest the book while serving, and read readers' feedback."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Literal

from fastapi import APIRouter, Path as PathParam, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.deps import AdminDep, SettingsDep, StoreDep
from api.errors import ServiceError
from api.ingest_jobs import IngestBusyError, IngestJob, IngestJobs
from api.schemas import ErrorResponse
from api.settings import ServiceSettings

router = APIRouter(prefix="/v1/admin", tags=["admin"], dependencies=[AdminDep])

_AUTH_ERRORS: dict[int | str, dict[str, object]] = {
    401: {"model": ErrorResponse, "description": "No valid admin key in X-API-Key."},
    422: {"model": ErrorResponse, "description": "The request is not valid."},
}
JobId = PathParam(max_length=64, pattern=r"^[A-Za-z0-9_-]+$")


class IngestRequest(BaseModel):
    """What to ingest; an empty body ingests the configured docs folder (``RAG_DOCS_DIR``)."""

    model_config = ConfigDict(extra="forbid")

    docs_dir: str | None = Field(
        default=None,
        min_length=1,
        max_length=1024,
        description="A Docusaurus docs folder: RAG_DOCS_DIR, or a folder under one of "
        "RAG_DOCS_ROOTS. Relative paths are taken from the service's working directory.",
    )
    full: bool = Field(default=False, description="Re-embed every file, changed or not.")


class IngestProgress(BaseModel):
    """How far the job got: files read, then chunks embedded."""

    stage: str
    files_done: int
    files_total: int
    chunks_done: int
    chunks_total: int


class IngestJobOut(BaseModel):
    """An ingest job and its outcome; ``summary`` is the line ``rag-ingest`` prints."""

    job_id: str
    status: Literal["running", "succeeded", "failed"]
    docs_dir: str
    full: bool
    created_at: datetime
    finished_at: datetime | None
    progress: IngestProgress
    version: str | None = Field(description="The index version published, if one was.")
    summary: str | None
    errors: list[str]


class FeedbackItem(BaseModel):
    """A reader's rating, with the answer it rates and the question that answer replied to."""

    message_id: str
    session_id: str
    rating: Literal["up", "down"]
    comment: str | None
    question: str | None
    answer: str
    model: str | None
    page_url: str | None
    created_at: datetime
    updated_at: datetime


class FeedbackPage(BaseModel):
    """One page of feedback, newest first."""

    items: list[FeedbackItem]
    total: int = Field(description="Feedback matching the filter, on every page.")
    limit: int
    offset: int


def _job_out(job: IngestJob) -> IngestJobOut:
    return IngestJobOut(
        job_id=job.id,
        status=job.status,
        docs_dir=job.docs_dir,
        full=job.full,
        created_at=job.created_at,
        finished_at=job.finished_at,
        progress=IngestProgress(
            stage=job.stage,
            files_done=job.files_done,
            files_total=job.files_total,
            chunks_done=job.chunks_done,
            chunks_total=job.chunks_total,
        ),
        version=job.version,
        summary=job.summary,
        errors=list(job.errors),
    )


def allowed_docs_dir(requested: str | None, settings: ServiceSettings) -> Path:
    """The folder to ingest, resolved, if the settings allow it.

    Allowed: ``RAG_DOCS_DIR`` itself, or ``RAG_DOCS_ROOTS`` and any folder under them. Symbolic
    links and ``..`` are resolved before the check, so neither leads outside.

    Raises:
        ServiceError: 403 outside the allowed folders (whether it exists is not revealed),
            422 when an allowed path is not a folder.
    """
    not_a_folder = ServiceError(422, "invalid_request", "docs_dir is not a folder.")
    path = Path(requested) if requested is not None else settings.docs_dir
    try:
        resolved = path.expanduser().resolve()
    except (OSError, ValueError, RuntimeError) as exc:  # NUL byte, unknown ~user, link loop
        raise not_a_folder from exc
    roots = [Path(root).expanduser().resolve() for root in settings.docs_roots]
    if resolved != settings.docs_dir.resolve() and not any(
        resolved.is_relative_to(root) for root in roots
    ):
        raise ServiceError(
            403,
            "docs_dir_not_allowed",
            "docs_dir must be the configured docs folder (RAG_DOCS_DIR) or a folder under "
            "RAG_DOCS_ROOTS.",
        )
    try:
        is_dir = resolved.is_dir()
    except OSError as exc:  # e.g. a name too long
        raise not_a_folder from exc
    if not is_dir:
        raise not_a_folder
    return resolved


def _jobs(request: Request) -> IngestJobs:
    jobs: IngestJobs = request.state.ingest_jobs
    return jobs


@router.post(
    "/ingest",
    status_code=202,
    response_model=IngestJobOut,
    responses={
        **_AUTH_ERRORS,
        403: {"model": ErrorResponse, "description": "docs_dir is outside the allowed folders."},
        409: {"model": ErrorResponse, "description": "An ingest is already running."},
    },
)
async def create_ingest_job(
    request: Request, response: Response, settings: SettingsDep, body: IngestRequest | None = None
) -> IngestJobOut:
    """Start indexing the book in the background; the new version serves once it is complete."""
    body = body or IngestRequest()
    docs_dir = allowed_docs_dir(body.docs_dir, settings)
    try:
        job = _jobs(request).start(
            docs_dir, display=body.docs_dir or str(settings.docs_dir), full=body.full
        )
    except IngestBusyError as exc:
        raise ServiceError(
            409,
            "ingest_running",
            f"Ingest job {exc.job_id} is still running; try again when it has finished.",
        ) from exc
    response.headers["Location"] = f"{router.prefix}/ingest/{job.id}"
    return _job_out(job)


@router.get(
    "/ingest/{job_id}",
    response_model=IngestJobOut,
    responses={**_AUTH_ERRORS, 404: {"model": ErrorResponse, "description": "No such job."}},
)
async def read_ingest_job(request: Request, job_id: str = JobId) -> IngestJobOut:
    """An ingest job's status, progress, summary and errors."""
    job = _jobs(request).get(job_id)
    if job is None:
        raise ServiceError(404, "not_found", "There is no recent ingest job with this id.")
    return _job_out(job)


@router.get("/feedback", response_model=FeedbackPage, responses=_AUTH_ERRORS)
async def read_feedback(
    store: StoreDep,
    limit: int = Query(default=50, ge=1, le=200),
    offset: int = Query(default=0, ge=0, le=1_000_000),
    rating: Literal["up", "down"] | None = None,
) -> FeedbackPage:
    """Recent feedback, newest first, with the question and the answer it rates."""
    total, rows = await store.feedback_page(limit=limit, offset=offset, rating=rating)
    return FeedbackPage(
        items=[
            FeedbackItem(
                message_id=row.message_id,
                session_id=row.message.session_id,
                rating=row.rating,
                comment=row.comment,
                question=question,
                answer=row.message.content,
                model=row.message.model,
                page_url=row.message.page_url,
                created_at=row.created_at,
                updated_at=row.updated_at,
            )
            for row, question in rows
        ],
        total=total,
        limit=limit,
        offset=offset,
    )

"""Ingest while serving: one background job at a time, in this process, on the app's Qdrant client.

The embedded Qdrant (local mode) admits one client per data folder, so an ingest started through
the admin API cannot open its own: it runs ``ingest.pipeline.run_ingest`` in a worker thread over
the service's client. Each client call is made under the lock the retriever already takes, so
searches and ingest writes never run inside the local client at the same time, and a question
waits at most for one batch write. Readers keep getting answers from the published version until
the new one is switched in (an alias move); the answer cache is keyed by that version.

The job embeds with its own copy of the embedding model: the tokenizer of a sentence-transformers
model cannot be reconfigured by one thread (the chunker counts tokens without truncation) while
another encodes a question with it.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal, cast

from qdrant_client import QdrantClient

from ingest.pipeline import IngestInputError, IngestOptions, IngestReport, run_ingest
from rag.retrieval.embeddings import LocalEmbedding
from rag.settings import Settings

logger = logging.getLogger(__name__)
JobStatus = Literal["running", "succeeded", "failed"]
_KEPT_JOBS = 50


class IngestBusyError(RuntimeError):
    """An ingest job is already running; ``job_id`` names it."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"ingest job {job_id} is still running")
        self.job_id = job_id


class IngestCancelledError(RuntimeError):
    """The service is shutting down: the running ingest stops at its next index call."""


@dataclass
class IngestJob:
    """One ingest run started through the API, as its status endpoint shows it."""

    id: str
    docs_dir: str  # as the admin named it (the resolved path stays out of responses)
    full: bool
    status: JobStatus = "running"
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    finished_at: datetime | None = None
    stage: str = "starting"
    files_done: int = 0
    files_total: int = 0
    chunks_done: int = 0
    chunks_total: int = 0
    version: str | None = None
    summary: str | None = None
    errors: list[str] = field(default_factory=list)

    def on_progress(self, stage: str, done: int, total: int) -> None:
        """``run_ingest``'s progress hook: files read, then chunks embedded."""
        self.stage = stage
        if stage == "read":
            self.files_done, self.files_total = done, total
        elif stage == "embed":
            self.chunks_done, self.chunks_total = done, total

    def finish(self, report: IngestReport) -> None:
        """Record a completed run (published, or nothing to do)."""
        self.status, self.stage = "succeeded", "done"
        self.version = report.version
        self.summary = report.summary()
        self.files_total = self.files_total or report.files_seen
        self.errors = [f"skipped {path}: {reason}" for path, reason in report.skipped]
        self.finished_at = datetime.now(UTC)

    def fail(self, message: str) -> None:
        """Record a failed run (the previous version keeps serving)."""
        self.status, self.stage = "failed", "failed"
        self.errors.append(message)
        self.finished_at = datetime.now(UTC)


class _SerialClient:
    """The app's Qdrant client with every call made under ``lock``; refuses calls once cancelled.

    Cleanup (``delete_collection`` of the half-built version) still goes through after a cancel.
    """

    def __init__(
        self, client: QdrantClient, lock: threading.Lock, cancelled: threading.Event
    ) -> None:
        self._client = client
        self._lock = lock
        self._cancelled = cancelled

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._client, name)
        if not callable(attr):
            return attr

        def call(*args: Any, **kwargs: Any) -> Any:
            if self._cancelled.is_set() and name != "delete_collection":
                raise IngestCancelledError("the service is shutting down")
            with self._lock:
                return attr(*args, **kwargs)

        return call


class IngestJobs:
    """Starts ingest jobs (one at a time) and remembers the last few for their status.

    Args:
        settings: chunking, collection and route settings of the served index.
        client: the app's Qdrant client.
        lock: the lock the retriever holds around its client calls.
        embed_model_factory: builds the job's embedding model (loaded on the first job, reused).
    """

    def __init__(
        self,
        settings: Settings,
        *,
        client: QdrantClient,
        lock: threading.Lock,
        embed_model_factory: Callable[[], LocalEmbedding],
    ) -> None:
        self.settings = settings
        self._client = client
        self._lock = lock
        self._embed_model_factory = embed_model_factory
        self._embed_model: LocalEmbedding | None = None
        self._jobs: OrderedDict[str, IngestJob] = OrderedDict()
        self._running: tuple[IngestJob, asyncio.Future[None]] | None = None
        self._cancelled = threading.Event()
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="ingest")

    @property
    def running(self) -> IngestJob | None:
        """The job in progress, if any."""
        job = self._running[0] if self._running is not None else None
        return job if job is not None and job.status == "running" else None

    def get(self, job_id: str) -> IngestJob | None:
        """A recent job by id."""
        return self._jobs.get(job_id)

    def start(self, docs_dir: Path, *, display: str, full: bool = False) -> IngestJob:
        """Start ingesting ``docs_dir`` (an already checked folder) in the background.

        Call it on the event loop. The job's log lines carry the id of the request that started
        it (the context is copied into the worker thread).

        Raises:
            IngestBusyError: another job is running.
        """
        busy = self.running
        if busy is not None:
            raise IngestBusyError(busy.id)
        job = IngestJob(id=uuid.uuid4().hex, docs_dir=display, full=full)
        options = IngestOptions.from_settings(
            self.settings, docs_dir, full=full, show_progress=False
        )
        context = contextvars.copy_context()
        loop = asyncio.get_running_loop()
        future = loop.run_in_executor(self._executor, context.run, self._run, job, options)
        self._running = (job, future)
        future.add_done_callback(lambda _: self._done(job))
        self._jobs[job.id] = job
        while len(self._jobs) > _KEPT_JOBS:
            self._jobs.popitem(last=False)
        logger.info(
            "ingest job started", extra={"event": "ingest_job", "job_id": job.id, "full": full}
        )
        return job

    def _done(self, job: IngestJob) -> None:
        if self._running is not None and self._running[0] is job:
            self._running = None

    def _run(self, job: IngestJob, options: IngestOptions) -> None:
        """The worker thread: run the pipeline, record the outcome on the job."""
        started = time.perf_counter()
        try:
            if self._embed_model is None:
                model = self._embed_model_factory()
                model.load()
                self._embed_model = model
            client = cast(QdrantClient, _SerialClient(self._client, self._lock, self._cancelled))
            report = run_ingest(
                options, client=client, embed_model=self._embed_model, progress=job.on_progress
            )
        except IngestInputError as exc:
            job.fail(str(exc).replace(str(options.docs_dir), job.docs_dir))
        except IngestCancelledError:
            job.fail("cancelled: the service shut down; the previous index is still serving")
        except Exception as exc:
            logger.exception("ingest job %s failed", job.id)
            job.fail(
                f"the ingest failed ({type(exc).__name__}); the previous index is still serving"
            )
        else:
            job.finish(report)
        logger.info(
            "ingest job %s",
            job.status,
            extra={
                "event": "ingest_job",
                "job_id": job.id,
                "status": job.status,
                "version": job.version,
                "duration_s": round(time.perf_counter() - started, 3),
            },
        )

    async def aclose(self, timeout_s: float = 60.0) -> None:
        """Stop a running job at its next index call and wait for it (on shutdown)."""
        self._cancelled.set()
        if self._running is not None:
            _, future = self._running
            try:
                await asyncio.wait_for(asyncio.shield(future), timeout=timeout_s)
            except TimeoutError:
                logger.warning("the ingest job did not stop within %.0f s", timeout_s)
        self._executor.shutdown(wait=False, cancel_futures=True)


__all__ = ["IngestBusyError", "IngestJob", "IngestJobs"]

"""The pipeline's settings hold what the pipeline reads; the service's add their own on top."""

from __future__ import annotations

import subprocess
import sys

import pytest

from api.settings import ServiceSettings
from rag.settings import Settings


def test_the_pipeline_loads_neither_the_service_nor_its_rate_limit_library():
    code = (
        "import sys, rag.settings, rag.engine, ingest.pipeline; "
        "print(sorted(name for name in ('api', 'limits') if name in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True
    )
    assert done.stdout.strip() == "[]"


def test_service_variables_are_read_by_the_service_settings_only(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("RAG_TOP_K", "7")
    monkeypatch.setenv("RAG_CORS_ORIGINS", "https://book.example")
    monkeypatch.setenv("RAG_RATE_LIMIT_SESSION", "not a limit")  # refused by the service only
    pipeline = Settings(_env_file=None)
    assert pipeline.top_k == 7
    assert "cors_origins" not in Settings.model_fields
    with pytest.raises(ValueError, match="is not a rate limit"):
        ServiceSettings(_env_file=None)
    monkeypatch.setenv("RAG_RATE_LIMIT_SESSION", "3/minute")
    service = ServiceSettings(_env_file=None)
    assert (service.top_k, service.cors_origins) == (7, ["https://book.example"])
    assert service.rate_limit_session == "3/minute"

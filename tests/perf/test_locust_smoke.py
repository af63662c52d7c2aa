"""A short locust run (20 readers, 20 s) against a real rag-serve: no request fails.

A smoke of ``make load`` (``perf/load.py``, ``perf/locustfile.py``), not a timing test: the
readers' mix (follow-ups, selected text, streams read to ``done``) must all be answered.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from api.settings import ServiceSettings
from perf.load import SERVICE_ENV, run_locust
from perf.serving import run_service
from tests.conftest import SAMPLE_QA

# locust runs in its own process (perf.load): importing it here would monkey-patch this one
if importlib.util.find_spec("locust") is None:
    pytest.skip("locust is in the perf extra (make install)", allow_module_level=True)


@pytest.mark.slow
def test_twenty_readers_for_twenty_seconds_get_every_answer(
    sample_index: ServiceSettings, tmp_path: Path
):
    data = tmp_path / "data"
    # A copy: the embedded index admits one process, and other tests may hold the original.
    shutil.copytree(
        sample_index.qdrant_path, data / "qdrant", ignore=shutil.ignore_patterns(".lock")
    )
    with run_service(data, SERVICE_ENV) as (base_url, _pid):
        rows = run_locust(
            base_url,
            users=20,
            spawn_rate=10,
            duration="20s",
            out=tmp_path / "locust",
            questions=SAMPLE_QA,
        )
    by_name = {row["Name"]: row for row in rows}
    assert int(by_name["/v1/chat"]["Request Count"]) > 0
    assert int(by_name["/v1/chat/stream"]["Request Count"]) > 0
    assert int(by_name["first token"]["Request Count"]) > 0  # the stream's own metric
    assert sum(int(row["Failure Count"]) for row in rows) == 0, rows
    assert (tmp_path / "locust.html").is_file()

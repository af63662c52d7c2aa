"""Reading metrics back: percentiles from buckets, sums by label, multiprocess bookkeeping."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.cli import prepare_metrics_dir
from api.monitoring.metrics import (
    MULTIPROC_ENV,
    Metrics,
    clear_multiprocess_dir,
    histogram_buckets,
    histogram_quantile,
    sample_total,
    sweep_dead_workers,
)

INF = float("inf")


def test_quantiles_interpolate_within_a_bucket_as_promql_does():
    buckets = [(0.1, 0.0), (0.5, 50.0), (1.0, 100.0), (INF, 100.0)]
    assert histogram_quantile(0.5, buckets) == pytest.approx(0.5)
    assert histogram_quantile(0.25, buckets) == pytest.approx(0.3)
    assert histogram_quantile(0.99, buckets) == pytest.approx(0.99)


def test_a_quantile_in_the_overflow_bucket_is_the_highest_finite_bound():
    assert histogram_quantile(0.99, [(1.0, 1.0), (8.0, 2.0), (INF, 10.0)]) == 8.0


def test_no_observations_no_quantile():
    assert histogram_quantile(0.5, []) is None
    assert histogram_quantile(0.5, [(1.0, 0.0), (INF, 0.0)]) is None


def test_samples_and_buckets_are_summed_over_matching_series():
    metrics = Metrics()
    for route, seconds in (("/v1/chat", 0.3), ("/v1/chat", 3.0), ("/healthz", 0.001)):
        metrics.observe_request(method="GET", route=route, status=200, seconds=seconds)
    metrics.observe_request(method="BREW", route="/v1/chat", status=405, seconds=0.001)
    families = metrics.collect()

    assert sample_total(families, "rag_http_requests_total") == 4
    assert sample_total(families, "rag_http_requests_total", route="/v1/chat", status="200") == 2
    assert sample_total(families, "rag_http_requests_total", method="OTHER") == 1
    assert sample_total(families, "rag_http_requests_total", status={"200", "405"}) == 4
    buckets = dict(
        histogram_buckets(families, "rag_http_request_duration_seconds", route="/v1/chat")
    )
    assert (buckets[0.005], buckets[0.5], buckets[4.0], buckets[INF]) == (1, 2, 3, 3)


def test_two_apps_in_one_process_keep_separate_metrics():
    one, two = Metrics(), Metrics()
    one.rate_limited("session")
    assert sample_total(one.collect(), "rag_rate_limited_total", scope="session") == 1
    assert sample_total(two.collect(), "rag_rate_limited_total", scope="session") == 0


def test_dead_workers_live_gauges_are_dropped_and_counters_kept(tmp_path: Path):
    dead_pid = 2**22 + 12345  # above the default pid_max: no such process
    alive = os.getpid()
    names = [
        f"gauge_livemax_{dead_pid}.db",
        f"gauge_livemin_{dead_pid}.db",
        f"counter_{dead_pid}.db",
        f"gauge_livemax_{alive}.db",
    ]
    for name in names:
        (tmp_path / name).write_bytes(b"")

    assert sweep_dead_workers(str(tmp_path)) == [dead_pid]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        [f"counter_{dead_pid}.db", f"gauge_livemax_{alive}.db"]
    )
    clear_multiprocess_dir(str(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_rag_serve_prepares_a_metrics_dir_for_several_workers(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    monkeypatch.delenv(MULTIPROC_ENV, raising=False)
    assert prepare_metrics_dir(1) == (None, False)
    assert MULTIPROC_ENV not in os.environ

    path, created = prepare_metrics_dir(4)
    try:
        assert created
        assert path is not None
        assert os.environ[MULTIPROC_ENV] == path
        assert Path(path).is_dir()
    finally:
        os.rmdir(path or "")


def test_rag_serve_empties_a_given_metrics_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    stale = tmp_path / "counter_1.db"
    stale.write_bytes(b"x")
    keep = tmp_path / "README"
    keep.write_text("not a value file")
    monkeypatch.setenv(MULTIPROC_ENV, str(tmp_path))

    assert prepare_metrics_dir(1) == (str(tmp_path), False)
    assert not stale.exists()
    assert keep.exists()

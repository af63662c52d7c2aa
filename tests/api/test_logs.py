import json
import logging

import pytest

from api.middleware.request_id import _REQUEST_ID
from api.monitoring.logs import RequestIdFilter, configure_logging


@pytest.fixture
def restore_root_logger():
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_log_lines_are_json_with_the_request_id(restore_root_logger, capsys):
    configure_logging()
    token = _REQUEST_ID.set("req-abcdef12")
    try:
        logging.getLogger("rag.fallback").info(
            "llm attempt", extra={"model": "primary", "outcome": "ok", "duration_ms": 12.5}
        )
    finally:
        _REQUEST_ID.reset(token)
    line = capsys.readouterr().err.strip().splitlines()[-1]
    record = json.loads(line)
    assert record["message"] == "llm attempt"
    assert record["model"] == "primary"
    assert record["outcome"] == "ok"
    assert record["request_id"] == "req-abcdef12"
    assert record["level"] == "INFO"


def test_filter_outside_a_request_sets_none():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "m", None, None)
    assert RequestIdFilter().filter(record)
    assert record.request_id is None

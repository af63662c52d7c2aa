"""JSON logs of the service: one object per line, with the id of the request being served.

Every line has a ``request_id`` key: the id of the request the line was written for, or null for
lines that belong to no request (start-up, shutdown). Secrets are masked and the reader's text is
left out unless ``RAG_LOG_READER_TEXT`` is on (``rag.safety.redaction``).
"""

from __future__ import annotations

import logging

from api.middleware.request_id import current_request_id
from api.settings import ServiceSettings
from rag.logs import configure_json_logging
from rag.safety.redaction import settings_secrets, url_passwords


class RequestIdFilter(logging.Filter):
    """Stamp every record with the id of the request being served (None outside requests)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "request_id", None) is None:
            record.request_id = current_request_id()
        return True


def service_secrets(settings: ServiceSettings) -> list[str]:
    """Secrets to mask: the pipeline's, admin keys, session secret, database and Redis passwords."""
    return [
        *settings_secrets(settings),
        *settings.admin_api_keys,
        settings.session_secret.get_secret_value(),
        *url_passwords(settings.database_url, settings.redis_url),
    ]


def configure_logging(settings: ServiceSettings | None = None) -> None:
    """Send the service's and uvicorn's logs to stderr as JSON lines (entry points call this).

    Args:
        settings: the level (``RAG_LOG_LEVEL``), the secrets to mask and whether reader text
            may be logged; without settings: INFO, built-in patterns only, no reader text.
    """
    if settings is None:
        configure_json_logging(filters=[RequestIdFilter()])
        return
    configure_json_logging(
        settings.log_level,
        secrets=service_secrets(settings),
        log_reader_text=settings.log_reader_text,
        filters=[RequestIdFilter()],
    )

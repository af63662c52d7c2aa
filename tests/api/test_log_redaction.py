"""A log of fake secrets: every line is JSON, and none of the secrets appears in any of them."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest
from pydantic import SecretStr

from api.middleware.request_id import _REQUEST_ID
from api.monitoring.logs import configure_logging
from api.settings import ServiceSettings
from rag.safety.redaction import MASK, Redactor

ADMIN_KEY = "adm-7f3c9e1b2d4a6f80"
LLM_KEY = "sk-proj-Zx81LmQ2vB7nR4tY9uW3"
OTHER_SK = "sk-live0123456789abcdefABCDEF"
SESSION_SECRET = "session-secret-9a8b7c6d5e4f3a2b1c0d9e8f7a6b5c4d"  # noqa: S105 - fake
DB_PASSWORD = "pg-Pa55word-Q7"  # noqa: S105 - fake
REDIS_PASSWORD = "r3dis-Pa55-K9"  # noqa: S105 - fake
BEARER = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
EMAIL = "ada.lovelace+robots@example.org"
SECRETS = [ADMIN_KEY, LLM_KEY, OTHER_SK, SESSION_SECRET, DB_PASSWORD, REDIS_PASSWORD, BEARER, EMAIL]


def settings(**overrides: object) -> ServiceSettings:
    return ServiceSettings(
        _env_file=None,
        admin_api_keys=[ADMIN_KEY],
        llm_api_key=SecretStr(LLM_KEY),
        session_secret=SecretStr(SESSION_SECRET),
        database_url=f"postgresql+asyncpg://rag:{DB_PASSWORD}@db.internal:5432/rag",
        redis_url=f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0",
        **overrides,
    )


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    logging.captureWarnings(False)


def emit_secrets() -> None:
    log = logging.getLogger("tests.secrets")
    log.info("admin key %s used", ADMIN_KEY)  # in the arguments
    log.info(f"calling the model with api_key={LLM_KEY}")  # in the message
    log.info("headers", extra={"headers": {"Authorization": f"Bearer {BEARER}", "X-API-Key": "k"}})
    log.info("raw header line: X-API-Key: %s", ADMIN_KEY)
    log.info("auth header", extra={"authorization": f"Bearer {BEARER}"})
    log.info("stray key", extra={"detail": f"found {OTHER_SK} in a config file"})
    log.info(
        "dsn",
        extra={
            "database": f"postgresql+asyncpg://rag:{DB_PASSWORD}@db.internal:5432/rag",
            "cache": [f"redis://:{REDIS_PASSWORD}@cache.internal:6379/0"],
        },
    )
    log.warning("signed session with %r", SESSION_SECRET)
    log.info("feedback from %s", EMAIL, extra={"reply_to": EMAIL})
    log.info("json body", extra={"body": {"password": "hunter2-hunter2", "nested": [LLM_KEY]}})
    try:
        raise ConnectionError(f"could not reach postgresql://rag:{DB_PASSWORD}@db.internal/rag")
    except ConnectionError:
        log.exception("database down (key %s)", ADMIN_KEY)
    log.info("stack", stack_info=True, extra={"note": f"Bearer {BEARER}"})
    log.info({"event": "dict message", "token": LLM_KEY, "mail": EMAIL})


def test_a_log_of_fake_secrets_shows_none_of_them(restore_logging, capsys):
    configure_logging(settings())
    token = _REQUEST_ID.set("req-secrets-1")
    try:
        emit_secrets()
    finally:
        _REQUEST_ID.reset(token)
    err = capsys.readouterr().err
    lines = [json.loads(line) for line in err.splitlines()]
    assert len(lines) == 13
    for secret in [*SECRETS, "hunter2-hunter2"]:
        assert secret not in err, secret
    assert all(line["request_id"] == "req-secrets-1" for line in lines)
    by_message = {line["message"]: line for line in lines}
    assert by_message[f"admin key {MASK} used"]
    assert by_message[f"calling the model with api_key={MASK}"]
    assert by_message["headers"]["headers"] == {"Authorization": MASK, "X-API-Key": MASK}
    assert by_message[f"raw header line: X-API-Key: {MASK}"]
    assert by_message["auth header"]["authorization"] == MASK
    assert by_message["dsn"]["database"] == f"postgresql+asyncpg://rag:{MASK}@db.internal:5432/rag"
    assert by_message["dsn"]["cache"] == [f"redis://:{MASK}@cache.internal:6379/0"]
    assert by_message[f"feedback from {MASK}@{MASK}"]["reply_to"] == f"{MASK}@{MASK}"
    assert by_message["json body"]["body"] == {"password": MASK, "nested": [MASK]}
    failure = by_message[f"database down (key {MASK})"]
    reached = "ConnectionError: could not reach postgresql://rag:***@db.internal/rag"
    assert reached in failure["exc_info"]
    assert "Traceback" in failure["exc_info"]
    assert "stack_info" in by_message["stack"]
    structured = next(line for line in lines if line.get("event") == "dict message")
    assert structured["token"] == MASK
    assert structured["mail"] == f"{MASK}@{MASK}"


def test_uvicorn_lines_are_json_without_the_coloured_copy(restore_logging, capsys):
    configure_logging(settings())
    logging.getLogger("uvicorn.error").info(
        "Started server process [%d]", 42, extra={"color_message": "Started \x1b[36m%d\x1b[0m"}
    )
    line = json.loads(capsys.readouterr().err.strip())
    assert line["message"] == "Started server process [42]"
    assert line["logger"] == "uvicorn.error"
    assert line["request_id"] is None
    assert "color_message" not in line


@pytest.mark.parametrize("enabled", [False, True])
def test_reader_text_is_logged_only_when_enabled(restore_logging, capsys, enabled: bool):
    configure_logging(settings(log_reader_text=enabled))
    logging.getLogger("api.access").info(
        "request",
        extra={
            "route": "/v1/chat",
            "question": "Where is my robot?",
            "selected_text": "The zero moment point",
            "comment": "a reader's comment",
        },
    )
    line = json.loads(capsys.readouterr().err.strip())
    assert line["route"] == "/v1/chat"
    kept = {"question", "selected_text", "comment"} & set(line)
    assert kept == ({"question", "selected_text", "comment"} if enabled else set())


def test_the_log_level_comes_from_the_settings(restore_logging, capsys):
    configure_logging(settings(log_level="WARNING"))
    logging.getLogger("tests.level").info("hidden")
    logging.getLogger("tests.level").warning("shown")
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == ["shown"]


def test_a_python_warning_becomes_a_json_line(restore_logging, capsys):
    configure_logging(settings())
    logging.getLogger("py.warnings").warning("a library warned")
    assert json.loads(capsys.readouterr().err)["logger"] == "py.warnings"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("url http://host:8000/path stays", "url http://host:8000/path stays"),
        ("prompt_tokens=12 completion_tokens=3", "prompt_tokens=12 completion_tokens=3"),
        ("postgresql://rag@db.internal/rag", "postgresql://rag@db.internal/rag"),
        (
            "GET /v1/admin/feedback?api_key=abc123&limit=5",
            f"GET /v1/admin/feedback?api_key={MASK}&limit=5",
        ),
        ("Authorization: Basic dXNlcjpwYXNz", f"Authorization: Basic {MASK}"),
        ('{"x-api-key": "abcdef0123"}', f'{{"x-api-key": "{MASK}"}}'),
        ("mail bob@example.com.", f"mail {MASK}@{MASK}."),
    ],
)
def test_redactor_masks_what_it_should_and_keeps_the_rest(text: str, expected: str):
    assert Redactor().text(text) == expected


def test_short_configured_values_are_not_treated_as_secrets():
    # a 3-character "key" would mask ordinary words everywhere
    assert Redactor(["abc"]).text("abcdef abc") == "abcdef abc"
    assert Redactor(["abcdef"]).text("x abcdef y") == f"x {MASK} y"

"""``RAG_ENV=production`` refuses unsafe settings, naming each variable that is wrong."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from api.settings import DEV_SESSION_SECRET, ServiceSettings

ADMIN_KEY = "an-admin-key-0123456789abcdef"
SHORT_SECRET = "short-but-secret-value"  # noqa: S105 - a test secret
SAFE: dict[str, Any] = {
    "env": "production",
    "admin_api_keys": [ADMIN_KEY],
    "cors_origins": ["https://book.example"],
    "session_secret": "s" * 40,
    "workers": 2,
    "redis_url": "redis://redis:6379/0",
    "trusted_proxies": ["10.0.0.0/8"],
}


def build(**changes: Any) -> ServiceSettings:
    return ServiceSettings(_env_file=None, **{**SAFE, **changes})


def refusal(**changes: Any) -> str:
    with pytest.raises(ValidationError) as excinfo:
        build(**changes)
    message = str(excinfo.value)
    assert "unsafe settings for RAG_ENV=production" in message
    return message


def test_safe_production_settings_are_accepted():
    settings = build()
    assert settings.env == "production"


def test_no_admin_key_is_refused():
    assert "RAG_ADMIN_API_KEYS is empty" in refusal(admin_api_keys=[])


def test_a_wildcard_origin_is_refused():
    message = refusal(cors_origins=["https://book.example", "*"])
    assert "RAG_CORS_ORIGINS contains '*'" in message


def test_no_origin_is_refused():
    assert "RAG_CORS_ORIGINS is empty" in refusal(cors_origins=[])


def test_the_default_session_secret_is_refused():
    assert "RAG_SESSION_SECRET is the development default" in refusal(
        session_secret=DEV_SESSION_SECRET
    )


def test_a_short_session_secret_is_refused():
    message = refusal(session_secret="x" * 31)
    assert "RAG_SESSION_SECRET is shorter than 32 characters" in message
    assert build(session_secret="x" * 32).env == "production"


def test_several_workers_without_redis_are_refused():
    message = refusal(redis_url=None)
    assert "RAG_WORKERS > 1 needs RAG_REDIS_URL" in message
    assert build(redis_url=None, workers=1).redis_url is None  # one worker: in-process is shared


def test_more_workers_than_the_settings_say_are_checked_by_the_same_guard():
    one = build(redis_url=None, workers=1)
    with pytest.raises(ValueError, match="RAG_WORKERS > 1 needs RAG_REDIS_URL"):
        one.with_workers(2)
    assert build(workers=1).with_workers(4).workers == 4  # with Redis
    development = build(env="development", redis_url=None, workers=1)
    assert development.with_workers(3).workers == 3


@pytest.mark.parametrize("everyone", ["0.0.0.0/0", "::/0"])
def test_trusting_every_address_as_a_proxy_is_refused(everyone: str):
    message = refusal(trusted_proxies=["10.0.0.0/8", everyone])
    assert "RAG_TRUSTED_PROXIES trusts every address" in message


def test_every_problem_is_named_at_once():
    message = refusal(
        admin_api_keys=[], cors_origins=["*"], session_secret=DEV_SESSION_SECRET, redis_url=None
    )
    for variable in (
        "RAG_ADMIN_API_KEYS",
        "RAG_CORS_ORIGINS",
        "RAG_SESSION_SECRET",
        "RAG_WORKERS > 1 needs RAG_REDIS_URL",
    ):
        assert variable in message


def test_development_accepts_the_same_settings():
    settings = build(
        env="development",
        admin_api_keys=[],
        cors_origins=["*"],
        session_secret=DEV_SESSION_SECRET,
        redis_url=None,
        trusted_proxies=["0.0.0.0/0"],
    )
    assert settings.env == "development"


def test_rag_serve_refuses_to_start_names_the_variable_and_hides_values(tmp_path):
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("RAG_") or key == "RAG_SHARED_DIR"
    }
    env.update(
        {
            "RAG_ENV": "production",
            "RAG_DATA_DIR": str(tmp_path),
            "RAG_ADMIN_API_KEYS": ADMIN_KEY,
            "RAG_CORS_ORIGINS": "https://book.example",
            "RAG_SESSION_SECRET": SHORT_SECRET,
            "HF_HUB_OFFLINE": "1",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,  # no .env file from the repository
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "RAG_SESSION_SECRET is shorter than 32 characters" in done.stderr
    assert "serving on" not in done.stdout
    assert SHORT_SECRET not in done.stderr
    assert ADMIN_KEY not in done.stderr


def test_rag_serve_refuses_several_workers_without_redis(tmp_path):
    env = {key: value for key, value in os.environ.items() if not key.startswith("RAG_")}
    env.update(
        {
            "RAG_ENV": "production",
            "RAG_DATA_DIR": str(tmp_path),
            "RAG_ADMIN_API_KEYS": ADMIN_KEY,
            "RAG_CORS_ORIGINS": "https://book.example",
            "RAG_SESSION_SECRET": "s" * 40,
            "HF_HUB_OFFLINE": "1",
        }
    )
    done = subprocess.run(
        [sys.executable, "-m", "api.cli", "--port", "1", "--workers", "2"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=tmp_path,
        check=False,
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert "RAG_REDIS_URL" in done.stderr
    assert "serving on" not in done.stdout


def test_staging_refuses_what_production_refuses():
    with pytest.raises(ValidationError) as excinfo:
        build(env="staging", admin_api_keys=[], session_secret=DEV_SESSION_SECRET)
    message = str(excinfo.value)
    assert "unsafe settings for RAG_ENV=staging" in message
    assert "RAG_ADMIN_API_KEYS is empty" in message
    assert "RAG_SESSION_SECRET is the development default" in message
    assert build(env="staging").is_deployed

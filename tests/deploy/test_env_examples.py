"""Each environment's example env file is accepted by the settings it documents."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from api.settings import ServiceSettings

ENV_DIR = Path(__file__).resolve().parents[2] / "deploy" / "env"


@pytest.mark.parametrize("name", ["development", "staging", "production"])
def test_the_example_env_file_is_valid(name: str, monkeypatch: pytest.MonkeyPatch):
    for key in [k for k in os.environ if k.startswith("RAG_")]:
        monkeypatch.delenv(key)
    settings = ServiceSettings(_env_file=ENV_DIR / f"{name}.env.example")
    assert settings.env == name
    assert settings.is_deployed == (name != "development")
    if settings.is_deployed:
        assert settings.trusted_proxies  # HTTPS redirects need the proxy's X-Forwarded-Proto
        assert settings.redis_url
        assert settings.shutdown_drain_s < 60  # below render.yaml's maxShutdownDelaySeconds

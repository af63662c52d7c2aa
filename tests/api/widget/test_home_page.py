"""``GET /``: the service's own page with the chat widget on it."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.widget import widget_assets
from api.security.headers import HTML_CSP
from api.settings import ServiceSettings


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    # No index or model needed: the app is not started (no lifespan).
    settings = ServiceSettings(_env_file=None, data_dir=tmp_path_factory.mktemp("home"))
    return TestClient(create_app(settings))


def test_the_home_page_loads_the_current_widget_under_the_page_policy(client: TestClient):
    response = client.get("/")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert response.headers["Content-Security-Policy"] == HTML_CSP
    page = response.text
    assert f'<script src="/widget.js?v={widget_assets().version}" defer></script>' in page
    assert '<link rel="stylesheet" href="/home.css">' in page
    assert "{{" not in page  # the template is filled in
    assert "<script>" not in page  # nothing inline for the policy to refuse


def test_the_home_stylesheet_is_served(client: TestClient):
    response = client.get("/home.css")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/css")
    assert "font" in response.text


def test_the_home_page_is_not_in_the_api_reference(client: TestClient):
    assert "/" not in client.get("/openapi.json").json()["paths"]

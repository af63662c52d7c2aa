"""``GET /widget.js`` and ``/widget.css``: the committed build, versioned and cacheable."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.routes.widget import IMMUTABLE, SHORT, widget_assets
from api.settings import ServiceSettings

STATIC = Path(__file__).resolve().parents[3] / "api" / "static"
BOOK = "https://book.example"


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> TestClient:
    # The widget routes need no index or model: the app is not started (no lifespan).
    settings = ServiceSettings(
        _env_file=None, data_dir=tmp_path_factory.mktemp("widget"), cors_origins=[BOOK]
    )
    return TestClient(create_app(settings))


@pytest.mark.parametrize(
    ("path", "media_type"),
    [("/widget.js", "text/javascript"), ("/widget.css", "text/css")],
)
def test_the_committed_build_is_served(client: TestClient, path: str, media_type: str):
    response = client.get(path, headers={"Accept-Encoding": "identity"})

    assert response.status_code == 200
    assert response.headers["content-type"].startswith(media_type)
    assert response.content == (STATIC / path.lstrip("/")).read_bytes()
    assert response.headers["X-Widget-Version"] == widget_assets().version
    assert response.headers["Cache-Control"] == SHORT
    assert response.headers["Cross-Origin-Resource-Policy"] == "cross-origin"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_the_current_version_is_immutable_and_an_old_one_is_not(client: TestClient):
    version = widget_assets().version

    pinned = client.get(f"/widget.js?v={version}")
    old = client.get("/widget.js?v=0123456789ab")

    assert pinned.headers["Cache-Control"] == IMMUTABLE
    assert old.headers["Cache-Control"] == SHORT
    assert pinned.content == old.content


def test_a_revalidation_with_the_etag_is_a_304_without_a_body(client: TestClient):
    etag = client.get("/widget.css").headers["ETag"]

    again = client.get("/widget.css", headers={"If-None-Match": etag})
    other = client.get("/widget.css", headers={"If-None-Match": '"something-else"'})

    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["ETag"] == etag
    assert other.status_code == 200


def test_gzip_when_the_browser_accepts_it(client: TestClient):
    response = client.get("/widget.js", headers={"Accept-Encoding": "gzip, br"})

    assert response.headers["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response.headers["Vary"]
    # httpx decodes it; the bytes on the wire are the gzipped build.
    assert response.content == (STATIC / "widget.js").read_bytes()
    assert len(widget_assets().files["widget.js"].gzipped) < len(response.content) / 2
    assert gzip.decompress(widget_assets().files["widget.js"].gzipped) == response.content


def test_the_book_origin_may_fetch_the_widget(client: TestClient):
    response = client.get("/widget.js", headers={"Origin": BOOK})

    assert response.headers["access-control-allow-origin"] == BOOK


def test_the_widget_routes_are_not_in_the_api_schema(client: TestClient):
    paths = client.get("/openapi.json").json()["paths"]

    assert "/widget.js" not in paths
    assert "/widget.css" not in paths

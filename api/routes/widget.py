"""``GET /widget.js`` and ``GET /widget.css``: the reader's chat widget, loaded by the book's pages.

The two files are built from ``widget/`` and committed under ``api/static/``, so serving them needs
no Node. Both carry the widget's version (a digest of the two files, also in ``X-Widget-Version``)
as their ETag. Caching:

- ``?v=<the current version>``: ``immutable`` for a year (the URL changes when the widget does);
- no ``v`` (or an old one): five minutes, then a revalidation that costs a 304.

The script is loaded cross-origin by a plain ``<script src>`` (no CORS needed); the API's own strict
CSP on the response does not apply to the page that runs it. ``Cross-Origin-Resource-Policy:
cross-origin`` lets book sites that isolate themselves (COEP) load it too.
"""

from __future__ import annotations

import gzip
import hashlib
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fastapi import APIRouter, Request, Response

router = APIRouter(tags=["widget"])

IMMUTABLE = "public, max-age=31536000, immutable"
SHORT = "public, max-age=300, must-revalidate"


@dataclass(frozen=True)
class WidgetFile:
    """One built file: its bytes, gzipped bytes, media type and entity tag."""

    body: bytes
    gzipped: bytes
    media_type: str
    etag: str


@dataclass(frozen=True)
class WidgetAssets:
    """The script and the stylesheet, and the version they share."""

    version: str
    files: dict[str, WidgetFile]


def _file(body: bytes, media_type: str, version: str) -> WidgetFile:
    return WidgetFile(
        body=body,
        gzipped=gzip.compress(body, compresslevel=9, mtime=0),
        media_type=media_type,
        etag=f'"{version}-{hashlib.sha256(body).hexdigest()[:8]}"',
    )


@cache
def widget_assets() -> WidgetAssets:
    """The built widget, read once from the package (``api/static``)."""
    static = resources.files("api").joinpath("static")
    script = static.joinpath("widget.js").read_bytes()
    style = static.joinpath("widget.css").read_bytes()
    version = hashlib.sha256(script + b"\0" + style).hexdigest()[:12]
    return WidgetAssets(
        version=version,
        files={
            "widget.js": _file(script, "text/javascript; charset=utf-8", version),
            "widget.css": _file(style, "text/css; charset=utf-8", version),
        },
    )


def _etag_matches(header: str | None, etag: str) -> bool:
    if not header:
        return False
    candidates = {tag.strip().removeprefix("W/") for tag in header.split(",")}
    return "*" in candidates or etag in candidates


def _serve(name: str, request: Request) -> Response:
    assets = widget_assets()
    asset = assets.files[name]
    pinned = request.query_params.get("v") == assets.version
    headers = {
        "Cache-Control": IMMUTABLE if pinned else SHORT,
        "ETag": asset.etag,
        "X-Widget-Version": assets.version,
        "Vary": "Accept-Encoding",
        "Cross-Origin-Resource-Policy": "cross-origin",
        "Timing-Allow-Origin": "*",  # a book may measure the widget's load time
    }
    if _etag_matches(request.headers.get("if-none-match"), asset.etag):
        return Response(status_code=304, headers=headers)
    accepts = request.headers.get("accept-encoding", "")
    if "gzip" in {part.split(";")[0].strip() for part in accepts.split(",")}:
        headers["Content-Encoding"] = "gzip"
        return Response(asset.gzipped, media_type=asset.media_type, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.api_route("/widget.js", methods=["GET", "HEAD"], include_in_schema=False)
async def read_widget_script(request: Request) -> Response:
    """The chat widget's script (a custom element ``<textbook-chat>``)."""
    return _serve("widget.js", request)


@router.api_route("/widget.css", methods=["GET", "HEAD"], include_in_schema=False)
async def read_widget_style(request: Request) -> Response:
    """The chat widget's stylesheet (loaded into its Shadow DOM)."""
    return _serve("widget.css", request)

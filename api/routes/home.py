"""``GET /``: a page with the chat widget on it, so the service can be tried without a book site.

The page loads ``/widget.js`` (pinned to the current widget version) from the service itself; the
widget then asks this same origin, which the origin check admits as the service's own.
"""

from __future__ import annotations

from functools import cache
from importlib import resources

from fastapi import APIRouter
from fastapi.responses import HTMLResponse, Response

from api.routes.widget import widget_assets

router = APIRouter(tags=["widget"])


@cache
def _page() -> bytes:
    template = resources.files("api").joinpath("static").joinpath("index.html").read_text()
    return template.replace("{{version}}", widget_assets().version).encode()


@router.get("/", include_in_schema=False)
async def read_home() -> Response:
    """The home page: a short text and the chat widget."""
    return HTMLResponse(_page(), headers={"Cache-Control": "no-cache"})


@cache
def _style() -> bytes:
    return resources.files("api").joinpath("static").joinpath("home.css").read_bytes()


@router.get("/home.css", include_in_schema=False)
async def read_home_style() -> Response:
    """The home page's stylesheet."""
    return Response(
        _style(), media_type="text/css; charset=utf-8", headers={"Cache-Control": "no-cache"}
    )

"""The admin dashboard page, its script and stylesheet (``/v1/admin/dashboard*``).

They are public: they hold no data, and the page asks for the admin key, which it sends only in
``X-API-Key`` to ``/v1/admin/stats``.
"""

from __future__ import annotations

from importlib import resources

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(prefix="/v1/admin", tags=["admin"])

DASHBOARD_CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; "
    "img-src 'self' data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)


_ASSETS = {
    "dashboard.html": "text/html; charset=utf-8",
    "dashboard.js": "text/javascript; charset=utf-8",
    "dashboard.css": "text/css; charset=utf-8",
}


def _asset(name: str) -> Response:
    body = resources.files("api").joinpath("static").joinpath(name).read_bytes()
    headers = {"Cache-Control": "no-cache"}
    if name.endswith(".html"):
        headers["Content-Security-Policy"] = DASHBOARD_CSP
    return Response(body, media_type=_ASSETS[name], headers=headers)


@router.get("/dashboard", include_in_schema=False)
async def read_dashboard() -> Response:
    """The admin dashboard page (it asks for the admin key, then polls ``/v1/admin/stats``)."""
    return _asset("dashboard.html")


@router.get("/dashboard.js", include_in_schema=False)
async def read_dashboard_script() -> Response:
    """The dashboard's script."""
    return _asset("dashboard.js")


@router.get("/dashboard.css", include_in_schema=False)
async def read_dashboard_style() -> Response:
    """The dashboard's stylesheet."""
    return _asset("dashboard.css")

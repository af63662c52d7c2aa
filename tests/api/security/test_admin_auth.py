"""Every admin route refuses a request without a valid ``X-API-Key`` (401).

The routes are read from the app itself, so an admin route added later is covered the day it
appears. The one exception is the dashboard's static shell (its page, script and stylesheet): a
browser cannot send a header when it opens a page, so the page asks for the key and sends it on
its ``/v1/admin/stats`` calls. The test proves the shell is public only because it is static:
the same bytes with and without a key.
"""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from starlette.routing import Mount

from tests.utils.http_security import ADMIN_KEY, assert_error_body

ADMIN_PREFIX = "/v1/admin"
PUBLIC_STATIC_ASSETS = {
    "/v1/admin/dashboard": "text/html",
    "/v1/admin/dashboard.js": "text/javascript",
    "/v1/admin/dashboard.css": "text/css",
}
WRONG_KEYS = ["", "wrong-key", ADMIN_KEY + "x", ADMIN_KEY[:-1], ADMIN_KEY.upper()]


def admin_requests(app: FastAPI) -> list[tuple[str, str]]:
    """(method, path) of every route under /v1/admin, path parameters filled in.

    ``iter_route_contexts`` walks included routers as FastAPI's OpenAPI generator does (since
    FastAPI 0.16x, ``app.routes`` holds included routers, not their routes).
    """
    found = []
    for route in iter_route_contexts(app.routes):
        path = route.path or ""
        if not path.startswith(ADMIN_PREFIX):
            continue
        if isinstance(route.original_route, Mount):
            found.append(("GET", f"{path}/anything"))
            continue
        concrete = re.sub(r"\{[^}]+\}", "abc123", path)
        found += [(m, concrete) for m in sorted(route.methods or {"GET"}) if m != "HEAD"]
    return found


def protected(app: FastAPI) -> list[tuple[str, str]]:
    return [r for r in admin_requests(app) if r[1] not in PUBLIC_STATIC_ASSETS]


def test_there_are_admin_routes_to_check(app: FastAPI):
    assert protected(app), "no key-protected admin route found: the check would prove nothing"


def test_every_admin_route_refuses_without_a_key_and_with_a_wrong_one(client: TestClient):
    refused: dict[str, list[int]] = {}
    for method, path in protected(client.app):  # type: ignore[arg-type]  # the app is a FastAPI app
        statuses = []
        for key in [None, *WRONG_KEYS]:
            headers = {} if key is None else {"X-API-Key": key}
            body = {} if method in {"POST", "PUT", "PATCH"} else None
            response = client.request(method, path, headers=headers, json=body)
            assert_error_body(response, 401, "unauthorized")
            assert "X-API-Key" in response.json()["error"]["message"]
            statuses.append(response.status_code)
        refused[f"{method} {path}"] = statuses
    assert all(statuses == [401] * (1 + len(WRONG_KEYS)) for statuses in refused.values())


def test_the_right_key_gets_past_the_check(client: TestClient):
    # Otherwise the 401s above could come from a route that refuses everyone.
    for method, path in protected(client.app):  # type: ignore[arg-type]  # the app is a FastAPI app
        if method != "GET":
            continue  # a POST would start work; GET shows the key is accepted
        response = client.request(method, path, headers={"X-API-Key": ADMIN_KEY})
        assert response.status_code != 401, (path, response.text)


def test_admin_routes_declare_the_key_in_the_openapi_schema(client: TestClient):
    schema = client.get("/openapi.json").json()
    schemes = schema["components"]["securitySchemes"]
    key_schemes = {n for n, s in schemes.items() if s.get("type") == "apiKey"}
    assert {s["name"] for s in schemes.values() if s.get("type") == "apiKey"} == {"X-API-Key"}
    documented = 0
    for path, operations in schema["paths"].items():
        if not path.startswith(ADMIN_PREFIX):
            continue
        for operation in operations.values():
            assert any(set(req) & key_schemes for req in operation.get("security", [])), path
            assert "401" in operation["responses"], path
            documented += 1
    assert documented


@pytest.mark.parametrize(("path", "kind"), sorted(PUBLIC_STATIC_ASSETS.items()))
def test_the_public_dashboard_shell_is_static(client: TestClient, path: str, kind: str):
    anonymous = client.get(path)
    with_key = client.get(path, headers={"X-API-Key": ADMIN_KEY})

    assert anonymous.status_code == 200
    assert anonymous.headers["content-type"].startswith(kind)
    assert anonymous.content == with_key.content


def test_no_public_asset_is_listed_that_the_app_does_not_serve(app: FastAPI):
    served = {path for _, path in admin_requests(app)}
    assert set(PUBLIC_STATIC_ASSETS) <= served

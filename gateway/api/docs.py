"""``/api/v1/docs`` and ``/api/v1/openapi.json``: the REST API's description, served offline.

Swagger UI's script and style (5.x, which reads OpenAPI 3.1) come from the
``fastapi-offline`` package's static files and are served by the gateway itself
(``/api/v1/docs/assets/``), not from a CDN: sites behind firewalls, and the demo
without internet, would otherwise show a blank page.
"""

from __future__ import annotations

from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from starlette.staticfiles import StaticFiles

from core.settings import Settings

API_PREFIX = "/api/v1"
_ASSETS = f"{API_PREFIX}/docs/assets"
# swagger-ui-bundle.js, swagger-ui.css and favicon.png (we use the files only, not its app)
_STATIC = files("fastapi_offline") / "static"
_DESCRIPTION = (
    "Run OSCAR services with one authenticated API: send raw bytes, text or JSON, "
    "get the decoded output back. Authenticate with `Authorization: Bearer <token>` "
    "(an OIDC access token, or a service's token for its own /run) or a session."
)


def openapi_document(routes: list[Any], settings: Settings) -> dict[str, Any]:
    """The OpenAPI document of ``routes``, with the bearer scheme and our prefix as server."""
    document = get_openapi(
        title="oscar-gateway REST API",
        version="1",
        description=_DESCRIPTION,
        routes=routes,
        servers=[{"url": settings.root_path or "/"}],
    )
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"}
    }
    document["security"] = [{"bearer": []}]
    return document


def install_docs(app: FastAPI, settings: Settings, routes: list[Any]) -> None:
    """The OpenAPI JSON (built once), Swagger UI and its assets, all from this process."""
    built: list[dict[str, Any]] = []
    assets = f"{settings.root_path}{_ASSETS}"

    async def openapi_json() -> JSONResponse:
        if not built:
            built.append(openapi_document(routes, settings))
        return JSONResponse(built[0])

    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{settings.root_path}{API_PREFIX}/openapi.json",
            title="oscar-gateway REST API",
            swagger_js_url=f"{assets}/swagger-ui-bundle.js",
            swagger_css_url=f"{assets}/swagger-ui.css",
            swagger_favicon_url=f"{assets}/favicon.png",
        )

    app.add_api_route(f"{API_PREFIX}/openapi.json", openapi_json, include_in_schema=False)
    app.add_api_route(f"{API_PREFIX}/docs", docs, include_in_schema=False)
    app.mount(_ASSETS, StaticFiles(directory=str(_STATIC)), name="swagger-ui")

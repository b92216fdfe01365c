"""Render ``GatewayError`` (and anything unexpected) for people and programs.

API clients get JSON ``{"error", "message"[, "detail"]}``; browsers asking
for HTML get a short page.  Nobody ever sees a traceback: unexpected errors
are logged once, with the request id, and answered with a generic 500.
"""

from __future__ import annotations

import html
import logging
from collections.abc import Mapping
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from core.errors import GatewayError, LoginRequired, PayloadTooLarge, RateLimited

log = logging.getLogger("core.errors")


def wants_html(request: Request) -> bool:
    accept = request.headers.get("accept", "")
    return "text/html" in accept and not request.url.path.startswith(
        (f"{request.scope.get('root_path', '')}/api/", "/api/")
    )


def render(request: Request, status: int, body: Mapping[str, object]) -> Response:
    headers: dict[str, str] = {}
    if wants_html(request):
        message = html.escape(str(body.get("message", "")))
        page = (
            "<!doctype html><meta charset=utf-8><title>oscar-gateway: error</title>"
            f"<main style='font-family:system-ui;max-width:40rem;margin:4rem auto'>"
            f"<h1>{status}</h1><p>{message}</p></main>"
        )
        return HTMLResponse(page, status_code=status, headers=headers)
    return JSONResponse(body, status_code=status, headers=headers)


def login_url(request: Request, root_path: str) -> str:
    """``{prefix}/auth/login?next=<this page>``."""
    path = request.url.path
    if root_path and not path.startswith(root_path + "/") and path != root_path:
        path = root_path + path
    here = path + (f"?{request.url.query}" if request.url.query else "")
    return f"{root_path}/auth/login?next={quote(here, safe='')}"


def error_response(request: Request, exc: GatewayError, *, root_path: str) -> Response:
    """The one rendering of a ``GatewayError``: status, body, and the headers it implies."""
    if exc.status_code >= 500:
        log.warning("%s: %s", exc.code, exc.detail or exc.message)
    if isinstance(exc, LoginRequired) and wants_html(request):
        return RedirectResponse(login_url(request, root_path), status_code=303)
    response = render(request, exc.status_code, exc.to_dict())
    if isinstance(exc, RateLimited):
        response.headers["Retry-After"] = str(exc.retry_after)
    if exc.status_code == 401:
        response.headers["WWW-Authenticate"] = "Bearer"
    if isinstance(exc, PayloadTooLarge):
        # The body may be unread: closing spares the client sending the rest.
        response.headers["Connection"] = "close"
    return response


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    body = {"error": "http_error", "message": str(exc.detail)}
    response = render(request, exc.status_code, body)
    for key, value in (exc.headers or {}).items():
        response.headers[key] = value
    return response


async def _validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    problems = "; ".join(
        f"{'.'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg')}" for err in exc.errors()
    )
    body = {"error": "invalid_request", "message": f"The request is not valid: {problems}"}
    return render(request, 422, body)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    body = {"error": "internal", "message": GatewayError.default_message}
    return render(request, 500, body)


def install_error_handlers(app: FastAPI, *, root_path: str) -> None:
    async def gateway_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, GatewayError)
        return error_response(request, exc, root_path=root_path)

    app.add_exception_handler(GatewayError, gateway_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _unexpected)

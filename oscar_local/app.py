"""``create_app(config)``: the Starlette app of oscar-local, with OSCAR's error quirks."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from oscar_local.cluster import Cluster
from oscar_local.config import ServerConfig
from oscar_local.errors import HttpError
from oscar_local.routes import buckets, invoke, logs, services, system

log = logging.getLogger("oscar_local")


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HttpError)
    headers = {}
    if exc.status_code == 401 and not exc.message:
        headers["WWW-Authenticate"] = 'Basic realm="Authorization Required"'  # gin's BasicAuth
    return PlainTextResponse(exc.message, status_code=exc.status_code, headers=headers)


async def _not_found(request: Request, exc: Exception) -> Response:
    # OSCAR's router (gin) answers unknown routes AND wrong methods with this text, never 405
    if isinstance(exc, HTTPException) and exc.status_code not in (404, 405):
        return PlainTextResponse(str(exc.detail), status_code=exc.status_code)
    return PlainTextResponse("404 page not found", status_code=404)


async def _unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error on %s %s", request.method, request.url.path)
    return PlainTextResponse("internal error", status_code=500)


class _NoImplicitHead:
    """Starlette answers HEAD on every GET route; gin (OSCAR's router) does not: 404."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "HEAD":
            await PlainTextResponse("404 page not found", status_code=404)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def create_app(config: ServerConfig) -> Starlette:
    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with httpx.AsyncClient(timeout=10.0) as http:
            cluster = Cluster(config, http)
            await cluster.start()
            app.state.cluster = cluster
            try:
                yield
            finally:
                await cluster.stop()

    return Starlette(
        routes=[*system.routes, *services.routes, *invoke.routes, *logs.routes, *buckets.routes],
        exception_handlers={
            HttpError: _http_error,
            HTTPException: _not_found,
            Exception: _unexpected,
        },
        middleware=[Middleware(_NoImplicitHead)],
        lifespan=lifespan,
    )

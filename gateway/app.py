"""``create_app(settings)``: builds the gateway; nothing happens at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import httpx
from fastapi import FastAPI

from gateway.errorpages import install_error_handlers
from gateway.metrics import Metrics
from gateway.settings import Settings

log = logging.getLogger("gateway")


def create_app(settings: Settings) -> FastAPI:
    """The gateway ASGI app for ``settings``; clients are opened in its lifespan."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            http = await stack.enter_async_context(_http_client(settings))
            app.state.http = http
            yield

    app = FastAPI(
        title="oscar-gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    return app


def _http_client(settings: Settings) -> httpx.AsyncClient:
    timeout = httpx.Timeout(
        settings.oscar.timeout_seconds, connect=settings.oscar.connect_timeout_seconds
    )
    return httpx.AsyncClient(timeout=timeout, verify=settings.oscar.verify_tls)

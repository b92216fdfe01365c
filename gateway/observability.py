"""Request ids, access log lines and HTTP metrics for every request.

``ObservabilityMiddleware`` (plain ASGI, so event streams and websockets pass
untouched) accepts a sane incoming ``X-Request-ID`` or makes one, exposes it
through ``current_request_id()`` to log lines and to outgoing OSCAR calls,
returns it to the caller, writes one access line per request and records
``gateway_http_requests_total`` / ``..._duration_seconds`` by route template
(never the raw path, so the number of series stays bounded).
"""

from __future__ import annotations

import logging
import re
import time

import httpx
from fastapi import FastAPI
from starlette.routing import BaseRoute, Mount, get_route_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.metrics import Metrics, exposition
from core.requestid import (
    REQUEST_ID_HEADER,
    accept_request_id,
    current_request_id,
    request_id_var,
)
from core.settings import Settings

# Probes and scrapes every few seconds would drown the access log.
_QUIET_ROUTES = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED = "<unmatched>"

access_log = logging.getLogger("gateway.access")


def route_template(scope: Scope, outer_root_path: str) -> str:
    """The matched route's path template, mounts included: ``/ui/{name}/gradio_api/...``."""
    route: BaseRoute | None = scope.get("route")
    regex: re.Pattern[str] | None = getattr(route, "path_regex", None)
    # Routers add each Mount's matched path to root_path; keep the part below our own.
    mounted = str(scope.get("root_path", ""))[len(outer_root_path) :]
    if route is None or regex is None:
        # FastAPI's router does not record a Mount it dispatched to, only its root_path.
        return f"{mounted}/{{path}}" if mounted else UNMATCHED
    template = str(getattr(route, "path", ""))
    if isinstance(route, Mount):
        template += "/{path}"
    return mounted + _router_prefix(get_route_path(scope), regex) + template


def _router_prefix(route_path: str, regex: re.Pattern[str]) -> str:
    """The literal prefix of an included router (``/api/v1``): FastAPI keeps included
    routers nested, so the matched route only knows its own part of the path."""
    for index, char in enumerate(route_path):
        if char == "/" and regex.match(route_path[index:]):
            return route_path[:index]
    return ""


class ObservabilityMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers", ()))
        request_id = accept_request_id(_decode(headers.get(b"x-request-id")))
        # No reset: uvicorn serves each request in its own task and context, and the
        # outermost error handler still logs an unexpected error with this id.
        request_id_var.set(request_id)
        if scope["type"] == "websocket":
            await self.app(scope, receive, send)
            return
        await self._http(scope, receive, send, request_id)

    async def _http(self, scope: Scope, receive: Receive, send: Send, request_id: str) -> None:
        outer_root_path = str(scope.get("root_path", ""))
        status = 500
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                message.setdefault("headers", [])
                message["headers"] = [
                    *message["headers"],
                    (b"x-request-id", request_id.encode()),
                ]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            duration = time.perf_counter() - started
            route = route_template(scope, outer_root_path)
            self._record(scope, route, status, duration)

    def _record(self, scope: Scope, route: str, status: int, duration: float) -> None:
        method = str(scope.get("method", ""))
        self.metrics.requests.labels(method=method, route=route, status=str(status)).inc()
        self.metrics.latency.labels(method=method, route=route).observe(duration)
        level = logging.DEBUG if route in _QUIET_ROUTES and status < 400 else logging.INFO
        path = str(scope.get("path", ""))
        client = scope.get("client")
        access_log.log(
            level,
            "%s %s %s",
            method,
            path,
            status,
            extra={
                "method": method,
                "path": path,
                "route": route,
                "status": status,
                "duration": round(duration, 6),
                "client": client[0] if client else None,
            },
        )


def _decode(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


def forward_request_id(http: httpx.AsyncClient, oscar_url: str) -> None:
    """Send the current request id to OSCAR with every call made through ``http``."""
    base = oscar_url.rstrip("/")

    async def add_header(request: httpx.Request) -> None:
        request_id = current_request_id()
        if request_id and str(request.url).startswith(base):
            request.headers.setdefault(REQUEST_ID_HEADER, request_id)

    http.event_hooks["request"] = [*http.event_hooks.get("request", []), add_header]


def install_observability(app: FastAPI, settings: Settings, metrics: Metrics) -> None:
    """Request-id/access-log/metrics middleware, and ``GET /metrics`` unless it has its own port."""
    app.add_middleware(ObservabilityMiddleware, metrics=metrics)
    if not settings.metrics_port:
        endpoint = exposition(metrics, settings)
        app.add_api_route("/metrics", endpoint, methods=["GET"], include_in_schema=False)

"""Prometheus metrics of one gateway app (its own registry, made in ``create_app``).

Other modules record through the instance handed to them (``gateway.deps.AppMetrics``
for routes); ``/metrics`` renders ``registry`` in the exposition format.
Scrapes are for Prometheus, not the public: with ``GATEWAY_METRICS_PORT`` the
route lives only on ``metrics_app``, served on that port (``oscar-gateway serve``),
and with ``GATEWAY_METRICS_TOKEN`` it wants ``Authorization: Bearer <token>``.
"""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from core.errors import Unauthorized
from core.settings import Settings


@dataclass
class Metrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.requests = Counter(
            "gateway_http_requests_total",
            "HTTP requests by route and status",
            ["method", "route", "status"],
            registry=r,
        )
        self.latency = Histogram(
            "gateway_http_request_duration_seconds",
            "HTTP request latency by route",
            ["method", "route"],
            registry=r,
        )
        self.invocations = Counter(
            "gateway_invocations_total",
            "Service invocations by service, mode and outcome",
            ["service", "mode", "outcome"],
            registry=r,
        )
        self.jobs_in_flight = Gauge(
            "gateway_jobs_in_flight",
            "Asynchronous jobs submitted and not yet finished",
            registry=r,
        )
        self.mounted_uis = Gauge("gateway_mounted_uis", "Gradio apps currently mounted", registry=r)
        self.ui_sessions = Gauge(
            "gateway_ui_sessions",
            "Gradio sessions whose state the mounted apps hold (at the last sweep)",
            registry=r,
        )
        self.ui_evictions = Counter(
            "gateway_ui_evictions_total", "Gradio apps dropped from the LRU", registry=r
        )

    def invocation(self, service: str, mode: str, outcome: str) -> None:
        """Count one invocation; ``mode`` is sync|async, ``outcome`` ok|error|timeout|cancelled."""
        self.invocations.labels(service=service, mode=mode, outcome=outcome).inc()


def exposition(metrics: Metrics, settings: Settings) -> Callable[[Request], Awaitable[Response]]:
    """The ``GET /metrics`` endpoint: the exposition format, behind the token when one is set."""
    token = settings.metrics_token.get_secret_value()

    async def endpoint(request: Request) -> Response:
        if token and not _bearer_matches(request.headers.get("authorization", ""), token):
            error = Unauthorized("Scraping the metrics needs the metrics bearer token.")
            headers = {"WWW-Authenticate": 'Bearer realm="metrics"'}
            return JSONResponse(error.to_dict(), status_code=401, headers=headers)
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return endpoint


def _bearer_matches(header: str, token: str) -> bool:
    scheme, _, value = header.partition(" ")
    return scheme.lower() == "bearer" and hmac.compare_digest(value.strip(), token)


def metrics_app(metrics: Metrics, settings: Settings) -> Starlette:
    """The app of the separate metrics listener: ``/metrics`` and nothing else."""
    return Starlette(routes=[Route("/metrics", exposition(metrics, settings), methods=["GET"])])

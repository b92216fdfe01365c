"""Prometheus metrics of one gateway app (its own registry, made in ``create_app``).

Other modules record through ``request.app.state.metrics`` (or the instance
handed to them); ``/metrics`` renders ``registry`` in the exposition format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


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

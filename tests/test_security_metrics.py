"""``/metrics`` is for Prometheus only: its own port, a bearer token, never through a proxy.

Issue 10 #8: the k8s Ingress routed ``/oscar-gateway/metrics`` to the replicas.
With ``GATEWAY_METRICS_PORT`` the main port answers 404 and a second listener
serves the scrape; with ``GATEWAY_METRICS_TOKEN`` a scrape needs the bearer; our
Nginx answers 404 whichever way the path is spelled.  (tests/test_deploy_k8s.py
shows the Ingress only reaches the main port.)
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from devstack.gateway import GatewayProcess
from devstack.nginx import Nginx
from devstack.processes import free_port, wait_for_port

TOKEN = "metrics-token-for-the-scraper-0123456789"


def test_with_a_token_a_scrape_needs_the_right_bearer(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_factory(metrics_token=TOKEN)
    url = f"{gateway.url}/metrics"
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": f"Basic {TOKEN}"}):
        refused = httpx.get(url, headers=headers)
        assert refused.status_code == 401
        assert refused.headers["www-authenticate"].startswith("Bearer")
        assert refused.json()["message"] == "Scraping the metrics needs the metrics bearer token."
        assert "gateway_http_requests_total" not in refused.text
    scraped = httpx.get(url, headers={"Authorization": f"Bearer {TOKEN}"})
    assert scraped.status_code == 200
    assert "gateway_http_requests_total" in scraped.text


def test_with_a_metrics_port_only_that_port_serves_metrics(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    port = free_port()
    gateway = gateway_factory(metrics_port=port, metrics_token=TOKEN)
    assert httpx.get(f"{gateway.url}/healthz").status_code == 200
    wait_for_port(port)
    bearer = {"Authorization": f"Bearer {TOKEN}"}
    # The main port (what a proxy or Ingress reaches) has no metrics, even with the token.
    assert httpx.get(f"{gateway.url}/metrics", headers=bearer).status_code == 404
    side = f"http://127.0.0.1:{port}"
    scraped = httpx.get(f"{side}/metrics", headers=bearer)
    assert scraped.status_code == 200
    assert 'gateway_http_requests_total{method="GET",route="/healthz",status="200"}' in (
        scraped.text
    )
    # The token still guards that port, and it serves nothing else.
    assert httpx.get(f"{side}/metrics").status_code == 401
    assert httpx.get(f"{side}/healthz").status_code == 404
    assert httpx.get(f"{side}/api/v1/services").status_code == 404


def test_nginx_refuses_metrics_however_the_path_is_spelled(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    port = free_port()
    with Nginx([port]) as nginx:
        gateway = gateway_factory(port=port, public_url=nginx.url)
        # The legitimate scrape, straight at the replica.
        assert "gateway_http_requests_total" in httpx.get(f"{gateway.url}/metrics").text
        base = f"http://127.0.0.1:{nginx.port}/oscar-gateway"
        for path in (
            "/metrics",
            "/metrics/",
            "/metrics?x=1",
            "//metrics",
            "/./metrics",
            "/%6detrics",
        ):
            response = httpx.get(base + path, follow_redirects=True)
            assert response.status_code == 404, path
            assert "gateway_http_requests_total" not in response.text

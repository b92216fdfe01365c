"""Limits through a real gateway process: 413 body size, 429 rate, 504 upstream timeout."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Callable, Iterator

import httpx
import pytest

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from devstack.processes import free_port


@pytest.fixture(scope="module")
def alice_bearer(idp: DevIdp) -> dict[str, str]:
    return {"Authorization": f"Bearer {fetch_tokens(idp, user='alice')['access_token']}"}


class _SlowOscar(http.server.BaseHTTPRequestHandler):
    """An OSCAR that never answers in time: stands in for an overloaded cluster."""

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length", "0"))
        self.rfile.read(length)
        time.sleep(3)
        self.send_response(200)
        self.end_headers()

    do_GET = do_POST

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def slow_oscar() -> Iterator[str]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _SlowOscar)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def _nowhere() -> str:
    return f"http://127.0.0.1:{free_port()}"


def test_body_over_the_limit_is_413_with_a_message(
    auth_gateway_factory: Callable[..., GatewayProcess], idp: DevIdp, alice_bearer: dict[str, str]
) -> None:
    gateway = auth_gateway_factory(idp, limits__max_body_bytes=1000, oscar__url=_nowhere())
    url = f"{gateway.url}/api/v1/services/cowsay/run"
    response = httpx.post(url, content=b"x" * 1001, headers=alice_bearer)
    assert response.status_code == 413
    body = response.json()
    assert body["error"] == "payload_too_large"
    assert "1000 bytes" in body["message"]


def test_streamed_body_over_the_limit_is_413(
    auth_gateway_factory: Callable[..., GatewayProcess], idp: DevIdp, alice_bearer: dict[str, str]
) -> None:
    gateway = auth_gateway_factory(idp, limits__max_body_bytes=1000, oscar__url=_nowhere())

    def chunks() -> Iterator[bytes]:
        for _ in range(5):
            yield b"y" * 400

    url = f"{gateway.url}/api/v1/services/cowsay/run"
    # A generator body is sent chunked: no Content-Length for the gateway to check up front.
    response = httpx.post(url, content=chunks(), headers=alice_bearer)
    assert response.status_code == 413
    assert response.json()["error"] == "payload_too_large"


def test_passthrough_body_over_the_limit_is_413(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_factory(limits__max_body_bytes=100, oscar__url=_nowhere())
    response = httpx.post(
        f"{gateway.url}/oscar/run/cowsay", content=b"z" * 101, headers={"Authorization": "Bearer x"}
    )
    assert response.status_code == 413


def test_invocations_over_the_rate_are_429_with_retry_after(
    auth_gateway_factory: Callable[..., GatewayProcess], idp: DevIdp, alice_bearer: dict[str, str]
) -> None:
    gateway = auth_gateway_factory(idp, limits__invocations_per_minute=2, oscar__url=_nowhere())
    url = f"{gateway.url}/api/v1/services/cowsay/run"
    first = [httpx.post(url, content=b"hi", headers=alice_bearer) for _ in range(2)]
    # Counted, then refused by OSCAR being unreachable.
    assert [r.status_code for r in first] == [503, 503]
    third = httpx.post(url, content=b"hi", headers=alice_bearer)
    assert third.status_code == 429
    assert third.json()["error"] == "rate_limited"
    assert 1 <= int(third.headers["Retry-After"]) <= 60


def test_rate_limit_is_per_user(
    auth_gateway_factory: Callable[..., GatewayProcess], idp: DevIdp, alice_bearer: dict[str, str]
) -> None:
    gateway = auth_gateway_factory(idp, limits__invocations_per_minute=1, oscar__url=_nowhere())
    url = f"{gateway.url}/api/v1/services/cowsay/run"
    bob = {"Authorization": f"Bearer {fetch_tokens(idp, user='bob')['access_token']}"}
    assert httpx.post(url, content=b"hi", headers=alice_bearer).status_code == 503
    assert httpx.post(url, content=b"hi", headers=alice_bearer).status_code == 429
    assert httpx.post(url, content=b"hi", headers=bob).status_code == 503


def test_slow_oscar_is_504_with_a_message(
    auth_gateway_factory: Callable[..., GatewayProcess],
    idp: DevIdp,
    alice_bearer: dict[str, str],
    slow_oscar: str,
) -> None:
    gateway = auth_gateway_factory(idp, oscar__url=slow_oscar, oscar__timeout_seconds=1)
    run = httpx.post(
        f"{gateway.url}/api/v1/services/cowsay/run", content=b"hi", headers=alice_bearer, timeout=20
    )
    assert run.status_code == 504
    assert run.json()["error"] == "upstream_timeout"
    assert "too long" in run.json()["message"]
    passthrough = httpx.get(
        f"{gateway.url}/oscar/system/services", headers=alice_bearer, timeout=20
    )
    assert passthrough.status_code == 504

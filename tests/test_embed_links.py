"""Embedding headers, CORS and signed embed links, through a real gateway process."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from auth.embed import EMBED_COOKIE, mint_link, seal
from core.settings import Settings
from devstack.gateway import GatewayProcess

SECRET = secrets.token_urlsafe(32)
ALLOWED = "http://127.0.0.1:9"


@pytest.fixture(scope="module")
def gateway(module_gateway_factory: Callable[..., GatewayProcess]) -> GatewayProcess:
    """One gateway for the module: its tests send it links and preflights, it keeps nothing."""
    return module_gateway_factory(session__secret=SECRET, embed__allowed_origins=[ALLOWED])


def _settings(gateway: GatewayProcess, **extra: Any) -> Settings:
    return Settings(demo=True, public_url=gateway.public_url, session={"secret": SECRET}, **extra)


def test_every_response_limits_framing_to_the_allow_list(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.url}/healthz")
    assert response.headers["content-security-policy"] == f"frame-ancestors 'self' {ALLOWED}"


def test_cors_preflight_from_an_allowed_origin_is_credentialed(gateway: GatewayProcess) -> None:
    response = httpx.options(
        f"{gateway.url}/api/v1/services",
        headers={
            "Origin": ALLOWED,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ALLOWED
    assert response.headers["access-control-allow-credentials"] == "true"


def test_cors_refuses_other_origins(gateway: GatewayProcess) -> None:
    evil = "http://evil.example"
    preflight = httpx.options(
        f"{gateway.url}/api/v1/services",
        headers={"Origin": evil, "Access-Control-Request-Method": "GET"},
    )
    assert preflight.status_code == 400
    assert "access-control-allow-origin" not in preflight.headers
    simple = httpx.get(f"{gateway.url}/healthz", headers={"Origin": evil})
    assert "access-control-allow-origin" not in simple.headers


def test_a_signed_link_sets_the_embed_cookie_and_opens_the_ui(gateway: GatewayProcess) -> None:
    url, expires = mint_link(
        _settings(gateway), service="cowsay", sub="alice", service_token="a" * 64
    )
    assert expires > time.time()
    response = httpx.get(url.replace(gateway.public_url, gateway.url))
    assert response.status_code == 303
    assert response.headers["location"] == "/ui/cowsay/"
    cookie = response.headers["set-cookie"]
    assert cookie.startswith(f"{EMBED_COOKIE}=")
    assert "Path=/ui/cowsay/" in cookie and "HttpOnly" in cookie
    assert "aaaa" not in cookie  # the service token travels sealed, never readable


def test_https_embed_cookie_is_a_partitioned_third_party_cookie(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_factory(session__secret=SECRET, public_url="https://gw.example/prefix")
    settings = Settings(
        demo=True, public_url="https://gw.example/prefix", session={"secret": SECRET}
    )
    url, _ = mint_link(settings, service="cowsay", sub="alice", service_token="b" * 64)
    response = httpx.get(url.replace("https://gw.example/prefix", gateway.url))
    assert response.status_code == 303
    assert response.headers["location"] == "/prefix/ui/cowsay/"
    cookie = response.headers["set-cookie"].lower()
    for attribute in (
        "secure",
        "samesite=none",
        "partitioned",
        "httponly",
        "path=/prefix/ui/cowsay/",
    ):
        assert attribute in cookie


def test_an_expired_link_is_refused(gateway: GatewayProcess) -> None:
    claims = {"kind": "link", "svc": "cowsay", "sub": "alice", "tok": "c" * 64, "exp": 1}
    response = httpx.get(
        f"{gateway.url}/embed/cowsay", params={"t": seal(_settings(gateway), claims)}
    )
    assert response.status_code == 403
    assert "expired" in response.json()["message"]


def test_a_link_only_opens_its_own_service(gateway: GatewayProcess) -> None:
    url, _ = mint_link(_settings(gateway), service="cowsay", sub="alice", service_token="d" * 64)
    other = url.replace(gateway.public_url, gateway.url).replace("/embed/cowsay", "/embed/grayify")
    response = httpx.get(other)
    assert response.status_code == 403
    assert "another service" in response.json()["message"]


def test_a_tampered_or_foreign_link_is_refused(gateway: GatewayProcess) -> None:
    foreign = Settings(demo=True, session={"secret": secrets.token_urlsafe(32)})
    url, _ = mint_link(foreign, service="cowsay", sub="alice", service_token="e" * 64)
    token = url.split("t=", 1)[1]
    response = httpx.get(f"{gateway.url}/embed/cowsay", params={"t": token})
    assert response.status_code == 403
    assert httpx.get(f"{gateway.url}/embed/cowsay", params={"t": "garbage"}).status_code == 403
    assert httpx.get(f"{gateway.url}/embed/cowsay").status_code == 422


def test_popup_refuses_origins_outside_the_allow_list(gateway: GatewayProcess) -> None:
    # Without a login the popup first sends the browser to log in.
    response = httpx.get(
        f"{gateway.url}/embed/popup",
        params={"service": "cowsay", "origin": ALLOWED},
        headers={"Accept": "text/html"},
    )
    assert response.status_code == 303
    assert response.headers["location"].startswith("/auth/login?next=")

"""``next`` after login: only a path of this site, under its prefix (real gateway requests)."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from auth.redirects import is_safe_next
from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp

OFF_SITE = [
    "//evil.example",
    "//evil.example/auth/me",
    "https://evil.example",
    "http://evil.example/",
    "/\\evil.example",
    "\\\\evil.example",
    "/%2F%2Fevil.example",  # decodes to ///evil.example
    "%2F%2Fevil.example",
    "/%5Cevil.example",  # decodes to /\evil.example
    "/%252F%252Fevil.example",  # double-encoded
    "https:%2F%2Fevil.example",
    "/\t/evil.example",  # browsers drop tabs: //evil.example
    "/\n/evil.example",
    "javascript:alert(1)",
    "evil.example",
    "///evil.example",
]


@pytest.fixture(scope="module")
def gateway(idp: DevIdp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    from devstack.gateway import settings_env

    process = GatewayProcess(
        env=settings_env({**idp.gateway_settings(), "demo": True, "session__secret": "s" * 32}),
        cwd=tmp_path_factory.mktemp("gateway"),  # its job store (var/) is its own
    ).start()
    yield process
    process.stop()


@pytest.mark.parametrize("target", OFF_SITE)
def test_login_refuses_off_site_next(gateway: GatewayProcess, target: str) -> None:
    response = httpx.get(f"{gateway.url}/auth/login", params={"next": target})
    assert response.status_code == 400
    assert "next" in response.json()["message"]
    assert "set-cookie" not in response.headers


def test_login_refuses_off_site_next_with_an_html_page(gateway: GatewayProcess) -> None:
    response = httpx.get(
        f"{gateway.url}/auth/login",
        params={"next": "https://evil.example"},
        headers={"accept": "text/html"},
    )
    assert response.status_code == 400
    assert response.headers["content-type"].startswith("text/html")
    assert "evil.example" not in response.text


def test_login_accepts_a_path_of_this_site(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.url}/auth/login", params={"next": "/ui/cowsay?x=1"})
    assert response.status_code == 303


def test_login_outside_the_prefix_is_refused(
    idp: DevIdp, auth_gateway_factory: Callable[..., GatewayProcess]
) -> None:
    from devstack.processes import free_port

    port = free_port()
    gateway = auth_gateway_factory(
        idp, port=port, public_url=f"http://127.0.0.1:{port}/oscar-gateway"
    )
    outside = httpx.get(f"{gateway.url}/auth/login", params={"next": "/other-app/"})
    assert outside.status_code == 400
    inside = httpx.get(f"{gateway.url}/auth/login", params={"next": "/oscar-gateway/ui/x"})
    assert inside.status_code == 303
    assert "redirect_uri=http%3A%2F%2F127.0.0.1%3A" in inside.headers["location"]
    assert "%2Foscar-gateway%2Fauth%2Fcallback" in inside.headers["location"]
    cookie = inside.headers["set-cookie"].lower()
    assert "path=/oscar-gateway" in cookie and "secure" not in cookie


@pytest.mark.parametrize("target", ["/", "/ui/cowsay", "/auth/account?tab=1", "/a%20b"])
def test_is_safe_next_accepts_own_paths(target: str) -> None:
    assert is_safe_next(target, "")
    assert not is_safe_next(target, "/oscar-gateway")
    assert is_safe_next("/oscar-gateway" + target, "/oscar-gateway")

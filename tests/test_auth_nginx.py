"""Login behind Debian's nginx under a prefix, two gateway replicas sharing one Redis."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, quote, urlsplit

import httpx

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, follow_login
from devstack.nginx import Nginx
from devstack.processes import free_port
from devstack.redis import RedisServer
from tests.fixtures.gateway import Browser


def test_login_through_nginx_prefix_with_two_replicas(
    idp: DevIdp, redis_server: RedisServer, auth_gateway_factory: Callable[..., GatewayProcess]
) -> None:
    nginx_port = free_port()
    public = f"http://127.0.0.1:{nginx_port}/oscar-gateway"
    replicas = [
        auth_gateway_factory(
            idp,
            public_url=public,
            session__backend="redis",
            session__redis_url=redis_server.url,
        )
        for _ in range(2)
    ]
    with Nginx([g.port for g in replicas], prefix="/oscar-gateway", port=nginx_port) as nginx:
        assert nginx.url == public
        with Browser(timeout=20) as client:
            page = client.get(f"{public}/auth/account", headers={"accept": "text/html"})
            assert page.status_code == 303
            login_path = page.headers["location"]
            assert login_path == "/oscar-gateway/auth/login?next=" + quote(
                "/oscar-gateway/auth/account", safe=""
            )
            start = client.get(nginx.base_url + login_path)
            assert start.status_code == 303
            redirect_uri = parse_qs(urlsplit(start.headers["location"]).query)["redirect_uri"]
            assert redirect_uri == [f"{public}/auth/callback"]
            assert "path=/oscar-gateway" in start.headers["set-cookie"].lower()
            callback = follow_login(
                start.headers["location"],
                user="bob",
                password="builder",
                stop_at=f"{public}/auth/callback",
                client=client,
            )
            back = client.get(callback)
            assert back.status_code == 303
            assert back.headers["location"] == "/oscar-gateway/auth/account"
            account = client.get(nginx.base_url + back.headers["location"])
            assert account.status_code == 200 and "Bob Demo" in account.text
            session = {"oscar_gateway_session": client.cookies["oscar_gateway_session"]}
        # Either replica, reached directly, knows the session.
        for gateway in replicas:
            me = httpx.get(f"{gateway.url}/auth/me", cookies=session)
            assert me.json()["sub"] == "bob"

"""The gateway's own output after a full login, API calls and logout holds no secret."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

import httpx
import redis

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from devstack.redis import RedisServer
from tests.fixtures.gateway import start_login


def test_logs_of_login_api_call_and_logout_hold_no_token_code_or_cookie(
    idp: DevIdp,
    redis_server: RedisServer,
    auth_gateway_factory: Callable[..., GatewayProcess],
) -> None:
    gateway = auth_gateway_factory(
        idp,
        session__backend="redis",
        session__redis_url=redis_server.url,
        session__refresh_margin_seconds=100_000,  # a refresh on each request: log that too
        log_level="DEBUG",
    )
    client, callback = start_login(gateway, idp)
    with client:
        login_cookie = client.cookies["oscar_gateway_session_login"]
        query = parse_qs(urlsplit(callback).query)
        code, state = query["code"][0], query["state"][0]
        assert client.get(callback).status_code == 303
        session_id = client.cookies["oscar_gateway_session"]
        me = client.get(f"{gateway.url}/auth/me")
        assert me.status_code == 200
        csrf = me.json()["csrf_token"]
        secret = gateway.env["GATEWAY_SESSION__SECRET"].encode()
        key = (
            "oscar-gateway:session:"
            + hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()
        )
        with redis.Redis.from_url(redis_server.url) as db:
            stored = json.loads(db.get(key) or b"{}")
        bad = client.get(f"{gateway.url}/auth/callback", params={"code": code, "state": state})
        assert bad.status_code == 400
        assert client.post(f"{gateway.url}/auth/logout", data={"csrf_token": csrf}).is_redirect
    bearer = fetch_tokens(idp, user="bob")
    for token in (bearer["access_token"], bearer["access_token"][:-4] + "AAAA"):
        httpx.get(f"{gateway.url}/auth/me", headers={"authorization": f"Bearer {token}"})

    gateway.stop()
    output = gateway.output()
    assert "login of alice" in output  # the log is there, and says who
    secrets_seen = {
        "authorization code": code,
        "state": state,
        "login cookie": login_cookie,
        "session cookie": session_id,
        "csrf token": csrf,
        "access token": str(stored["access_token"]),
        "refresh token": str(stored["refresh_token"]),
        "id token": str(stored["id_token"]),
        "bearer token": bearer["access_token"],
        "bearer signature": bearer["access_token"].rsplit(".", 1)[1],
        "client secret": idp.client_secret,
    }
    leaked = [name for name, value in secrets_seen.items() if value and value in output]
    assert leaked == []

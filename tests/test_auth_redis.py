"""Sessions in a real ``redis-server``: shared by replicas, refreshed, ended, Redis down."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable

import httpx
import redis

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from devstack.redis import RedisServer
from tests.fixtures.gateway import login

GatewayFactory = Callable[..., GatewayProcess]


def _redis_gateway(
    factory: GatewayFactory, idp: DevIdp, server: RedisServer, **settings: object
) -> GatewayProcess:
    return factory(idp, session__backend="redis", session__redis_url=server.url, **settings)


def _session_key(gateway: GatewayProcess, session_id: str) -> str:
    secret = gateway.env["GATEWAY_SESSION__SECRET"].encode()
    return (
        "oscar-gateway:session:" + hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()
    )


def _stored(gateway: GatewayProcess, server: RedisServer, session_id: str) -> dict[str, object]:
    with redis.Redis.from_url(server.url) as client:
        raw = client.get(_session_key(gateway, session_id))
    assert raw is not None
    return dict(json.loads(raw))


def test_two_gateways_share_one_session_through_redis(
    idp: DevIdp, redis_server: RedisServer, auth_gateway_factory: GatewayFactory
) -> None:
    first = _redis_gateway(auth_gateway_factory, idp, redis_server)
    second = _redis_gateway(auth_gateway_factory, idp, redis_server)
    with login(first, idp, user="bob") as client:
        cookie = {"oscar_gateway_session": client.cookies["oscar_gateway_session"]}
    for gateway in (first, second):
        me = httpx.get(f"{gateway.url}/auth/me", cookies=cookie)
        assert me.status_code == 200
        assert me.json()["sub"] == "bob"


def test_session_survives_a_gateway_restart_with_redis(
    idp: DevIdp, redis_server: RedisServer, auth_gateway_factory: GatewayFactory
) -> None:
    gateway = _redis_gateway(auth_gateway_factory, idp, redis_server)
    with login(gateway, idp) as client:
        gateway.restart()
        assert client.get(f"{gateway.url}/auth/me").json()["sub"] == "alice"


def test_store_keeps_no_cookie_value_in_redis(
    idp: DevIdp, redis_server: RedisServer, auth_gateway_factory: GatewayFactory
) -> None:
    gateway = _redis_gateway(auth_gateway_factory, idp, redis_server)
    with login(gateway, idp) as client:
        session_id = client.cookies["oscar_gateway_session"]
    with redis.Redis.from_url(redis_server.url) as db:
        keys = [k.decode() for k in db.keys("oscar-gateway:*")]
        ttl = db.ttl(_session_key(gateway, session_id))
    assert keys and not any(session_id in key for key in keys)
    assert 0 < ttl <= 8 * 3600


def test_access_token_is_refreshed_before_it_expires(
    idp: DevIdp, redis_server: RedisServer, auth_gateway_factory: GatewayFactory
) -> None:
    # A margin longer than the token's life: every request finds the token due for refresh.
    gateway = _redis_gateway(
        auth_gateway_factory, idp, redis_server, session__refresh_margin_seconds=100_000
    )
    with login(gateway, idp) as client:
        session_id = client.cookies["oscar_gateway_session"]
        before = _stored(gateway, redis_server, session_id)
        assert client.get(f"{gateway.url}/auth/me").status_code == 200
        after = _stored(gateway, redis_server, session_id)
        assert after["access_token"] != before["access_token"]
        assert after["refresh_token"] != before["refresh_token"]  # the provider rotates them
        assert client.get(f"{gateway.url}/auth/me").json()["sub"] == "alice"


def test_revoked_refresh_token_ends_the_session(
    idp: DevIdp, redis_server: RedisServer, auth_gateway_factory: GatewayFactory
) -> None:
    gateway = _redis_gateway(
        auth_gateway_factory, idp, redis_server, session__refresh_margin_seconds=100_000
    )
    with login(gateway, idp) as client:
        session_id = client.cookies["oscar_gateway_session"]
        refresh_token = _stored(gateway, redis_server, session_id)["refresh_token"]
        revoked = httpx.post(
            idp.discovery()["revocation_endpoint"],
            data={"token": refresh_token, "token_type_hint": "refresh_token"},
            auth=(idp.client_id, idp.client_secret),
        )
        assert revoked.status_code == 200
        assert client.get(f"{gateway.url}/auth/me").status_code == 401
        page = client.get(f"{gateway.url}/auth/account", headers={"accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"].startswith("/auth/login")
    with redis.Redis.from_url(redis_server.url) as db:
        assert db.get(_session_key(gateway, session_id)) is None


def test_refresh_refused_after_provider_lost_its_grants_ends_the_session(
    idp_factory: Callable[..., DevIdp],
    redis_server: RedisServer,
    auth_gateway_factory: GatewayFactory,
) -> None:
    provider = idp_factory()
    gateway = _redis_gateway(
        auth_gateway_factory, provider, redis_server, session__refresh_margin_seconds=100_000
    )
    with login(gateway, provider) as client:
        # Same keys and port, but its in-memory store of refresh tokens is gone.
        provider.restart()
        assert client.get(f"{gateway.url}/auth/me").status_code == 401


def test_redis_down_gives_503_for_sessions_while_bearer_calls_work(
    idp: DevIdp, auth_gateway_factory: GatewayFactory
) -> None:
    server = RedisServer().start()
    try:
        gateway = _redis_gateway(auth_gateway_factory, idp, server)
        client = login(gateway, idp)
        server.kill()
        with client:
            me = client.get(f"{gateway.url}/auth/me")
            assert me.status_code == 503
            assert me.json()["error"] == "unavailable"
            assert "Redis" in me.json()["message"]
            start = client.get(f"{gateway.url}/auth/login")
            assert start.status_code == 503
        token = fetch_tokens(idp)["access_token"]
        bearer = httpx.get(f"{gateway.url}/auth/me", headers={"authorization": f"Bearer {token}"})
        assert bearer.status_code == 200
        assert bearer.json()["sub"] == "alice"
    finally:
        server.stop()


def test_concurrent_requests_on_two_replicas_refresh_once_and_keep_the_session(
    idp: DevIdp, redis_server: RedisServer, auth_gateway_factory: GatewayFactory
) -> None:
    # Refresh tokens are good once (the provider rotates them): parallel requests that
    # all find the token due must not each spend it, or the session would end.
    from concurrent.futures import ThreadPoolExecutor

    replicas = [
        _redis_gateway(
            auth_gateway_factory, idp, redis_server, session__refresh_margin_seconds=100_000
        )
        for _ in range(2)
    ]
    with login(replicas[0], idp) as client:
        cookie = {"oscar_gateway_session": client.cookies["oscar_gateway_session"]}

    def me(i: int) -> int:
        url = f"{replicas[i % 2].url}/auth/me"
        return httpx.get(url, cookies=cookie, timeout=30).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = list(pool.map(me, range(16)))
    assert statuses == [200] * 16
    assert httpx.get(f"{replicas[1].url}/auth/me", cookies=cookie).status_code == 200

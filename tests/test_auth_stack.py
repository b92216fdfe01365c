"""The token a browser session holds is the user's own, and OSCAR accepts it for that user."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Callable
from typing import Any

import httpx
import redis

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp
from devstack.redis import RedisServer
from tests.fixtures.gateway import Stack, login


def test_stack_fixture_logs_in_with_oscar_trusting_the_provider(stack: Stack) -> None:
    with login(stack.gateway, stack.idp, user="bob") as client:
        me = client.get(f"{stack.gateway.url}/auth/me")
    assert me.status_code == 200 and me.json()["sub"] == "bob"
    assert stack.oscar.alive()


def test_session_access_token_is_accepted_by_oscar(
    idp: DevIdp,
    redis_server: RedisServer,
    auth_gateway_factory: Callable[..., GatewayProcess],
    local_oscar_factory: Callable[..., Any],
) -> None:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    gateway = auth_gateway_factory(
        idp, oscar__url=oscar.url, session__backend="redis", session__redis_url=redis_server.url
    )
    with login(gateway, idp, user="bob") as client:
        session_id = client.cookies["oscar_gateway_session"]
    secret = gateway.env["GATEWAY_SESSION__SECRET"].encode()
    key = (
        "oscar-gateway:session:" + hmac.new(secret, session_id.encode(), hashlib.sha256).hexdigest()
    )
    with redis.Redis.from_url(redis_server.url) as db:
        token = json.loads(db.get(key) or b"{}")["access_token"]
    listed = httpx.get(f"{oscar.url}/system/services", headers={"authorization": f"Bearer {token}"})
    assert listed.status_code == 200
    forged = token[:-6] + ("A" * 6 if not token.endswith("A" * 6) else "B" * 6)
    refused = httpx.get(
        f"{oscar.url}/system/services", headers={"authorization": f"Bearer {forged}"}
    )
    assert refused.status_code == 401

"""What two replicas must share, they share: one test per item (issue 17).

Two gateways behind Nginx with one Redis (tests/fixtures/deploy.py); each call here
goes to a chosen replica directly (``gateway.url``), so "made on one, used on the
other" is certain, not left to round-robin.  Each replica reaches OSCAR through its
own counting proxy, so which replica polls OSCAR for a job is seen on the wire.
API keys do not exist yet (a later issue adds them); their revocation is not here.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from devstack.gateway import GatewayProcess
from devstack.oscar import LocalOscar
from devstack.redis import RedisServer
from tests.fixtures.counting import CountingProxy
from tests.fixtures.deploy import ProxiedStack, bearer, login_via_nginx
from tests.waiting import wait_until

COOKIE = "oscar_gateway_session"


@pytest.fixture
def proxies() -> Iterator[list[CountingProxy]]:
    started: list[CountingProxy] = []
    yield started
    for proxy in started:
        proxy.close()


def two_replicas(
    factory: Callable[..., ProxiedStack],
    proxies: list[CountingProxy],
    each: Callable[[int], dict[str, Any]] = lambda n: {},
    **settings: Any,
) -> ProxiedStack:
    def own(n: int, oscar: LocalOscar) -> dict[str, Any]:
        proxies.append(CountingProxy(oscar.url))
        return {"oscar__url": proxies[-1].url, **each(n)}

    return factory(replicas=2, per_replica=own, **settings)


def run_on(url: str, headers: dict[str, str]) -> httpx.Response:
    return httpx.post(
        f"{url}/api/v1/services/cowsay/run",
        content=b"shared?",
        headers={**headers, "Content-Type": "text/plain"},
        timeout=60,
    )


def test_sessions_csrf_tokens_and_embed_links_work_on_the_other_replica(
    proxied_stack_factory: Callable[..., ProxiedStack], proxies: list[CountingProxy]
) -> None:
    stack = two_replicas(proxied_stack_factory, proxies)
    first, second = (g.url for g in stack.gateways)
    cookie = {"Cookie": f"{COOKIE}={login_via_nginx(stack).cookies[COOKIE]}"}
    # The session made through nginx is known to each replica.
    me = httpx.get(f"{first}/auth/me", headers=cookie)
    assert me.status_code == 200 and me.json()["sub"] == "alice"
    assert httpx.get(f"{second}/auth/me", headers=cookie).json()["sub"] == "alice"
    # The CSRF token read on the first replica logs out on the second, for both.
    origin = re.sub(r"^(https?://[^/]+).*$", r"\1", stack.url)
    logout = httpx.post(
        f"{second}/auth/logout",
        headers={**cookie, "Origin": origin, "X-CSRF-Token": me.json()["csrf_token"]},
    )
    assert logout.status_code == 303, logout.text
    assert httpx.get(f"{first}/auth/me", headers=cookie).status_code == 401
    assert httpx.get(f"{second}/auth/me", headers=cookie).status_code == 401
    # An embed link minted on the first replica opens on the second.
    minted = httpx.post(f"{first}/api/v1/services/cowsay/embed-links", headers=bearer(stack))
    assert minted.status_code == 201, minted.text
    opened = httpx.get(minted.json()["url"].replace(stack.url, second))
    assert opened.status_code == 303
    assert opened.headers["location"].endswith("/ui/cowsay/")


def create_gated_service(stack: ProxiedStack, gate: Path) -> str:
    """An async service that copies its input once ``gate`` exists (restricted to alice)."""
    name = "gated-copy"
    definition = {
        "name": name,
        "image": "ghcr.io/grycap/alpine",
        "script": (
            f'#!/bin/sh\nwhile [ ! -e "{gate}" ]; do sleep 0.1; done\n'
            'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/"\n'
        ),
        "visibility": "restricted",
        "allowed_users": ["alice"],
        "input": [{"storage_provider": "minio.default", "path": f"{name}/in"}],
        "output": [{"storage_provider": "minio.default", "path": f"{name}/out"}],
    }
    created = httpx.post(
        f"{stack.oscar.url}/system/services", json=definition, auth=stack.oscar.admin_auth
    )
    assert created.status_code == 201, created.text
    return name


def lease_holder(stack: ProxiedStack, job_id: str) -> str | None:
    """The replica id in the job's lease, read from the jobs' Redis."""
    jobs_redis = redis.Redis.from_url(stack.redis.url.removesuffix("/0") + "/1")
    try:
        value = jobs_redis.get(f"oscar-gateway:lease:{job_id}")
    finally:
        jobs_redis.close()
    return value.decode() if isinstance(value, bytes) else None


def replica_id(gateway: GatewayProcess) -> str:
    found = re.search(r"following jobs under leases as replica (\S+?)\\?\"", gateway.output())
    assert found, gateway.output()[-2000:]
    return found.group(1)


def test_a_job_is_followed_by_one_replica_and_limits_count_in_total(
    proxied_stack_factory: Callable[..., ProxiedStack],
    proxies: list[CountingProxy],
    tmp_path: Path,
) -> None:
    stack = two_replicas(proxied_stack_factory, proxies, limits__invocations_per_minute=4)
    first, second = (g.url for g in stack.gateways)
    token = bearer(stack)
    gate = tmp_path / "gate"
    service = create_gated_service(stack, gate)
    listing = ("GET", f"/system/logs/{service}")
    # Job records and leases: submitted on the first replica, read on the second.
    submitted = httpx.post(
        f"{first}/api/v1/services/{service}/jobs",
        content=b"some input",
        headers={**token, "Content-Type": "text/plain"},
    )
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()["id"]
    assert lease_holder(stack, job) == replica_id(stack.gateways[0])
    wait_until(lambda: proxies[0].count(*listing) >= 2, "the first replica polling OSCAR")
    for _ in range(3):
        read = httpx.get(f"{second}/api/v1/jobs/{job}", headers=token)
        assert read.status_code == 200 and read.json()["status"] in {"queued", "running"}
    gate.touch()
    wait_until(
        lambda: (
            httpx.get(f"{second}/api/v1/jobs/{job}", headers=token).json()["status"] == "succeeded"
        ),
        "the job succeeded, as the second replica reads it",
        timeout=60,
    )
    # The second replica never asked OSCAR about it: its reads came from the shared record.
    assert proxies[1].count(*listing) == 0
    assert lease_holder(stack, job) is None
    assert httpx.delete(f"{second}/api/v1/jobs/{job}", headers=token).status_code == 204
    assert httpx.get(f"{first}/api/v1/jobs/{job}", headers=token).status_code == 404
    # Limits: the submission and three runs over both replicas, then both refuse the fifth.
    assert [run_on(url, token).status_code for url in (second, first, second)] == [200] * 3
    for url in (first, second):
        refused = run_on(url, token)
        assert refused.status_code == 429
        assert "at most 4 a minute" in refused.json()["message"]


def test_the_limits_redis_down_fails_open_or_closed_as_set_and_readyz_says_so(
    proxied_stack_factory: Callable[..., ProxiedStack], proxies: list[CountingProxy]
) -> None:
    with RedisServer() as limits_redis:
        stack = two_replicas(
            proxied_stack_factory,
            proxies,
            each=lambda n: {"limits__fail_open": n == 0},
            limits__redis_url=limits_redis.url,
        )
        open_, closed = stack.gateways
        token = bearer(stack)
        assert run_on(open_.url, token).status_code == 200
        assert run_on(closed.url, token).status_code == 200
        limits_redis.stop()
        # Failing open: runs go through, /readyz stays ready and names the outage.
        assert run_on(open_.url, token).status_code == 200
        ready = httpx.get(f"{open_.url}/readyz")
        assert ready.status_code == 200
        assert "limits not enforced (fail open)" in ready.json()["checks"]["limits"]
        assert "rate-limit Redis unreachable" in open_.output()
        # Failing closed: runs are refused with a clear 503, and the replica is unready.
        refused = run_on(closed.url, token)
        assert refused.status_code == 503
        assert "Rate limits cannot be checked" in refused.json()["message"]
        unready = httpx.get(f"{closed.url}/readyz")
        assert unready.status_code == 503
        assert "fail closed" in unready.json()["checks"]["limits"]
        limits_redis.start()
        for gateway in (open_, closed):
            wait_until(
                lambda g=gateway: httpx.get(f"{g.url}/readyz").status_code == 200,
                "ready again with the limits' Redis back",
                timeout=30,
            )
            assert httpx.get(f"{gateway.url}/readyz").json()["checks"]["limits"] == "ok"
            assert run_on(gateway.url, token).status_code == 200

"""Three gateway replicas behind the real Nginx template behave as one (issue 17).

The compose topology of tests/fixtures/deploy.py with three replicas, one Redis,
the local OSCAR and the dev provider.  Each replica reaches OSCAR through its own
counting proxy (tests/fixtures/counting.py), so which replica polled OSCAR for a
job is observed on the wire: every job here runs on a service of its own, and
OSCAR's job list (``GET /system/logs/<service>``) names the service.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from devstack.oscar import LocalOscar
from tests.fixtures.counting import CountingProxy, WebhookReceiver
from tests.fixtures.deploy import ProxiedStack, bearer, login_via_nginx
from tests.waiting import wait_until

REPLICAS = 3
LEASE_SECONDS = 4


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    yield server
    server.close()


@pytest.fixture
def proxies() -> Iterator[list[CountingProxy]]:
    started: list[CountingProxy] = []
    yield started
    for proxy in started:
        proxy.close()


def three_replicas(
    factory: Callable[..., ProxiedStack], proxies: list[CountingProxy], **settings: Any
) -> ProxiedStack:
    def own_proxy(n: int, oscar: LocalOscar) -> dict[str, Any]:
        proxies.append(CountingProxy(oscar.url))
        return {"oscar__url": proxies[-1].url}

    return factory(replicas=REPLICAS, per_replica=own_proxy, **settings)


def served(stack: ProxiedStack, response: httpx.Response) -> int:
    """The replica nginx sent the request to (its access log's upstream, by request id)."""
    request_id = response.request.headers["X-Request-ID"]
    ports = [f"127.0.0.1:{g.port}" for g in stack.gateways]

    def upstream() -> str | None:
        for line in stack.nginx.access_log().splitlines():
            entry = json.loads(line)
            if entry.get("request_id") == request_id:
                return str(entry["upstream"])
        return None

    return ports.index(wait_until(upstream, f"nginx's log line of {request_id}"))


def create_sleeping_service(stack: ProxiedStack, name: str, seconds: float) -> None:
    """An async service (restricted to alice) that sleeps, then copies its input out."""
    definition = {
        "name": name,
        "image": "ghcr.io/grycap/alpine",
        "script": f'#!/bin/sh\nsleep {seconds}\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/"\n',
        "visibility": "restricted",
        "allowed_users": ["alice"],
        "input": [{"storage_provider": "minio.default", "path": f"{name}/in"}],
        "output": [{"storage_provider": "minio.default", "path": f"{name}/out"}],
    }
    created = httpx.post(
        f"{stack.oscar.url}/system/services", json=definition, auth=stack.oscar.admin_auth
    )
    assert created.status_code == 201, created.text


def followers(proxies: list[CountingProxy], service: str) -> list[int]:
    """The replicas that asked OSCAR for the service's job list."""
    path = f"/system/logs/{service}"
    return [n for n, proxy in enumerate(proxies) if proxy.count("GET", path)]


def test_the_61st_run_is_refused_by_every_replica_and_ui_sessions_stick(
    proxied_stack_factory: Callable[..., ProxiedStack], proxies: list[CountingProxy]
) -> None:
    stack = three_replicas(proxied_stack_factory, proxies)
    token = bearer(stack)
    with httpx.Client(timeout=60) as http:

        def run(n: int) -> httpx.Response:
            return http.post(
                f"{stack.url}/api/v1/services/cowsay/run",
                content=b"count me",
                headers={**token, "Content-Type": "text/plain", "X-Request-ID": f"run-{n:04d}"},
            )

        allowed = [run(n) for n in range(60)]
        assert [r.status_code for r in allowed] == [200] * 60
        assert {served(stack, r) for r in allowed} == set(range(REPLICAS))
        # Runs 61, 62, 63: refused, one by each replica (round-robin).
        refused = [run(n) for n in range(60, 63)]
        assert [r.status_code for r in refused] == [429] * 3
        assert {served(stack, r) for r in refused} == set(range(REPLICAS))
        for response in refused:
            assert "at most 60 a minute" in response.json()["message"]
            assert int(response.headers["retry-after"]) >= 1

    # A UI session stays on its replica while REST calls spread over all of them.
    session = login_via_nginx(stack)
    ui = [
        session.get(f"{stack.url}/ui/cowsay/", headers={"X-Request-ID": f"ui-{n:04d}"})
        for n in range(6)
    ]
    assert [r.status_code for r in ui] == [200] * 6
    assert len({served(stack, r) for r in ui}) == 1
    rest = [
        session.get(f"{stack.url}/api/v1/services", headers={"X-Request-ID": f"rest-{n:04d}"})
        for n in range(6)
    ]
    assert [r.status_code for r in rest] == [200] * 6
    assert {served(stack, r) for r in rest} == set(range(REPLICAS))


def submit(http: httpx.Client, stack: ProxiedStack, token: dict[str, str], service: str,
           webhook: str) -> str:  # fmt: skip
    submitted = http.post(
        f"{stack.url}/api/v1/services/{service}/jobs",
        params={"webhook": webhook, "filename": "in.txt"},
        content=f"input of {service}".encode(),
        headers={**token, "Content-Type": "text/plain"},
    )
    assert submitted.status_code == 202, submitted.text
    return str(submitted.json()["id"])


def test_each_job_is_followed_once_and_a_dead_followers_job_is_taken_over(
    proxied_stack_factory: Callable[..., ProxiedStack],
    proxies: list[CountingProxy],
    receiver: WebhookReceiver,
) -> None:
    stack = three_replicas(
        proxied_stack_factory,
        proxies,
        jobs__webhook_allowed_hosts=[receiver.host],
        jobs__webhook_allow_private_addresses=True,
        jobs__lease_seconds=LEASE_SECONDS,
    )
    token = bearer(stack)
    services = [f"sleepy-{n:02d}" for n in range(30)]
    for name in services:
        create_sleeping_service(stack, name, 1)
    with httpx.Client(timeout=60) as http:
        jobs = {submit(http, stack, token, name, receiver.url): name for name in services}
        wait_until(
            lambda: all(receiver.deliveries(job) for job in jobs),
            "a webhook for every job",
            timeout=180,
            interval=0.25,
        )
        # Each job: polled by exactly one replica; the submissions spread over all three.
        polled_by = {job: followers(proxies, name) for job, name in jobs.items()}
        assert all(len(replicas) == 1 for replicas in polled_by.values()), polled_by
        assert {replicas[0] for replicas in polled_by.values()} == set(range(REPLICAS))
        for job in jobs:
            answer = http.get(f"{stack.url}/api/v1/jobs/{job}", headers=token).json()
            assert answer["status"] == "succeeded", answer
        _kill_the_follower_mid_run(stack, http, token, proxies, receiver)
        # Every webhook once, also several lease times later (when a duplicate would be out).
        assert [receiver.deliveries(job) for job in jobs] == [1] * len(jobs)


def _kill_the_follower_mid_run(
    stack: ProxiedStack,
    http: httpx.Client,
    token: dict[str, str],
    proxies: list[CountingProxy],
    receiver: WebhookReceiver,
) -> None:
    create_sleeping_service(stack, "slow-one", 8)
    job = submit(http, stack, token, "slow-one", receiver.url)
    wait_until(lambda: followers(proxies, "slow-one"), "a replica following the job", timeout=30)
    (follower,) = followers(proxies, "slow-one")
    stack.gateways[follower].kill()
    wait_until(lambda: receiver.deliveries(job), "the webhook after the takeover", timeout=120)
    taken_over = set(followers(proxies, "slow-one")) - {follower}
    assert len(taken_over) == 1, followers(proxies, "slow-one")
    answer = http.get(f"{stack.url}/api/v1/jobs/{job}", headers=token).json()
    assert answer["status"] == "succeeded", answer
    assert receiver.deliveries(job) == 1

"""What the gateway adds on the way to OSCAR (issue 13).  Prints figures; asserts nothing.

    .venv/bin/python bench/overhead.py [--requests 300] [--burst 320] [--rounds 3]

Starts the dev IdP, an oscar-local with one no-op sync service owned by alice
(``noop``: a shell script printing ``ok``), a gateway in front of it, and the
service's generated Gradio app served alone by uvicorn.  With alice's one
access token, in one run, requests interleaved (one through the gateway, one
straight, ...):

(a) REST sync run  ``POST /api/v1/services/noop/run``      vs ``POST /run/noop`` on OSCAR
(b) passthrough    ``POST /oscar/run/noop``                vs ``POST /run/noop`` on OSCAR
(c) UI             ``/ui/noop/gradio_api/call/predict``    vs the standalone app's ``/call``

At concurrency 1: p50 and p99 of each side and what the gateway adds.  At
concurrency 32: bursts of ``--burst`` requests, the two sides' bursts
interleaved, and the gateway's throughput as a share of the straight one.
Goals: +<= 1 ms p50, +<= 5 ms p99, >= 0.9x the throughput at 32.  The client
runs on the same machine: its own cost is in both sides alike.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from common import acall, call, pct, standalone, start_gateway

from devstack.idp import DevIdp, fetch_tokens
from devstack.oscar import LocalOscar

SERVICE = "noop"
SCRIPT = "#!/bin/sh\necho ok\n"
CONCURRENCY = 32
# The same UI settings for the mounted and the standalone app; a queue that holds a burst.
UI = {"max_queue": "256"}
INPUT = b"x"


@dataclass
class Side:
    """One way to the service: a blocking request, an async one, and the failures seen."""

    name: str
    once: Callable[[httpx.Client], object]
    many: Callable[[httpx.AsyncClient], Awaitable[object]]
    errors: list[str] = field(default_factory=list)

    def check(self, outcome: Callable[[], object]) -> None:
        """Run one request; a failure is counted (and shown in the table), not raised."""
        try:
            response = outcome()
            if isinstance(response, httpx.Response):
                response.raise_for_status()
        except (httpx.HTTPError, RuntimeError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])

    async def acheck(self, http: httpx.AsyncClient) -> None:
        try:
            response = await self.many(http)
            if isinstance(response, httpx.Response):
                response.raise_for_status()
        except (httpx.HTTPError, RuntimeError) as exc:
            self.errors.append(f"{type(exc).__name__}: {exc}"[:200])


def rest_sides(gateway: str, oscar: str) -> tuple[Side, Side]:
    body = base64.b64encode(INPUT)  # OSCAR's /run takes base64 (oscar-api.md §4)
    text = {"Content-Type": "text/plain"}

    def via(http: httpx.Client) -> object:
        return http.post(f"{gateway}/api/v1/services/{SERVICE}/run", content=INPUT, headers=text)

    async def avia(http: httpx.AsyncClient) -> object:
        return await http.post(
            f"{gateway}/api/v1/services/{SERVICE}/run", content=INPUT, headers=text
        )

    def direct(http: httpx.Client) -> object:
        return http.post(f"{oscar}/run/{SERVICE}", content=body)

    async def adirect(http: httpx.AsyncClient) -> object:
        return await http.post(f"{oscar}/run/{SERVICE}", content=body)

    return Side("gateway /api/v1 run", via, avia), Side("OSCAR /run", direct, adirect)


def passthrough_sides(gateway: str, oscar: str) -> tuple[Side, Side]:
    body = base64.b64encode(INPUT)

    def via(http: httpx.Client) -> object:
        return http.post(f"{gateway}/oscar/run/{SERVICE}", content=body)

    async def avia(http: httpx.AsyncClient) -> object:
        return await http.post(f"{gateway}/oscar/run/{SERVICE}", content=body)

    return Side("gateway /oscar/run", via, avia), rest_sides(gateway, oscar)[1]


def ui_sides(gateway: str, alone: str) -> tuple[Side, Side]:
    mounted = f"{gateway}/ui/{SERVICE}"

    def via(http: httpx.Client) -> object:
        return call(http, mounted, "predict", ["x"])

    async def avia(http: httpx.AsyncClient) -> object:
        return await acall(http, mounted, "predict", ["x"])

    def direct(http: httpx.Client) -> object:
        return call(http, alone, "predict", ["x"])

    async def adirect(http: httpx.AsyncClient) -> object:
        return await acall(http, alone, "predict", ["x"])

    return Side("gateway /ui call", via, avia), Side("standalone Gradio", direct, adirect)


def latency(
    pair: tuple[Side, Side], headers: dict[str, str], requests: int
) -> tuple[list[float], list[float]]:
    """Seconds per request of each side at concurrency 1, interleaved."""
    times: tuple[list[float], list[float]] = ([], [])
    clients = [httpx.Client(headers=headers, timeout=120) for _ in pair]
    try:
        for side, http in zip(pair, clients, strict=True):
            for _ in range(5):  # warm: connections open, app built, caches filled
                side.check(lambda side=side, http=http: side.once(http))
        for _ in range(requests):
            for side, http, spent in zip(pair, clients, times, strict=True):
                started = time.perf_counter()
                side.check(lambda side=side, http=http: side.once(http))
                spent.append(time.perf_counter() - started)
    finally:
        for http in clients:
            http.close()
    return times


async def _burst(side: Side, http: httpx.AsyncClient, count: int) -> float:
    left = count

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            await side.acheck(http)

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return time.perf_counter() - started


async def _throughput(
    pair: tuple[Side, Side], headers: dict[str, str], burst: int, rounds: int
) -> tuple[float, float]:
    limits = httpx.Limits(max_connections=CONCURRENCY, max_keepalive_connections=CONCURRENCY)
    clients = [httpx.AsyncClient(headers=headers, timeout=300, limits=limits) for _ in pair]
    spent = [0.0, 0.0]
    try:
        for side, http in zip(pair, clients, strict=True):
            await _burst(side, http, CONCURRENCY)  # warm: every connection open
        for _ in range(rounds):
            for i, (side, http) in enumerate(zip(pair, clients, strict=True)):
                spent[i] += await _burst(side, http, burst)
    finally:
        for http in clients:
            await http.aclose()
    return burst * rounds / spent[0], burst * rounds / spent[1]


def measure(
    label: str, pair: tuple[Side, Side], headers: dict[str, str], args: argparse.Namespace
) -> None:
    via, direct = latency(pair, headers, args.requests)
    through, straight = asyncio.run(_throughput(pair, headers, args.burst, args.rounds))
    p50 = (pct(via, 0.5), pct(direct, 0.5))
    p99 = (pct(via, 0.99), pct(direct, 0.99))
    print(
        f"{label:<4} {pair[0].name:<20} {p50[0]:7.2f} {p99[0]:7.2f} {through:8.1f}\n"
        f"{'':<4} {pair[1].name:<20} {p50[1]:7.2f} {p99[1]:7.2f} {straight:8.1f}\n"
        f"{'':<4} {'gateway adds':<20} {p50[0] - p50[1]:+7.2f} {p99[0] - p99[1]:+7.2f} "
        f"{through / straight:7.2f}x",
        flush=True,
    )
    for side in pair:
        if side.errors:
            print(f"{'':<4} {side.name}: {len(side.errors)} failed, e.g. {side.errors[0]}")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=300, help="per side at concurrency 1")
    parser.add_argument("--burst", type=int, default=320, help="requests of one burst at 32")
    parser.add_argument("--rounds", type=int, default=3, help="bursts per side at 32")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-overhead-"))
    idp = DevIdp(access_token_ttl=3600)
    oscar = LocalOscar(data_dir=work / "oscar", oidc_issuers=[idp.issuer], services=[])
    with idp, oscar:
        run(idp, oscar, args)


def run(idp: DevIdp, oscar: LocalOscar, args: argparse.Namespace) -> None:
    token = fetch_tokens(idp, user="alice")["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    created = httpx.post(
        f"{oscar.url}/system/services",
        json={"name": SERVICE, "image": "alpine", "script": SCRIPT, "log_level": "CRITICAL"},
        headers=headers,
        timeout=60,
    )
    created.raise_for_status()
    gateway, url, _ = start_gateway(idp, oscar, **UI)
    alone, alone_url = standalone(oscar, token, SERVICE, **UI)
    try:
        print(
            f"service {SERVICE!r} ({SCRIPT.strip()!r}), alice's bearer; {args.requests} requests "
            f"a side at concurrency 1, {args.rounds} x {args.burst} at {CONCURRENCY}\n"
            f"{'':<4} {'':<20} {'p50 ms':>7} {'p99 ms':>7} {'req/s@32':>8}",
            flush=True,
        )
        measure("(a)", rest_sides(url, oscar.url), headers, args)
        measure("(b)", passthrough_sides(url, oscar.url), headers, args)
        measure("(c)", ui_sides(url, alone_url), headers, args)
        print("goals: gateway adds <= +1 ms p50, <= +5 ms p99, throughput >= 0.90x")
    finally:
        for proc in (alone, gateway):
            proc.terminate()
            proc.wait(20)


if __name__ == "__main__":
    main()

"""How the gateway scales with replicas (issue 17).  Prints figures; asserts nothing.

    .venv/bin/python bench/replicas.py [--seconds 10] [--concurrency 8] [--replicas 1,2,3]

Starts the dev IdP, the local OSCAR, one redis-server, then for each replica count
that many gateway processes (sessions, jobs and limits in Redis) behind nginx with
the real template, and sends synchronous runs of the demo ``cowsay`` service
(alice's bearer, limits raised out of the way) from ``--concurrency`` threads for
``--seconds``: throughput and p50/p99 latency through nginx.  Every run starts a
real script in the local OSCAR on the same machine, so on a machine with few cores
the ceiling is the machine (OSCAR, nginx, Redis and the client share it), not the
gateway: more replicas only help while cores are left over.
"""

from __future__ import annotations

import argparse
import os
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devstack.gateway import GatewayProcess, settings_env  # noqa: E402
from devstack.idp import DevIdp, fetch_tokens  # noqa: E402
from devstack.nginx import Nginx  # noqa: E402
from devstack.oscar import LocalOscar  # noqa: E402
from devstack.processes import free_port  # noqa: E402
from devstack.redis import RedisServer  # noqa: E402

GOAL = "throughput grows with replicas while cores are free; p99 stays flat"


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000 if ordered else 0.0


def start_replicas(
    count: int, idp: DevIdp, oscar: LocalOscar, redis: RedisServer, workdir: Path
) -> tuple[Nginx, list[GatewayProcess]]:
    ports = [free_port() for _ in range(count)]
    nginx = Nginx(ports).start()
    secret = secrets.token_urlsafe(32)
    gateways = []
    for n, port in enumerate(ports):
        data = workdir / f"r{count}-{n}"
        data.mkdir()
        settings = {
            **idp.gateway_settings(),
            "demo": True,
            "public_url": nginx.url,
            "data_dir": str(data),
            "session__secret": secret,
            "oscar__url": oscar.url,
            "session__backend": "redis",
            "session__redis_url": redis.url,
            "jobs__backend": "redis",
            "jobs__redis_url": redis.url,
            "limits__invocations_per_minute": 10_000_000,
        }
        gateways.append(GatewayProcess(env=settings_env(settings), port=port).start())
    return nginx, gateways


def load(url: str, token: str, *, seconds: float, concurrency: int) -> tuple[int, list[float]]:
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def worker() -> None:
        nonlocal errors
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "text/plain"}
        with httpx.Client(timeout=60) as http:
            while time.monotonic() < deadline:
                start = time.perf_counter()
                answer = http.post(
                    f"{url}/api/v1/services/cowsay/run", content=b"moo", headers=headers
                )
                took = time.perf_counter() - start
                with lock:
                    if answer.status_code == 200:
                        latencies.append(took)
                    else:
                        errors += 1

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors, latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--replicas", default="1,2,3")
    args = parser.parse_args()
    counts = [int(c) for c in args.replicas.split(",")]
    print(f"cores: {os.cpu_count()}  concurrency: {args.concurrency}  seconds: {args.seconds:g}")
    print(f"goal: {GOAL}")
    with tempfile.TemporaryDirectory() as tmp, DevIdp() as idp, RedisServer() as redis:
        oscar = LocalOscar(data_dir=Path(tmp) / "oscar", oidc_issuers=[idp.issuer]).start()
        try:
            token = fetch_tokens(idp, user="alice")["access_token"]
            for count in counts:
                nginx, gateways = start_replicas(count, idp, oscar, redis, Path(tmp))
                try:
                    load(nginx.url, token, seconds=1.0, concurrency=2)  # warm up
                    errors, took = load(
                        nginx.url, token, seconds=args.seconds, concurrency=args.concurrency
                    )
                finally:
                    for gateway in gateways:
                        gateway.stop()
                    nginx.stop()
                rate = len(took) / args.seconds
                print(
                    f"replicas: {count}  runs/s: {rate:6.1f}  p50: {pct(took, 0.5):6.0f} ms"
                    f"  p99: {pct(took, 0.99):6.0f} ms  errors: {errors}"
                )
        finally:
            oscar.stop()
    if (os.cpu_count() or 1) <= 2:
        print("note: on 2 cores the ceiling is the machine (OSCAR's scripts, nginx, Redis and")
        print("      this client share it), so extra replicas cannot raise throughput here.")


if __name__ == "__main__":
    main()

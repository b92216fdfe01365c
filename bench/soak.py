"""Soak benchmark (issue 18): steady mixed load, RSS per minute.  Prints figures; asserts nothing.

    .venv/bin/python bench/soak.py [--minutes 10] [--replicas 1] [--warmup 30] [--trace DIR]

Starts the dev IdP, oscar-local with the demo services and one gateway (or,
with ``--replicas 2``, two gateways sharing Redis behind Nginx), then runs,
with alice's bearer, through real sockets:

- two clients doing REST sync runs of cowsay (``POST /api/v1/services/cowsay/run``);
- one submitting grayify jobs (``POST .../jobs``), polling each, fetching its
  output and deleting it;
- one doing Gradio two-step ``/call``s on cowsay's UI.

Every minute it prints the requests by kind, the errors and each gateway's RSS;
at the end the slope of RSS after the warm-up, in MB per 1,000 requests (a
least-squares fit over samples every 5 s).  Goals: 0 errors, slope <= 0.2.

``--trace DIR`` (one replica): at the end of the warm-up the gateway counts its
live objects by type and starts ``tracemalloc`` (25 frames); at the end it
writes a snapshot (what was allocated since and is still live) and counts
again.  The largest allocation sites and type growths are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from soakload import Tally, gradio_call, job, load, png, sync_run  # noqa: E402
from soaktrace import (  # noqa: E402
    print_growth,
    snapshot,
    trace_env,
)

from devstack.gateway import GatewayProcess, settings_env  # noqa: E402
from devstack.idp import DevIdp, fetch_tokens  # noqa: E402
from devstack.nginx import Nginx  # noqa: E402
from devstack.oscar import LocalOscar  # noqa: E402
from devstack.processes import free_port  # noqa: E402
from devstack.redis import RedisServer  # noqa: E402

GOAL_MB_PER_1000 = 0.2
SAMPLE_SECONDS = 5.0
KINDS = ("runs", "jobs", "calls")


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Sample:
    at: float
    requests: int
    rss: list[float]


def slope_per_1000(samples: list[Sample]) -> float:
    """Least-squares slope of summed RSS (MB) against requests, per 1,000 requests."""
    xs = [float(s.requests) for s in samples]
    ys = [sum(s.rss) for s in samples]
    n = len(xs)
    if n < 2:
        return float("nan")
    mx, my = sum(xs) / n, sum(ys) / n
    sxx = sum((x - mx) ** 2 for x in xs)
    if sxx == 0:
        return float("nan")
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys, strict=True)) / sxx * 1000


@dataclass
class Stack:
    base: str
    pids: list[int]
    token: str


@contextlib.contextmanager
def stack(args: argparse.Namespace, work: Path) -> Iterator[Stack]:
    """IdP, oscar-local, Redis + Nginx when replicated, and the gateways."""
    with contextlib.ExitStack() as es:
        idp = es.enter_context(DevIdp(access_token_ttl=24 * 3600))
        oscar = es.enter_context(LocalOscar(data_dir=work / "oscar", oidc_issuers=[idp.issuer]))
        settings = {
            "demo": True,
            "session__secret": "soak-" + "x" * 40,
            "oscar__url": oscar.url,
            "jobs__sqlite_path": str(work / "jobs.sqlite3"),
            "limits__invocations_per_minute": 1_000_000,
            **idp.gateway_settings(),
        }
        env = trace_env(args.trace)
        if args.replicas > 1:
            redis = es.enter_context(RedisServer())
            ports = [free_port() for _ in range(args.replicas)]
            nginx = es.enter_context(Nginx(ports))
            settings |= {
                "public_url": nginx.url,
                "session__backend": "redis",
                "session__redis_url": redis.url,
                "jobs__backend": "redis",
                "jobs__redis_url": redis.url.removesuffix("/0") + "/1",
            }
        else:
            ports = [free_port()]
        gateways = [
            es.enter_context(
                GatewayProcess(port=p, env={**settings_env(settings), **env}, cwd=work)
            )
            for p in ports
        ]
        base = nginx.url if args.replicas > 1 else gateways[0].url
        pids = [g.pid for g in gateways]
        yield Stack(base, pids, fetch_tokens(idp, user="alice")["access_token"])


def prime(st: Stack, image: bytes) -> None:
    """One request of each kind before the load: oscar-local fetches the IdP's keys once."""
    with httpx.Client(headers={"Authorization": f"Bearer {st.token}"}, timeout=120) as http:
        sync_run(http, st.base)
        job(http, st.base, image)
        gradio_call(http, st.base)


def run(args: argparse.Namespace, st: Stack) -> None:
    tally, stop = Tally(), threading.Event()
    image = png()
    prime(st, image)
    steps: list[tuple[str, Callable[[httpx.Client], None]]] = [
        ("runs", lambda h: sync_run(h, st.base)),
        ("runs", lambda h: sync_run(h, st.base)),
        ("jobs", lambda h: job(h, st.base, image)),
        ("calls", lambda h: gradio_call(h, st.base)),
    ]
    threads = [
        threading.Thread(target=load, args=(kind, step, st.token, tally, stop), daemon=True)
        for kind, step in steps
    ]
    for thread in threads:
        thread.start()
    try:
        samples = sample(args, st, tally)
    finally:
        stop.set()
        for thread in threads:
            thread.join(130)
    report(samples, tally, args)


def sample(args: argparse.Namespace, st: Stack, tally: Tally) -> list[Sample]:
    """RSS every SAMPLE_SECONDS after the warm-up; a line each minute."""
    started = time.monotonic()
    time.sleep(args.warmup)
    if args.trace:
        snapshot(st.pids[0], args.trace, 0)
    print(f"warm-up {args.warmup:.0f} s: {_counts(tally)}; RSS {_rss(st.pids)}", flush=True)
    t0 = time.monotonic()
    end = t0 + args.minutes * 60
    samples: list[Sample] = []
    next_line = t0 + 60
    while True:
        now = time.monotonic()
        samples.append(Sample(now - t0, tally.total(), [rss_mb(p) for p in st.pids]))
        if now >= next_line or now >= end:
            minute = (now - t0) / 60
            print(f"min {minute:4.1f}: {_counts(tally)}; RSS {_rss(st.pids)}", flush=True)
            next_line += 60
        if now >= end:
            break
        time.sleep(min(SAMPLE_SECONDS, max(0.0, end - now)))
    if args.trace:
        snapshot(st.pids[0], args.trace, 1)
    print(f"(load ran {time.monotonic() - started:.0f} s in all)")
    return samples


def _counts(tally: Tally) -> str:
    with tally.lock:
        done = ", ".join(f"{tally.done[k]} {k}" for k in KINDS)
        errors = sum(tally.errors.values())
    return f"{done}; {errors} errors"


def _rss(pids: list[int]) -> str:
    return " + ".join(f"{rss_mb(p):.0f}" for p in pids) + " MB"


def report(samples: list[Sample], tally: Tally, args: argparse.Namespace) -> None:
    first, last = samples[0], samples[-1]
    requests = last.requests - first.requests
    rss0, rss1 = sum(first.rss), sum(last.rss)
    print(
        f"\nafter warm-up: {requests} requests in {last.at:.0f} s; requests by kind "
        f"{dict(tally.done)}; errors {dict(tally.errors) or 0}"
    )
    for kind, why in tally.last_error.items():
        print(f"  last {kind} error: {why}")
    print(
        f"RSS {rss0:.0f} -> {rss1:.0f} MB ({(rss1 - rss0) / rss0 * 100:+.1f} %); "
        f"slope {slope_per_1000(samples):.3f} MB per 1,000 requests "
        f"(goal <= {GOAL_MB_PER_1000}); errors {sum(tally.errors.values())} (goal 0); "
        f"replicas {args.replicas}"
    )
    if len(samples) > 24:
        at2 = min(samples, key=lambda s: abs(s.at - 120))
        later = [s for s in samples if s.at >= at2.at]
        print(
            f"slope from minute 2 (past the allocator's first settling): "
            f"{slope_per_1000(later):.3f} MB per 1,000 requests"
        )
        print(
            f"RSS at minute 2: {sum(at2.rss):.0f} MB; at the end {rss1:.0f} MB "
            f"({(rss1 - sum(at2.rss)) / sum(at2.rss) * 100:+.1f} %; goal within 10 %)"
        )
    if args.trace:
        print_growth(args.trace)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--replicas", type=int, default=1)
    parser.add_argument("--warmup", type=float, default=30.0, help="seconds before measuring")
    parser.add_argument("--trace", type=Path, default=None, help="tracemalloc output folder")
    args = parser.parse_args()
    if args.trace and args.replicas > 1:
        parser.error("--trace traces one gateway: use it with --replicas 1")
    work = Path(tempfile.mkdtemp(prefix="bench-soak-"))
    print(
        f"soak: {args.minutes:g} min after {args.warmup:.0f} s warm-up, {args.replicas} replica(s)"
    )
    with stack(args, work) as st:
        run(args, st)


if __name__ == "__main__":
    main()

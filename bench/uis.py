"""Benchmark of the service UIs (issue 5).  Prints figures; asserts nothing.

    .venv/bin/python bench/uis.py [--services 500] [--first-opens 30] [--opens 200]

Starts the dev IdP, an oscar-local with N extra sync services owned by alice,
and a gateway process; then measures, through real sockets with alice's bearer:

- process start -> ``/readyz`` 200, and RSS then;
- first open of never-opened UIs: first HTML byte and first prediction (p50/p90);
- RSS after opening ``--opens`` UIs one after another (LRU at ui.max_mounted);
- idle CPU with 20 live apps (ui.max_mounted = 20);
- ``/gradio_api/call`` p50/p99 of one service while other UIs are being built;
- ``/call`` p50 of a mounted app against the same generated app served alone
  by uvicorn (no gateway auth, access check or dispatcher), in the same run.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
from common import call, pct, standalone, start_gateway

from devstack.idp import DevIdp, fetch_tokens
from devstack.oscar import LocalOscar

SCRIPT = '#!/bin/sh\necho "hi $(cat "$INPUT_FILE_PATH")"\n'


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def create_services(oscar: LocalOscar, token: str, count: int) -> None:
    def create(i: int) -> None:
        body = {"name": f"bench-{i:03d}", "image": "alpine", "script": SCRIPT}
        r = httpx.post(
            f"{oscar.url}/system/services",
            json=body,
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        assert r.status_code in (200, 201), r.text

    create(0)  # first alone: oscar-local fetches the IdP's keys once
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(create, range(1, count)))


def first_open(http: httpx.Client, url: str, name: str) -> tuple[float, float]:
    started = time.perf_counter()
    with http.stream("GET", f"{url}/ui/{name}/", headers={"Accept": "text/html"}) as r:
        assert r.status_code == 200, r.status_code
        next(r.iter_raw())
        first_byte = time.perf_counter() - started
    call(http, f"{url}/ui/{name}", "predict", ["x"])
    return first_byte, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", type=int, default=500)
    parser.add_argument("--first-opens", type=int, default=30)
    parser.add_argument("--opens", type=int, default=200)
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-uis-"))
    with DevIdp() as idp:
        oscar = LocalOscar(data_dir=work / "oscar", oidc_issuers=[idp.issuer]).start()
        try:
            run(idp, oscar, args)
        finally:
            oscar.stop()


def run(idp: DevIdp, oscar: LocalOscar, args: argparse.Namespace) -> None:
    token = fetch_tokens(idp, user="alice")["access_token"]
    t = time.perf_counter()
    create_services(oscar, token, args.services)
    print(
        f"services in oscar-local: {args.services} (+ demo), "
        f"created in {time.perf_counter() - t:.1f} s"
    )
    headers = {"Authorization": f"Bearer {token}"}

    proc, url, ready = start_gateway(idp, oscar, max_mounted="20")
    try:
        print(f"start -> /readyz 200: {ready:.2f} s; RSS then: {rss_mb(proc.pid):.0f} MB")
        with httpx.Client(headers=headers, timeout=120) as http:
            names = [f"bench-{i:03d}" for i in range(args.services)]
            # The very first open also imports gradio (kept off the start-up path).
            first = first_open(http, url, names[-1])
            print(
                f"first UI after start (imports gradio): HTML {first[0] * 1000:.0f} ms, "
                f"prediction {first[1] * 1000:.0f} ms; RSS then {rss_mb(proc.pid):.0f} MB"
            )
            opens = [first_open(http, url, n) for n in names[: args.first_opens]]
            html = [o[0] for o in opens]
            pred = [o[1] for o in opens]
            print(
                f"first open ({len(opens)} UIs): first HTML byte p50 {pct(html, 0.5):.0f} ms "
                f"p90 {pct(html, 0.9):.0f} ms; first prediction p50 {pct(pred, 0.5):.0f} ms "
                f"p90 {pct(pred, 0.9):.0f} ms"
            )
            start = args.first_opens
            for name in names[start : start + args.opens]:
                http.get(f"{url}/ui/{name}/", headers={"Accept": "text/html"})
                http.get(f"{url}/ui/{name}/config")
            print(
                f"RSS after opening {args.opens} more UIs (max_mounted 20): "
                f"{rss_mb(proc.pid):.0f} MB"
            )
            # Past the sweeper's next collection of the apps evicted above: steady idle.
            time.sleep(15)
            c0, t0 = cpu_seconds(proc.pid), time.perf_counter()
            time.sleep(10)
            idle = (cpu_seconds(proc.pid) - c0) / (time.perf_counter() - t0) * 100
            print(f"idle CPU with 20 live apps: {idle:.1f} % of a core")

            target = f"{url}/ui/{names[0]}"
            call(http, target, "predict", ["warm"])
            quiet = [call(http, target, "predict", ["x"]) for _ in range(args.calls)]
            stop = threading.Event()

            def builder() -> None:
                with httpx.Client(headers=headers, timeout=120) as other:
                    for name in names[start + args.opens : -1]:
                        if stop.is_set():
                            return
                        other.get(f"{url}/ui/{name}/config")

            thread = threading.Thread(target=builder)
            thread.start()
            busy = [call(http, target, "predict", ["x"]) for _ in range(args.calls)]
            stop.set()
            thread.join()
            print(
                f"/call p50/p99 while other UIs are built: {pct(busy, 0.5):.1f} / "
                f"{pct(busy, 0.99):.1f} ms (idle gateway: {pct(quiet, 0.5):.1f} / "
                f"{pct(quiet, 0.99):.1f} ms)"
            )
        sa_proc, sa_url = standalone(oscar, token, names[0])
        try:
            with httpx.Client(headers=headers, timeout=120) as http:
                call(http, sa_url, "predict", ["warm"])
                mounted, alone = [], []
                for _ in range(args.calls):
                    mounted.append(call(http, target, "predict", ["x"]))
                    alone.append(call(http, sa_url, "predict", ["x"]))
            m50, s50 = statistics.median(mounted) * 1000, statistics.median(alone) * 1000
            print(
                f"/call p50 mounted {m50:.1f} ms vs standalone {s50:.1f} ms "
                f"(ratio {m50 / s50:.2f}x; the same generated app and OSCAR /run, "
                "standalone without the gateway's auth, access check and dispatcher)"
            )
        finally:
            sa_proc.terminate()
            sa_proc.wait(10)
    finally:
        proc.terminate()
        proc.wait(20)


if __name__ == "__main__":
    main()

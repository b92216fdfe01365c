"""What the benchmarks share: a gateway process, a standalone Gradio app, Gradio's call API."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from devstack.idp import DevIdp  # noqa: E402
from devstack.oscar import LocalOscar  # noqa: E402
from devstack.processes import free_port  # noqa: E402


def pct(values: list[float], q: float) -> float:
    """The ``q`` quantile of ``values`` (seconds), in milliseconds."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000


def start_gateway(
    idp: DevIdp, oscar: LocalOscar, **ui: str
) -> tuple[subprocess.Popen[bytes], str, float]:
    """A gateway process in front of ``oscar``; (process, URL, seconds to /readyz 200)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "GATEWAY_PUBLIC_URL": url,
        "GATEWAY_DEMO": "true",
        "GATEWAY_SESSION__SECRET": "bench-" + "x" * 40,
        "GATEWAY_OSCAR__URL": oscar.url,
        "GATEWAY_OIDC__ISSUER": idp.issuer,
        "GATEWAY_OIDC__CLIENT_ID": idp.client_id,
        "GATEWAY_OIDC__CLIENT_SECRET": idp.client_secret,
        "GATEWAY_OIDC__RESOURCE": idp.audience,
        "GATEWAY_OIDC__AUDIENCES": json.dumps([idp.audience]),
        "GATEWAY_LIMITS__INVOCATIONS_PER_MINUTE": "1000000",
        "GATEWAY_LOG_LEVEL": "WARNING",
        **{f"GATEWAY_UI__{k.upper()}": v for k, v in ui.items()},
    }
    argv = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1", "--port", str(port)]
    started = time.perf_counter()
    proc = subprocess.Popen(
        argv, env=env, cwd=tempfile.mkdtemp(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    while True:
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url, time.perf_counter() - started
        except httpx.TransportError:
            pass
        if proc.poll() is not None:
            raise RuntimeError("the gateway exited during start-up")
        time.sleep(0.01)


def call(http: httpx.Client, ui: str, api: str, data: list[object]) -> float:
    """One two-step ``/gradio_api/call``: POST, then read the events; seconds it took."""
    started = time.perf_counter()
    event_id = http.post(f"{ui}/gradio_api/call/{api}", json={"data": data}).json()["event_id"]
    with http.stream("GET", f"{ui}/gradio_api/call/{api}/{event_id}") as r:
        for line in r.iter_lines():
            if line.startswith("event: complete"):
                return time.perf_counter() - started
            if line.startswith("event: error"):
                raise RuntimeError(f"call to {ui} failed")
    raise RuntimeError("stream ended without a result")


async def acall(http: httpx.AsyncClient, ui: str, api: str, data: list[object]) -> None:
    """``call`` on an async client."""
    posted = await http.post(f"{ui}/gradio_api/call/{api}", json={"data": data})
    event_id = posted.json()["event_id"]
    async with http.stream("GET", f"{ui}/gradio_api/call/{api}/{event_id}") as r:
        async for line in r.aiter_lines():
            if line.startswith("event: complete"):
                return
            if line.startswith("event: error"):
                raise RuntimeError(f"call to {ui} failed")
    raise RuntimeError("stream ended without a result")


STANDALONE = """
import json, sys, anyio, httpx, uvicorn, gradio as gr
from fastapi import FastAPI
from core.identity import User
from gateway.mounts.builder import tune_queue
from oscar.client import OscarClient
from core.settings import Settings
from uis import registry
from uis.handlers import USER_STATE_KEY, ServiceContext
from uis.spec import parse_spec

oscar_url, token, port, name, ui = sys.argv[1:6]
port = int(port)
settings = Settings(demo=True, oscar={"url": oscar_url}, ui=json.loads(ui))
user = User(sub="alice", kind="bearer", access_token=token)

async def main():
    async with httpx.AsyncClient(timeout=60) as http:
        oscar = OscarClient(http, settings.oscar)
        service = await oscar.get_service(name, auth=user.authorization)
        blocks = registry.build(ServiceContext(parse_spec(service), oscar, settings))
        tune_queue(blocks, settings)
        app = gr.mount_gradio_app(FastAPI(), blocks, path="", ssr_mode=False)

        async def with_user(scope, receive, send):
            # What the dispatcher does after authenticating: the caller in the scope state.
            if scope["type"] == "http":
                scope = {**scope, "state": {**scope.get("state", {}), USER_STATE_KEY: user}}
            await app(scope, receive, send)

        config = uvicorn.Config(with_user, host="127.0.0.1", port=port, log_level="warning")
        await uvicorn.Server(config).serve()

anyio.run(main)
"""


def standalone(
    oscar: LocalOscar, token: str, name: str, **ui: object
) -> tuple[subprocess.Popen[bytes], str]:
    """Service ``name``'s generated Gradio app served alone by uvicorn (no gateway around it).

    ``ui`` are ``ui`` settings, as the gateway's ``GATEWAY_UI__*``.
    """
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-c", STANDALONE, oscar.url, token, str(port), name, json.dumps(ui)],
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(600):
        try:
            if httpx.get(f"{url}/config", timeout=1).status_code == 200:
                return proc, url
        except httpx.TransportError:
            time.sleep(0.1)
    raise RuntimeError("standalone gradio did not start")

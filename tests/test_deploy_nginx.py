"""deploy/nginx's template, run by Debian's nginx in front of real upstreams.

The upstreams are small ASGI apps served by uvicorn on loopback that echo what
reached them, so the test sees exactly what Nginx forwarded; the last tests put
a real gateway process behind it.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, StreamingResponse
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket
from websockets.sync.client import connect as ws_connect

from devstack.nginx import TEMPLATE, Nginx, render_template
from devstack.processes import ManagedProcess, free_port

ROOT = Path(__file__).resolve().parent.parent


class EchoUpstream:
    """A uvicorn server in a thread answering with what it received, tagged ``name``."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.port = free_port()
        self.release = threading.Event()
        self.bodies: list[int] = []
        routes = [
            Route("/events", self._events),
            Route("/ui/events", self._events),
            WebSocketRoute("/ui/ws", self._ws),
            Route("/{path:path}", self._echo, methods=["GET", "POST"]),
        ]
        app = Starlette(routes=routes)
        config = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", lifespan="off"
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    async def _echo(self, request: Request) -> JSONResponse:
        body = await request.body()
        self.bodies.append(len(body))
        return JSONResponse(
            {
                "upstream": self.name,
                "path": request.url.path,
                "query": request.url.query,
                "headers": dict(request.headers),
                "body_length": len(body),
            }
        )

    async def _events(self, request: Request) -> StreamingResponse:
        async def stream() -> AsyncIterator[bytes]:
            yield b"data: first\n\n"
            # The second event only comes once the client has seen the first:
            # with buffering on, the client would wait for ever (and time out).
            while not self.release.is_set():
                await anyio.sleep(0.02)
            yield b"data: second\n\n"

        return StreamingResponse(stream(), media_type="text/event-stream")

    async def _ws(self, websocket: WebSocket) -> None:
        await websocket.accept()
        text = await websocket.receive_text()
        await websocket.send_text(f"{self.name}:{text}")
        await websocket.close()

    def __enter__(self) -> EchoUpstream:
        self.thread.start()
        while not self.server.started:
            self.thread.join(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.release.set()
        self.server.should_exit = True
        self.thread.join(10)


@pytest.fixture
def two_upstreams() -> Iterator[tuple[EchoUpstream, EchoUpstream]]:
    with EchoUpstream("a") as a, EchoUpstream("b") as b:
        yield a, b


@pytest.fixture
def nginx(two_upstreams: tuple[EchoUpstream, EchoUpstream]) -> Iterator[Nginx]:
    a, b = two_upstreams
    with Nginx([a.port, b.port], max_body_bytes=4096) as server:
        yield server


def test_template_renders_every_placeholder_and_passes_nginx_t() -> None:
    server = Nginx([free_port(), free_port()], prefix="/site/gw")
    try:
        output = server.check()
        rendered = (server.directory / "oscar-gateway.conf").read_text()
    finally:
        server.stop()
    assert "test is successful" in output
    assert "${NGINX_" not in rendered
    assert "location /site/gw/ {" in rendered
    assert "hash $oscar_gateway_session_id$http_authorization consistent;" in rendered
    assert '"~(?:^|;) *oscar_gateway_session=(?<oscar_gateway_sid>[^;]+)"' in rendered


def test_render_refuses_a_missing_placeholder() -> None:
    with pytest.raises(KeyError, match="NGINX_"):
        render_template({"NGINX_LISTEN": "80"}, TEMPLATE)


def test_prefix_is_stripped_and_forwarded_headers_reach_the_upstream(nginx: Nginx) -> None:
    response = httpx.get(f"{nginx.url}/api/v1/services?x=1")
    assert response.status_code == 200
    seen = response.json()
    assert seen["path"] == "/api/v1/services"
    assert seen["query"] == "x=1"
    headers = seen["headers"]
    # With the port: Gradio builds asset URLs from it.
    assert headers["x-forwarded-host"] == f"127.0.0.1:{nginx.port}"
    assert headers["x-forwarded-proto"] == "http"
    assert headers["x-forwarded-for"] == "127.0.0.1"
    assert headers["x-forwarded-prefix"] == "/oscar-gateway"
    # Nginx made a request id (its $request_id: 32 hex digits) ...
    assert len(headers["x-request-id"]) == 32
    # ... and keeps the caller's own.
    again = httpx.get(f"{nginx.url}/portal", headers={"X-Request-ID": "caller-id-1234"})
    assert again.json()["headers"]["x-request-id"] == "caller-id-1234"
    # A client's own X-Forwarded-For is replaced by its address, not appended to (issue 10 #1).
    for path in ("/api/v1/services", "/ui/x/"):
        forged = httpx.get(f"{nginx.url}{path}", headers={"X-Forwarded-For": "203.0.113.9"})
        assert forged.json()["headers"]["x-forwarded-for"] == "127.0.0.1"


def test_access_log_is_json_with_the_request_id_and_no_query_string(nginx: Nginx) -> None:
    response = httpx.get(
        f"{nginx.url}/auth/callback?code=secret-code-1&state=secret-state-2",
        headers={"X-Request-ID": "nginx-log-0001"},
    )
    assert response.status_code == 200
    deadline = time.monotonic() + 10
    while "nginx-log-0001" not in nginx.access_log() and time.monotonic() < deadline:
        time.sleep(0.05)
    lines = [json.loads(line) for line in nginx.access_log().splitlines()]
    (entry,) = [e for e in lines if e["request_id"] == "nginx-log-0001"]
    assert entry["path"] == "/oscar-gateway/auth/callback"
    assert entry["status"] == 200 and entry["method"] == "GET"
    assert "secret-code-1" not in nginx.access_log()
    assert "secret-state-2" not in nginx.access_log()


def test_bare_prefix_redirects_to_the_prefix_with_slash(nginx: Nginx) -> None:
    response = httpx.get(nginx.url)
    assert response.status_code == 301
    assert response.headers["location"] == f"{nginx.url}/"


def test_ui_path_keeps_its_prefix_part_and_is_sticky_per_session_cookie(nginx: Nginx) -> None:
    served_by: dict[str, set[str]] = {}
    # 32 sessions: the chance that a consistent hash puts all on one replica is 2**-31.
    for n in range(32):
        cookie = {"oscar_gateway_session": f"session-{n}"}
        for _ in range(2):
            seen = httpx.get(f"{nginx.url}/ui/cowsay/", cookies=cookie).json()
            assert seen["path"] == "/ui/cowsay/"
            served_by.setdefault(cookie["oscar_gateway_session"], set()).add(seen["upstream"])
    # Every session stays on one replica; the sessions as a whole use both.
    assert all(len(replicas) == 1 for replicas in served_by.values())
    assert set().union(*served_by.values()) == {"a", "b"}


def test_ui_stickiness_hashes_on_a_prefixed_https_cookie_name(
    two_upstreams: tuple[EchoUpstream, EchoUpstream],
) -> None:
    # Over https the session cookie is "__Host-..." (or "__Secure-..."): a "-" that
    # $cookie_<name> cannot spell, so the template reads it from the Cookie header.
    a, b = two_upstreams
    name = "__Host-oscar_gateway_session"
    served_by: dict[str, set[str]] = {}
    with Nginx([a.port, b.port], session_cookie=name) as server:
        for n in range(32):
            # Other cookies around it, and one whose name merely ends like ours.
            header = f"theme=dark; x{name}=decoy; {name}=session-{n}; lang=en"
            for _ in range(2):
                seen = httpx.get(f"{server.url}/ui/cowsay/", headers={"Cookie": header}).json()
                served_by.setdefault(f"session-{n}", set()).add(seen["upstream"])
    assert all(len(replicas) == 1 for replicas in served_by.values())
    assert set().union(*served_by.values()) == {"a", "b"}


def test_ui_path_is_sticky_per_bearer_without_a_cookie(nginx: Nginx) -> None:
    # A /call client with a bearer and no cookie: its POST and GET must meet one queue.
    served_by: dict[str, set[str]] = {}
    for n in range(32):
        headers = {"Authorization": f"Bearer token-{n}"}
        for _ in range(2):
            seen = httpx.get(f"{nginx.url}/ui/cowsay/", headers=headers).json()
            served_by.setdefault(headers["Authorization"], set()).add(seen["upstream"])
    assert all(len(replicas) == 1 for replicas in served_by.values())
    assert set().union(*served_by.values()) == {"a", "b"}


def test_api_is_round_robin_even_with_a_session_cookie(nginx: Nginx) -> None:
    cookie = {"oscar_gateway_session": "one-session"}
    seen = [httpx.get(f"{nginx.url}/api/x", cookies=cookie).json()["upstream"] for _ in range(4)]
    assert set(seen) == {"a", "b"}


@pytest.mark.parametrize("path", ["/events", "/ui/events"])
def test_event_streams_are_not_buffered(
    nginx: Nginx, two_upstreams: tuple[EchoUpstream, EchoUpstream], path: str
) -> None:
    with httpx.stream("GET", f"{nginx.url}{path}", timeout=10.0) as response:
        assert response.headers["content-type"].startswith("text/event-stream")
        lines = response.iter_lines()
        first = next(line for line in lines if line)
        assert first == "data: first"
        for upstream in two_upstreams:
            upstream.release.set()
        second = next(line for line in lines if line)
        assert second == "data: second"


def test_websocket_upgrade_passes_through_the_ui_location(nginx: Nginx) -> None:
    ws_url = nginx.url.replace("http://", "ws://") + "/ui/ws"
    with ws_connect(ws_url, open_timeout=10, close_timeout=5) as ws:
        ws.send("hello")
        answer = ws.recv(timeout=10)
    assert answer in {"a:hello", "b:hello"}


def test_body_over_the_limit_is_refused_by_nginx_with_json_413(
    nginx: Nginx, two_upstreams: tuple[EchoUpstream, EchoUpstream]
) -> None:
    small = httpx.post(f"{nginx.url}/api/run", content=b"x" * 4000)
    assert small.status_code == 200
    assert small.json()["body_length"] == 4000
    received_before = sum(len(u.bodies) for u in two_upstreams)
    big = httpx.post(f"{nginx.url}/api/run", content=b"x" * 5000)
    assert big.status_code == 413
    assert big.json()["error"] == "payload_too_large"
    # Refused at the door: the upstreams never saw the oversize body.
    assert sum(len(u.bodies) for u in two_upstreams) == received_before


def test_no_upstream_answering_gives_a_json_502() -> None:
    with Nginx([free_port()]) as server:
        response = httpx.get(f"{server.url}/api/v1/services")
    assert response.status_code == 502
    assert response.json()["error"] == "gateway_down"


# --- a real gateway process behind nginx ------------------------------------------------------


@pytest.fixture
def gateway_behind_nginx(tmp_path: Path) -> Iterator[tuple[ManagedProcess, Nginx]]:
    port = free_port()
    with Nginx([port]) as server:
        env = {
            **os.environ,
            "GATEWAY_DEMO": "true",
            "GATEWAY_PUBLIC_URL": server.url,
            # Nothing listens there: readiness must say so.
            "GATEWAY_OSCAR__URL": f"http://127.0.0.1:{free_port()}",
            "GATEWAY_JOBS__SQLITE_PATH": str(tmp_path / "jobs.sqlite3"),
        }
        gateway = ManagedProcess(
            name="gateway",
            argv=[sys.executable, "-m", "gateway", "serve", "--port", str(port)],
            ready=r"Uvicorn running on",
            env=env,
            cwd=tmp_path,
        )
        with gateway:
            yield gateway, server


def _log_entries(gateway: ManagedProcess, request_id: str) -> list[dict[str, object]]:
    """The access lines for ``request_id``; written just after the response, so wait a little."""
    deadline = time.monotonic() + 10
    while True:
        entries = [json.loads(line) for line in list(gateway.lines) if line.startswith("{")]
        found = [
            e for e in entries if e["logger"] == "gateway.access" and e["request_id"] == request_id
        ]
        if found or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def test_gateway_answers_through_the_prefix_with_the_request_id(
    gateway_behind_nginx: tuple[ManagedProcess, Nginx],
) -> None:
    gateway, server = gateway_behind_nginx
    response = httpx.get(f"{server.url}/healthz", headers={"X-Request-ID": "probe-request-1"})
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert response.headers["x-request-id"] == "probe-request-1"
    unready = httpx.get(f"{server.url}/readyz")
    assert unready.status_code == 503
    request_id = unready.headers["x-request-id"]
    # The gateway logged the unready check with the id Nginx made, and the real client.
    access = _log_entries(gateway, request_id)
    assert len(access) == 1
    # The public path (uvicorn's root_path included); the route template without it.
    assert access[0]["path"] == "/oscar-gateway/readyz"
    assert access[0]["route"] == "/readyz"
    assert access[0]["status"] == 503
    assert access[0]["client"] == "127.0.0.1"


def test_metrics_are_not_published_through_nginx(
    gateway_behind_nginx: tuple[ManagedProcess, Nginx],
) -> None:
    _, server = gateway_behind_nginx
    assert httpx.get(f"{server.url}/metrics").status_code == 404
    direct = httpx.get(f"http://127.0.0.1:{server.upstream_ports[0]}/metrics")
    assert direct.status_code == 200
    assert "gateway_http_requests_total" in direct.text

"""Webhooks reach only allow-listed host:port pairs, at addresses that were checked (issue 10 #7).

Before, any port of an allowed host was accepted, a host resolving to loopback or a
private network was called (SSRF), and httpx resolved the name again when it
connected, so a DNS answer changed after the check (rebinding) redirected the call.
"""

from __future__ import annotations

import http.server
import io
import json
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from PIL import Image

from core.settings import Settings
from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from devstack.processes import free_port
from gateway.webhooks import deliver


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


@dataclass
class Receiver:
    """An http receiver bound to ``address``:``port``; records Host and where it was reached."""

    address: str
    port: int
    deliveries: queue.Queue[dict[str, Any]] = field(default_factory=queue.Queue)

    def __post_init__(self) -> None:
        deliveries = self.deliveries

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", "0")))
                reached = self.connection.getsockname()[0]
                deliveries.put({"host": self.headers["host"], "reached": reached, "body": body})
                self.send_response(204)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer((self.address, self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receivers() -> Iterator[tuple[Receiver, Receiver]]:
    """Two receivers on one port: 127.0.0.1 (the checked answer) and 127.0.0.3 (the rebound)."""
    port = free_port()
    checked, rebound = Receiver("127.0.0.1", port), Receiver("127.0.0.3", port)
    yield checked, rebound
    checked.close()
    rebound.close()


class StagedDns:
    """A resolver whose answers a test sets: the first, then another one for every later ask."""

    def __init__(self, first: str, later: str) -> None:
        self.answers = [first]
        self.later = later
        self.asked: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.asked.append((host, port))
        return [self.answers.pop(0) if self.answers else self.later]


def _settings(host: str, *, private: bool) -> Settings:
    jobs = {"webhook_allowed_hosts": [host], "webhook_allow_private_addresses": private}
    return Settings(demo=True, session={"secret": "s" * 40}, jobs=jobs)


@pytest.mark.anyio
async def test_delivery_connects_to_the_address_it_checked(
    receivers: tuple[Receiver, Receiver],
) -> None:
    checked, rebound = receivers
    # hooks.invalid resolves nowhere (RFC 6761): reaching a receiver at all shows no second,
    # system lookup happened; the staged DNS would answer 127.0.0.3 to one.
    url = f"http://hooks.invalid:{checked.port}/hook"
    dns = StagedDns("127.0.0.1", later="127.0.0.3")
    settings = _settings(f"hooks.invalid:{checked.port}", private=True)
    async with httpx.AsyncClient() as client:
        assert await deliver(client, url, {"n": 1}, settings=settings, resolve=dns)
    got = checked.deliveries.get(timeout=5)
    assert got["reached"] == "127.0.0.1"
    assert got["host"] == f"hooks.invalid:{checked.port}"
    assert json.loads(got["body"]) == {"n": 1}
    assert rebound.deliveries.empty()
    assert dns.asked == [("hooks.invalid", checked.port)]


@pytest.mark.anyio
async def test_a_delivery_whose_host_now_resolves_to_loopback_is_dropped(
    receivers: tuple[Receiver, Receiver],
) -> None:
    checked, rebound = receivers
    # Accepted at submission (say it resolved publicly then); at delivery it answers loopback.
    dns = StagedDns("127.0.0.1", later="127.0.0.1")
    settings = _settings(f"hooks.invalid:{checked.port}", private=False)
    async with httpx.AsyncClient() as client:
        url = f"http://hooks.invalid:{checked.port}/hook"
        assert not await deliver(client, url, {"n": 2}, settings=settings, resolve=dns)
    assert checked.deliveries.empty() and rebound.deliveries.empty()


# --- through a real gateway -----------------------------------------------------------------


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), (0, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.fixture
def hook_gateway(
    idp: DevIdp,
    local_oscar_factory: Callable[..., Any],
    auth_gateway_factory: Callable[..., GatewayProcess],
    receivers: tuple[Receiver, Receiver],
) -> Callable[..., GatewayProcess]:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    port = receivers[0].port

    def make(**settings: Any) -> GatewayProcess:
        return auth_gateway_factory(
            idp,
            oscar__url=oscar.url,
            jobs__webhook_allowed_hosts=[f"localhost:{port}"],
            oscar__job_poll_seconds=0.5,
            **settings,
        )

    return make


def _submit(gateway: GatewayProcess, idp: DevIdp, webhook: str) -> httpx.Response:
    alice = {"Authorization": f"Bearer {fetch_tokens(idp, user='alice')['access_token']}"}
    return httpx.post(
        f"{gateway.url}/api/v1/services/grayify/jobs",
        params={"webhook": webhook, "filename": "blue.png"},
        content=_png(),
        headers=alice,
        timeout=60,
    )


def test_another_port_of_an_allowed_host_and_loopback_are_refused_at_submission(
    hook_gateway: Callable[..., GatewayProcess], idp: DevIdp, receivers: tuple[Receiver, Receiver]
) -> None:
    port = receivers[0].port
    gateway = hook_gateway()
    for other in (f"http://localhost:{port + 1}/hook", "http://localhost/hook"):
        refused = _submit(gateway, idp, other)
        assert refused.status_code == 400
        assert f"may only use port {port}" in refused.json()["message"]
    # The listed host:port, but localhost is loopback: refused without the setting.
    loopback = _submit(gateway, idp, f"http://localhost:{port}/hook")
    assert loopback.status_code == 400
    assert loopback.json()["message"] == (
        "The webhook host 'localhost' resolves to 127.0.0.1, a loopback, private, link-local "
        "or reserved address, which this gateway does not call."
    )
    assert receivers[0].deliveries.empty()


def test_loopback_webhooks_are_delivered_when_explicitly_allowed(
    hook_gateway: Callable[..., GatewayProcess], idp: DevIdp, receivers: tuple[Receiver, Receiver]
) -> None:
    checked, _ = receivers
    gateway = hook_gateway(jobs__webhook_allow_private_addresses=True)
    submitted = _submit(gateway, idp, f"http://localhost:{checked.port}/hook")
    assert submitted.status_code == 202, submitted.text
    got = checked.deliveries.get(timeout=120)
    assert got["host"] == f"localhost:{checked.port}"
    event = json.loads(got["body"])
    assert event["job"]["id"] == submitted.json()["id"]
    assert event["job"]["status"] == "succeeded"

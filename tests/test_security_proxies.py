"""Client addresses cannot be forged with X-Forwarded-For (issue 10 #1).

The per-IP limit of public runs counts ``request.client``, which uvicorn takes
from X-Forwarded-For when (and only when) the connection comes from a trusted
proxy.  Our Nginx sends the connecting address only, so behind it a forged
header changes nothing; reached directly from an untrusted address, the gateway
ignores the header.  Distinct real clients use distinct loopback source
addresses (127.0.0.2, 127.0.0.3: all of 127/8 is local on Linux).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from devstack.gateway import GatewayProcess
from devstack.nginx import Nginx
from devstack.processes import free_port

PER_IP = 2


@pytest.fixture
def public_settings(local_oscar: Any) -> dict[str, Any]:
    cowsay = httpx.get(f"{local_oscar.url}/system/services/cowsay", auth=local_oscar.admin_auth)
    return {
        "oscar__url": local_oscar.url,
        "embed__public_services": ["cowsay"],
        "embed__public_tokens": {"cowsay": cowsay.json()["token"]},
        "embed__public_per_ip_per_minute": PER_IP,
        # A CIDR, as deployments give it: Nginx connects from 127.0.0.1.
        "trusted_proxies": ["127.0.0.1/32"],
    }


@pytest.fixture(params=[["127.0.0.1/32"], ["*"]], ids=["trusting-nginx", "trusting-anyone"])
def behind_nginx(
    request: pytest.FixtureRequest,
    gateway_factory: Callable[..., GatewayProcess],
    public_settings: dict[str, Any],
) -> Iterator[tuple[GatewayProcess, Nginx]]:
    """Our Nginx in front of a gateway trusting only it, and (the old compose and k8s
    value) one trusting anyone: Nginx's header alone must keep the address honest."""
    port = free_port()
    with Nginx([port]) as nginx:
        settings = {**public_settings, "trusted_proxies": request.param}
        gateway = gateway_factory(port=port, public_url=nginx.url, **settings)
        yield gateway, nginx


def _client(source: str) -> httpx.Client:
    """A client whose connections come from ``source`` (a loopback address)."""
    return httpx.Client(transport=httpx.HTTPTransport(local_address=source), timeout=60)


def _run(client: httpx.Client, base: str, forged: str | None) -> httpx.Response:
    headers = {"Content-Type": "text/plain"}
    if forged is not None:
        headers["X-Forwarded-For"] = forged
    return client.post(f"{base}/embed/public/cowsay/run", content="moo", headers=headers)


def _logged_clients(gateway: GatewayProcess, *expected: str) -> str:
    """The gateway's log once it has the access lines of ``expected`` clients (written just
    after each response, so wait a little)."""
    deadline = time.monotonic() + 10
    while True:
        log = gateway.output()
        if all(f'"client": "{c}"' in log for c in expected) or time.monotonic() > deadline:
            return log
        time.sleep(0.05)


def test_a_forged_forwarded_for_does_not_reset_the_limit_behind_nginx(
    behind_nginx: tuple[GatewayProcess, Nginx],
) -> None:
    gateway, nginx = behind_nginx
    with _client("127.0.0.2") as mallory:
        # A new made-up address on every request: all counted as mallory's one address.
        statuses = [
            _run(mallory, nginx.url, f"203.0.113.{n}, 198.51.100.{n}").status_code
            for n in range(PER_IP + 2)
        ]
        assert statuses == [200] * PER_IP + [429, 429]
        refused = _run(mallory, nginx.url, "127.0.0.9")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
    # Another real client, through the same Nginx, is counted apart.
    with _client("127.0.0.3") as alice:
        assert _run(alice, nginx.url, None).status_code == 200
    # The gateway logged the real addresses, never a forged one.
    log = _logged_clients(gateway, "127.0.0.2", "127.0.0.3")
    assert '"client": "127.0.0.2"' in log and '"client": "127.0.0.3"' in log
    assert "203.0.113." not in log and "127.0.0.9" not in log


def test_a_gateway_reached_directly_ignores_a_forged_forwarded_for(
    gateway_factory: Callable[..., GatewayProcess], public_settings: dict[str, Any]
) -> None:
    gateway = gateway_factory(**public_settings)
    with _client("127.0.0.2") as mallory:
        statuses = [
            _run(mallory, gateway.url, f"203.0.113.{n}").status_code for n in range(PER_IP + 1)
        ]
    assert statuses == [200] * PER_IP + [429]
    # The trusted proxy's own header is still believed: the deployment's legitimate use.
    with _client("127.0.0.1") as proxy:
        assert _run(proxy, gateway.url, "127.0.0.4").status_code == 200
    log = _logged_clients(gateway, "127.0.0.2", "127.0.0.4")
    assert '"client": "127.0.0.2"' in log and '"client": "127.0.0.4"' in log
    assert "203.0.113." not in log


def test_a_trusted_proxy_entry_that_is_no_address_stops_start_up(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("GATEWAY_")}
    env.update(GATEWAY_DEMO="true", GATEWAY_TRUSTED_PROXIES='["10.0.0.0/8", "nginx.internal"]')
    result = subprocess.run(
        [sys.executable, "-m", "gateway", "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode != 0
    assert result.stderr.strip().splitlines() == [
        "oscar-gateway: GATEWAY_TRUSTED_PROXIES: 'nginx.internal' is not an IP address or CIDR "
        '(or use ["*"] alone)'
    ]

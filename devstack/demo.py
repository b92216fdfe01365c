"""``make demo``: the whole stack on embedded defaults, on this machine.

Starts the dev OpenID provider, the local OSCAR with the demo services (it
trusts the provider's tokens) and the gateway, prints where to go and how to
log in, and runs until Ctrl-C.  ``--check`` starts everything, proves it
works (readiness, a login as alice through the REST API) and exits: the
smoke test of the demo itself.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import secrets
import signal
import sys
import threading
from pathlib import Path

import httpx

from devstack.gateway import GatewayProcess, settings_env
from devstack.idp import DevIdp, fetch_tokens
from devstack.oscar import REPO, LocalOscar

STATE = REPO / ".demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m devstack.demo")
    parser.add_argument("--port", type=int, default=int(os.environ.get("DEMO_PORT", "8000")))
    parser.add_argument("--check", action="store_true", help="start, verify, stop")
    args = parser.parse_args(argv)

    with contextlib.ExitStack() as stack:
        idp = stack.enter_context(DevIdp())
        oscar = stack.enter_context(
            LocalOscar(data_dir=_state_dir("oscar"), oidc_issuers=[idp.issuer])
        )
        gateway = stack.enter_context(
            GatewayProcess(port=args.port, env=settings_env(_gateway_settings(idp, oscar)))
        )
        if args.check:
            return _check(idp, gateway)
        _banner(idp, oscar, gateway)
        _wait_for_interrupt()
    return 0


def _state_dir(name: str) -> Path:
    path = STATE / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def _gateway_settings(idp: DevIdp, oscar: LocalOscar) -> dict[str, object]:
    return {
        "demo": True,
        "session__secret": secrets.token_urlsafe(32),
        "oscar__url": oscar.url,
        "jobs__sqlite_path": str(_state_dir("gateway") / "jobs.sqlite3"),
        **idp.gateway_settings(),
    }


def _check(idp: DevIdp, gateway: GatewayProcess) -> int:
    ready = httpx.get(f"{gateway.url}/readyz", timeout=10)
    token = fetch_tokens(idp, user="alice")["access_token"]
    services = httpx.get(
        f"{gateway.url}/api/v1/services",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    names = sorted(s["name"] for s in services.json()) if services.is_success else []
    print(f"demo check: /readyz {ready.status_code}; alice sees {names}")
    return 0 if ready.status_code == 200 and "cowsay" in names else 1


def _banner(idp: DevIdp, oscar: LocalOscar, gateway: GatewayProcess) -> None:
    users = ", ".join(f"{u} / {p}" for u, p in idp.users.items())
    print(
        "\n"
        "  oscar-gateway demo is running\n"
        f"    open       {gateway.url}/\n"
        f"    log in as  {users}  (user / password, on the provider's login form)\n"
        f"    API docs   {gateway.url}/api/v1/docs\n"
        f"    local OSCAR {oscar.url}  (admin: {oscar.username} / {oscar.password})\n"
        f"    OpenID provider {idp.issuer}\n"
        "  Ctrl-C stops everything.\n",
        flush=True,
    )


def _wait_for_interrupt() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    with contextlib.suppress(KeyboardInterrupt):
        stop.wait()


if __name__ == "__main__":
    sys.exit(main())

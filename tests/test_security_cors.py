"""Gradio's permissive CORS on the mounted apps (issue 10, hole 4), attacked over real sockets.

Gradio's ``CustomCORSMiddleware`` echoes any ``Origin`` with credentials as
soon as the ``Host`` is not localhost (behind a proxy, always), unless the app
it is mounted on has a ``CORSMiddleware``.  Each private app now has one, so
the gateway's own allow-list (``GATEWAY_EMBED__ALLOWED_ORIGINS``) is the only
CORS policy on ``/ui``: an evil origin gets no CORS header and its preflight is
refused, the allowed one gets its origin echoed with credentials.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp
from tests.fixtures.gateway import login

ALLOWED = "https://site.example"
EVIL = ("https://evil.example", "https://gw.example.org.evil.example", "null")
HOST = {"Host": "gw.example.org"}  # what Nginx passes on: not localhost
ROUTES = ("/ui/cowsay/config", "/ui/cowsay/gradio_api/info", "/ui/cowsay/")


def _cors(response: httpx.Response) -> dict[str, str]:
    return {k: v for k, v in response.headers.items() if k.startswith("access-control-")}


def _queue_data_headers(http: httpx.Client, base: str, origin: str) -> dict[str, str]:
    url = f"{base}/ui/cowsay/gradio_api/queue/data?session_hash=cors-test"
    with http.stream("GET", url, headers={**HOST, "Origin": origin}) as response:
        return _cors(response)


def test_only_allowed_origins_get_cors_headers_from_the_uis(
    idp: DevIdp,
    local_oscar_factory: Callable[..., Any],
    auth_gateway_factory: Callable[..., GatewayProcess],
) -> None:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    gateway = auth_gateway_factory(idp, oscar__url=oscar.url, embed__allowed_origins=[ALLOWED])
    with login(gateway, idp) as http:
        # The first visit builds the app (gradio's import takes seconds on a busy machine).
        assert http.get(f"{gateway.url}/ui/cowsay/", timeout=90).status_code == 200
        for evil in EVIL:
            for route in ROUTES:
                response = http.get(f"{gateway.url}{route}", headers={**HOST, "Origin": evil})
                assert response.status_code == 200, (route, response.text)
                assert _cors(response) == {}, (evil, route, _cors(response))
            assert _queue_data_headers(http, gateway.url, evil) == {}
            preflight = http.options(
                f"{gateway.url}/ui/cowsay/gradio_api/queue/join",
                headers={
                    **HOST,
                    "Origin": evil,
                    "Access-Control-Request-Method": "POST",
                    "Access-Control-Request-Headers": "content-type",
                },
            )
            assert preflight.status_code == 400
            assert "access-control-allow-origin" not in preflight.headers
        # The embedding site on the allow-list: its origin, with credentials.
        for route in ROUTES:
            response = http.get(f"{gateway.url}{route}", headers={**HOST, "Origin": ALLOWED})
            assert response.headers["access-control-allow-origin"] == ALLOWED
            assert response.headers["access-control-allow-credentials"] == "true"
        assert _queue_data_headers(http, gateway.url, ALLOWED)["access-control-allow-origin"] == (
            ALLOWED
        )
        preflight = http.options(
            f"{gateway.url}/ui/cowsay/gradio_api/queue/join",
            headers={**HOST, "Origin": ALLOWED, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 200
        assert preflight.headers["access-control-allow-origin"] == ALLOWED
        assert preflight.headers["access-control-allow-credentials"] == "true"

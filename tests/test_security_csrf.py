"""CSRF beyond SameSite=Lax (issue 10, hole 5), attacked over real sockets.

Sibling subdomains are same-site, so ``SameSite=Lax`` alone let a page on
``blog.example.org`` POST to ``gw.example.org`` with the user's cookie.  Now a
cookie-authenticated POST/PUT/PATCH/DELETE whose ``Origin`` (or ``Referer``)
is neither ours nor an allowed embed origin is 403 with the reason, on the
REST API, the UIs' Gradio API, embed-link minting and logout; the same
requests from our origin, the allowed embed origin or with a bearer work.
Over https the session cookie is ``__Host-``/``__Secure-`` prefixed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens, follow_login
from devstack.processes import free_port
from tests.fixtures.gateway import login

ALLOWED = "https://site.example"
FORGED = (
    {"Origin": "https://evil.example"},
    {"Origin": "http://blog.example.org"},  # a sibling subdomain: same site, other origin
    {"Origin": "null"},  # sandboxed frames, some redirects
    {"Referer": "http://blog.example.org/post?id=1"},  # no Origin: the Referer decides
)


@pytest.fixture
def site(
    idp_factory: Callable[..., DevIdp],
    local_oscar_factory: Callable[..., Any],
    auth_gateway_factory: Callable[..., GatewayProcess],
) -> tuple[GatewayProcess, DevIdp, str]:
    """A gateway published as http://gw.example.org:PORT; returns (gateway, provider, origin)."""
    port = free_port()
    ours = f"http://gw.example.org:{port}"
    provider = idp_factory(redirect_uris=[f"{ours}/auth/callback"], loopback_any_port=False)
    oscar = local_oscar_factory(oidc_issuers=[provider.issuer])
    gateway = auth_gateway_factory(
        provider,
        port=port,
        public_url=ours,
        oscar__url=oscar.url,
        embed__allowed_origins=[ALLOWED],
    )
    return gateway, provider, ours


def _unsafe_calls(http: httpx.Client, base: str, headers: dict[str, str]) -> list[httpx.Response]:
    """A run, a UI call and an embed-link minting, each with ``headers``."""
    return [
        http.post(f"{base}/api/v1/services/cowsay/run", content=b"moo", headers=headers),
        http.post(
            f"{base}/ui/cowsay/gradio_api/call/cowsay", json={"data": ["moo"]}, headers=headers
        ),
        http.post(f"{base}/api/v1/services/cowsay/embed-links", headers=headers),
    ]


def _refused(response: httpx.Response) -> bool:
    return (
        response.status_code == 403
        and response.json()["error"] == "forbidden"
        and "cross-site request forgery" in response.json()["message"]
    )


def test_cookie_requests_from_foreign_origins_are_refused(
    site: tuple[GatewayProcess, DevIdp, str],
) -> None:
    gateway, provider, ours = site
    with login(gateway, provider) as http:
        # The first visit builds the app (gradio's import takes seconds on a busy machine).
        assert http.get(f"{gateway.url}/ui/cowsay/", timeout=90).status_code == 200
        for forged in FORGED:
            for response in _unsafe_calls(http, gateway.url, forged):
                assert _refused(response), (forged, response.status_code, response.text)
                claimed = forged.get("Origin") or "http://blog.example.org"
                assert repr(claimed) in response.json()["message"]
            # A browser asking for a page gets the reason as a page.
            page = http.post(
                f"{gateway.url}/auth/logout", headers={**forged, "Accept": "text/html"}
            )
            assert page.status_code == 403 and "cross-site request forgery" in page.text
        assert http.get(f"{gateway.url}/auth/me").status_code == 200  # still logged in
        # Ours, the allowed embed origin, and neither header (not a browser): they work.
        for headers in ({"Origin": ours}, {"Referer": f"{ours}/"}, {"Origin": ALLOWED}, {}):
            statuses = [r.status_code for r in _unsafe_calls(http, gateway.url, headers)]
            assert statuses == [200, 200, 201], (headers, statuses)
        csrf = http.get(f"{gateway.url}/auth/me").json()["csrf_token"]
        logout = http.post(
            f"{gateway.url}/auth/logout", data={"csrf_token": csrf}, headers={"Origin": ours}
        )
        assert logout.status_code == 303
        assert http.get(f"{gateway.url}/auth/me").status_code == 401


def test_bearer_requests_do_not_rely_on_the_origin(
    site: tuple[GatewayProcess, DevIdp, str],
) -> None:
    gateway, provider, _ = site
    token = fetch_tokens(provider, user="alice")["access_token"]
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        for headers in ({}, {"Origin": "https://evil.example"}):
            statuses = [r.status_code for r in _unsafe_calls(http, gateway.url, headers)]
            assert statuses == [200, 200, 201], (headers, statuses)


def _set_cookies(response: httpx.Response) -> dict[str, str]:
    cookies = {}
    for header in response.headers.get_list("set-cookie"):
        name, _, rest = header.partition("=")
        cookies[name] = rest
    return cookies


@pytest.mark.parametrize(
    ("prefix", "session_name"),
    [("", "__Host-oscar_gateway_session"), ("/oscar-gateway", "__Secure-oscar_gateway_session")],
)
def test_https_session_cookies_carry_host_or_secure_prefixes(
    idp_factory: Callable[..., DevIdp],
    auth_gateway_factory: Callable[..., GatewayProcess],
    prefix: str,
    session_name: str,
) -> None:
    port = free_port()
    public = f"https://127.0.0.1:{port}{prefix}"
    provider = idp_factory(redirect_uris=[f"{public}/auth/callback"], loopback_any_port=False)
    gateway = auth_gateway_factory(provider, port=port, public_url=public)
    with httpx.Client(timeout=20) as client:
        start = client.get(f"{gateway.url}/auth/login")
        login_cookie = _set_cookies(start)[f"{session_name}_login"]
        callback = follow_login(
            start.headers["location"],
            user="alice",
            password="wonderland",
            stop_at=f"{public}/auth/callback",
            client=client,
        )
        # httpx keeps Secure cookies off plain http: send them by hand.
        cookie = f"{session_name}_login={login_cookie.split(';')[0]}"
        response = client.get(gateway.url + callback[len(public) :], headers={"cookie": cookie})
    assert response.status_code == 303
    issued = _set_cookies(response)
    assert "oscar_gateway_session" not in issued  # no plain name over https
    flags = issued[session_name].lower()
    assert "; secure" in flags and "httponly" in flags and "domain=" not in flags
    assert f"path={prefix or '/'};" in flags + ";"
    session = issued[session_name].split(";")[0]
    me = httpx.get(f"{gateway.url}/auth/me", headers={"cookie": f"{session_name}={session}"})
    assert me.status_code == 200 and me.json()["sub"]
    # The plain name is not read any more: a cookie planted under it means nothing.
    plain = httpx.get(
        f"{gateway.url}/auth/me", headers={"cookie": f"oscar_gateway_session={session}"}
    )
    assert plain.status_code == 401

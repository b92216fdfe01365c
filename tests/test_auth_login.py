"""Browser login over real HTTP: a real gateway process, the real dev OpenID provider."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit, urlunsplit

import httpx
import pytest

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens, follow_login, pkce_pair
from tests.fixtures.gateway import Browser, callback_prefix, login, start_login

GatewayFactory = Callable[..., GatewayProcess]


@pytest.fixture(scope="module")
def gateway(idp: DevIdp, module_gateway_factory: GatewayFactory) -> GatewayProcess:
    """One gateway for the module: each test logs in with its own client and cookies."""
    return module_gateway_factory(**idp.gateway_settings())


def _set_cookie(response: httpx.Response, name: str) -> str:
    found = [h for h in response.headers.get_list("set-cookie") if h.startswith(name + "=")]
    assert found, response.headers.get_list("set-cookie")
    return found[0]


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def _with_query(url: str, **changes: str | None) -> str:
    parts = urlsplit(url)
    query = _query(url)
    for key, value in changes.items():
        if value is None:
            query.pop(key, None)
        else:
            query[key] = value
    return urlunsplit(parts._replace(query=urlencode(query)))


def _gateway_authorize(gateway: GatewayProcess, client: httpx.Client) -> str:
    """Start a login at the gateway; the provider authorization URL it redirects to."""
    response = client.get(f"{gateway.url}/auth/login")
    assert response.status_code == 303
    return response.headers["location"]


# -- the happy path -------------------------------------------------------------


def test_login_creates_session_and_me_shows_the_user(gateway: GatewayProcess, idp: DevIdp) -> None:
    with login(gateway, idp) as client:
        me = client.get(f"{gateway.url}/auth/me")
    assert me.status_code == 200
    body = me.json()
    assert body["sub"] == "alice"
    assert body["name"] == "Alice Demo"
    assert body["email"] == "alice@example.org"
    assert "oscar-users" in body["groups"]
    assert body["kind"] == "session"
    assert body["expires_at"] > 0
    assert body["csrf_token"]


def test_login_returns_to_next(gateway: GatewayProcess, idp: DevIdp) -> None:
    client, callback = start_login(gateway, idp, next_url="/auth/account?tab=1")
    with client:
        response = client.get(callback)
        assert response.status_code == 303
        assert response.headers["location"] == "/auth/account?tab=1"
        page = client.get(f"{gateway.url}/auth/account", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "Alice Demo" in page.text


def test_authorization_request_uses_pkce_state_nonce_resource(
    gateway: GatewayProcess, idp: DevIdp
) -> None:
    with httpx.Client() as client:
        query = _query(_gateway_authorize(gateway, client))
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 32 and len(query["nonce"]) >= 32
    assert query["resource"] == idp.audience
    assert query["redirect_uri"] == f"{gateway.url}/auth/callback"
    assert query["client_id"] == idp.client_id


def test_bearer_token_is_accepted_by_me(gateway: GatewayProcess, idp: DevIdp) -> None:
    token = fetch_tokens(idp, user="bob")["access_token"]
    me = httpx.get(f"{gateway.url}/auth/me", headers={"authorization": f"Bearer {token}"})
    assert me.status_code == 200
    assert me.json()["sub"] == "bob"
    assert me.json()["kind"] == "bearer"


# -- unauthenticated ------------------------------------------------------------


def test_api_without_credentials_gets_401_with_www_authenticate(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.url}/auth/me")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    assert response.json()["error"] == "unauthorized"


def test_html_page_without_session_redirects_to_login(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.url}/auth/account", headers={"accept": "text/html"})
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/login?next=%2Fauth%2Faccount"


def test_forged_session_cookie_is_not_accepted(gateway: GatewayProcess) -> None:
    cookies = {"oscar_gateway_session": "forged-" + "A" * 36}
    response = httpx.get(f"{gateway.url}/auth/me", cookies=cookies)
    assert response.status_code == 401


def test_service_token_outside_a_service_route_is_401(gateway: GatewayProcess) -> None:
    headers = {"authorization": "Bearer " + "ab" * 32}
    response = httpx.get(f"{gateway.url}/auth/me", headers=headers)
    assert response.status_code == 401
    assert "service" in response.json()["message"]


def test_non_bearer_authorization_scheme_is_401(gateway: GatewayProcess) -> None:
    response = httpx.get(f"{gateway.url}/auth/me", auth=("oscar", "oscar"))
    assert response.status_code == 401


# -- callback negatives ---------------------------------------------------------


def test_callback_rejects_missing_state(gateway: GatewayProcess, idp: DevIdp) -> None:
    client, callback = start_login(gateway, idp)
    with client:
        response = client.get(_with_query(callback, state=None))
        assert response.status_code == 400
        assert "state" in response.json()["message"]
        assert client.get(f"{gateway.url}/auth/me").status_code == 401


def test_callback_rejects_mismatched_state(gateway: GatewayProcess, idp: DevIdp) -> None:
    client, callback = start_login(gateway, idp)
    with client:
        response = client.get(_with_query(callback, state="not-the-state-we-sent"))
        assert response.status_code == 400
        assert client.get(f"{gateway.url}/auth/me").status_code == 401


def test_callback_without_login_cookie_is_400(gateway: GatewayProcess, idp: DevIdp) -> None:
    client, callback = start_login(gateway, idp)
    client.close()
    # Another browser (no login cookie) presenting the victim's callback URL.
    response = httpx.get(callback)
    assert response.status_code == 400
    assert "oscar_gateway_session" not in response.headers.get("set-cookie", "")


def test_callback_rejects_replayed_code(gateway: GatewayProcess, idp: DevIdp) -> None:
    client, callback = start_login(gateway, idp)
    with client:
        assert client.get(callback).status_code == 303
        client.cookies.clear()
        replay = client.get(callback)
        assert replay.status_code == 400
        # Even with a fresh login in progress, the used code is refused by the provider.
        fresh = _query(_gateway_authorize(gateway, client))
        again = client.get(_with_query(callback, state=fresh["state"]))
        assert again.status_code == 400
        assert "refused" in again.json()["message"]
        assert client.get(f"{gateway.url}/auth/me").status_code == 401


def test_callback_reports_provider_error(gateway: GatewayProcess) -> None:
    with httpx.Client() as client:
        state = _query(_gateway_authorize(gateway, client))["state"]
        response = client.get(
            f"{gateway.url}/auth/callback", params={"error": "access_denied", "state": state}
        )
    assert response.status_code == 400
    assert "access_denied" in response.json()["message"]


def test_callback_without_code_is_400(gateway: GatewayProcess) -> None:
    with httpx.Client() as client:
        state = _query(_gateway_authorize(gateway, client))["state"]
        response = client.get(f"{gateway.url}/auth/callback", params={"state": state})
    assert response.status_code == 400


def test_callback_rejects_wrong_nonce(gateway: GatewayProcess, idp: DevIdp) -> None:
    with httpx.Client(timeout=20) as client:
        authorize = _gateway_authorize(gateway, client)
        # The provider is asked for a different nonce than the one the gateway stored.
        tampered = _with_query(authorize, nonce="attacker-chosen-nonce")
        callback = follow_login(
            tampered,
            user="alice",
            password="wonderland",
            stop_at=callback_prefix(gateway),
            client=client,
        )
        response = client.get(callback)
        assert response.status_code == 400
        assert "nonce" in response.json()["message"]
        assert client.get(f"{gateway.url}/auth/me").status_code == 401


def test_callback_rejects_pkce_verifier_mismatch(gateway: GatewayProcess, idp: DevIdp) -> None:
    with httpx.Client(timeout=20) as client:
        authorize = _gateway_authorize(gateway, client)
        # An attacker's code_challenge: the gateway's stored verifier does not match it.
        _, other_challenge = pkce_pair()
        tampered = _with_query(authorize, code_challenge=other_challenge)
        callback = follow_login(
            tampered,
            user="alice",
            password="wonderland",
            stop_at=callback_prefix(gateway),
            client=client,
        )
        response = client.get(callback)
        assert response.status_code == 400
        assert "refused" in response.json()["message"]
        assert client.get(f"{gateway.url}/auth/me").status_code == 401


# -- session id, expiry --------------------------------------------------------


def test_preset_session_cookie_is_not_adopted(gateway: GatewayProcess, idp: DevIdp) -> None:
    planted = "attacker-planted-session-id-0123456789abcdefghijk"
    client = Browser(timeout=20)
    client.cookies.set("oscar_gateway_session", planted, domain="127.0.0.1", path="/")
    with login(gateway, idp, client=client):
        issued = client.cookies.get("oscar_gateway_session")
        assert issued and issued != planted
        assert client.get(f"{gateway.url}/auth/me").status_code == 200
    stale = httpx.get(f"{gateway.url}/auth/me", cookies={"oscar_gateway_session": planted})
    assert stale.status_code == 401


def test_session_id_rotates_at_each_login(gateway: GatewayProcess, idp: DevIdp) -> None:
    with login(gateway, idp) as client:
        first = client.cookies["oscar_gateway_session"]
        _forget_provider_session(client)
        login(gateway, idp, client=client)
        second = client.cookies["oscar_gateway_session"]
        assert second != first
        assert client.get(f"{gateway.url}/auth/me").status_code == 200
    old = httpx.get(f"{gateway.url}/auth/me", cookies={"oscar_gateway_session": first})
    assert old.status_code == 401


def test_second_login_with_live_provider_session(gateway: GatewayProcess, idp: DevIdp) -> None:
    # The provider remembers the user: the second login needs no password, only redirects.
    with login(gateway, idp) as client:
        first = client.cookies["oscar_gateway_session"]
        response = client.get(f"{gateway.url}/auth/login")
        for _ in range(10):
            if not response.is_redirect or response.url.path == "/auth/callback":
                break
            response = client.get(response.url.join(response.headers["location"]))
        assert response.url.path == "/auth/callback"
        assert response.status_code == 303
        assert client.cookies["oscar_gateway_session"] != first
        assert client.get(f"{gateway.url}/auth/me").json()["sub"] == "alice"


def _forget_provider_session(client: httpx.Client) -> None:
    for name in [c.name for c in client.cookies.jar if not c.name.startswith("oscar_gateway")]:
        client.cookies.delete(name)


def test_expired_session_asks_for_login_again(
    idp: DevIdp, auth_gateway_factory: GatewayFactory
) -> None:
    import time

    gateway = auth_gateway_factory(idp, session__ttl_seconds=2)
    with login(gateway, idp) as client:
        assert client.get(f"{gateway.url}/auth/me").status_code == 200
        time.sleep(3)
        assert client.get(f"{gateway.url}/auth/me").status_code == 401
        page = client.get(f"{gateway.url}/auth/account", headers={"accept": "text/html"})
        assert page.status_code == 303
        assert page.headers["location"].startswith("/auth/login?next=")


# -- logout --------------------------------------------------------------------


def test_logout_without_csrf_token_is_403(gateway: GatewayProcess, idp: DevIdp) -> None:
    with login(gateway, idp) as client:
        response = client.post(f"{gateway.url}/auth/logout")
        assert response.status_code == 403
        assert client.get(f"{gateway.url}/auth/me").status_code == 200


def test_logout_with_wrong_csrf_token_is_403(gateway: GatewayProcess, idp: DevIdp) -> None:
    with login(gateway, idp) as client:
        response = client.post(f"{gateway.url}/auth/logout", data={"csrf_token": "guess"})
        assert response.status_code == 403
        header = client.post(f"{gateway.url}/auth/logout", headers={"x-csrf-token": "guess"})
        assert header.status_code == 403
        assert client.get(f"{gateway.url}/auth/me").status_code == 200


def test_logout_ends_session_and_logs_out_at_provider(gateway: GatewayProcess, idp: DevIdp) -> None:
    with login(gateway, idp) as client:
        old = client.cookies["oscar_gateway_session"]
        csrf = client.get(f"{gateway.url}/auth/me").json()["csrf_token"]
        response = client.post(f"{gateway.url}/auth/logout", data={"csrf_token": csrf})
        assert response.status_code == 303
        location = response.headers["location"]
        assert location.startswith(idp.discovery()["end_session_endpoint"])
        assert _query(location)["post_logout_redirect_uri"] == f"{gateway.url}/auth/logged-out"
        assert "id_token_hint" in _query(location)
        assert client.get(f"{gateway.url}/auth/me").status_code == 401
    again = httpx.get(f"{gateway.url}/auth/me", cookies={"oscar_gateway_session": old})
    assert again.status_code == 401


# -- cookie flags --------------------------------------------------------------


def test_cookie_flags_on_http_demo(gateway: GatewayProcess, idp: DevIdp) -> None:
    client, callback = start_login(gateway, idp)
    with client:
        response = client.get(callback)
    cookie = _set_cookie(response, "oscar_gateway_session").lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/" in cookie
    assert "secure" not in cookie


def test_cookie_flags_with_https_public_url(
    idp_factory: Callable[..., DevIdp], auth_gateway_factory: GatewayFactory
) -> None:
    from devstack.processes import free_port

    port = free_port()
    public = f"https://127.0.0.1:{port}/oscar-gateway"
    # A web client: RFC 8252's any-port rule is for http loopback redirects only.
    provider = idp_factory(redirect_uris=[f"{public}/auth/callback"], loopback_any_port=False)
    gateway = auth_gateway_factory(provider, port=port, public_url=public)
    with httpx.Client(timeout=20) as client:
        start = client.get(f"{gateway.url}/auth/login")
        # Under a prefix over https: "__Secure-" names ("__Host-" needs Path=/).
        login_cookie = _set_cookie(start, "__Secure-oscar_gateway_session_login")
        assert "; secure" in login_cookie.lower()
        assert "path=/oscar-gateway" in login_cookie.lower()
        callback = follow_login(
            start.headers["location"],
            user="alice",
            password="wonderland",
            stop_at=f"{public}/auth/callback",
            client=client,
        )
        # httpx keeps Secure cookies off plain http: send the login cookie by hand.
        login_id = login_cookie.split(";")[0].split("=", 1)[1]
        response = client.get(
            gateway.url + callback[len(public) :],
            headers={"cookie": f"__Secure-oscar_gateway_session_login={login_id}"},
        )
    assert response.status_code == 303
    cookie = _set_cookie(response, "__Secure-oscar_gateway_session").lower()
    assert "; secure" in cookie
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert "path=/oscar-gateway" in cookie


# -- proxies and provider trouble ----------------------------------------------


def test_redirect_uri_ignores_forwarded_headers(gateway: GatewayProcess) -> None:
    # 127.0.0.1 is a trusted proxy, yet the callback comes from GATEWAY_PUBLIC_URL only.
    headers = {"x-forwarded-host": "evil.example", "x-forwarded-proto": "https"}
    response = httpx.get(f"{gateway.url}/auth/login", headers=headers)
    assert response.status_code == 303
    assert _query(response.headers["location"])["redirect_uri"] == f"{gateway.url}/auth/callback"


def test_login_with_unreachable_provider_is_503(auth_gateway_factory: GatewayFactory) -> None:
    # A provider that is configured but never started: nothing listens at its issuer.
    gateway = auth_gateway_factory(DevIdp())
    response = httpx.get(f"{gateway.url}/auth/login", headers={"accept": "text/html"})
    assert response.status_code == 503
    assert "identity provider" in response.text


def test_logout_without_session_just_says_logged_out(gateway: GatewayProcess) -> None:
    response = httpx.post(f"{gateway.url}/auth/logout")
    assert response.status_code == 303
    assert response.headers["location"] == "/auth/logged-out"
    page = httpx.get(f"{gateway.url}/auth/logged-out")
    assert page.status_code == 200 and "logged out" in page.text


def test_provider_down_keeps_session_until_its_token_expires(
    idp_factory: Callable[..., DevIdp], auth_gateway_factory: GatewayFactory
) -> None:
    import time

    provider = idp_factory(access_token_ttl=4)
    gateway = auth_gateway_factory(provider)
    with login(gateway, provider) as client:
        provider.kill()
        # The refresh fails (provider gone) but the access token is still valid.
        assert client.get(f"{gateway.url}/auth/me").status_code == 200
        time.sleep(5)
        assert client.get(f"{gateway.url}/auth/me").status_code == 401

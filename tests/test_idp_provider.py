"""The dev OpenID provider (deploy/dev-idp) behaves like the providers the gateway meets."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
import pytest
from jose import jwt

from devstack.idp import (
    TEST_REDIRECT_URI,
    DevIdp,
    LoginFailed,
    fetch_tokens,
    follow_login,
    pkce_pair,
    refresh_tokens,
)


def _authorize_url(idp: DevIdp, redirect_uri: str = TEST_REDIRECT_URI, **extra: str) -> str:
    params = {
        "client_id": idp.client_id,
        "response_type": "code",
        "redirect_uri": redirect_uri,
        "scope": "openid profile email offline_access",
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "resource": idp.audience,
        **extra,
    }
    return f"{idp.discovery()['authorization_endpoint']}?{urlencode(params)}"


def _query(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def test_discovery_announces_pkce_s256_logout_and_the_signing_key(idp: DevIdp) -> None:
    doc = idp.discovery()
    assert doc["issuer"] == idp.issuer
    assert doc["code_challenge_methods_supported"] == ["S256"]
    assert doc["end_session_endpoint"] == f"{idp.issuer}/session/end"
    assert "refresh_token" in doc["grant_types_supported"]
    jwks = httpx.get(doc["jwks_uri"]).json()
    kids = {key["kid"] for key in jwks["keys"]}
    assert {idp.kid, idp.ec_kid} <= kids
    assert all("d" not in key for key in jwks["keys"])  # public halves only


def test_login_gives_rs256_jwt_access_token_for_the_resource(idp: DevIdp) -> None:
    tokens = fetch_tokens(idp, user="alice")
    header = jwt.get_unverified_header(tokens["access_token"])
    assert header["alg"] == "RS256" and header["kid"] == idp.kid
    claims = jwt.decode(
        tokens["access_token"],
        idp.public_key_pem,
        algorithms=["RS256"],
        audience=idp.audience,
        issuer=idp.issuer,
    )
    assert claims["sub"] == "alice"
    assert claims["client_id"] == idp.client_id
    assert claims["email"] == "alice@example.org"
    assert tokens["refresh_token"]


def test_id_token_carries_profile_claims_and_the_nonce(idp: DevIdp) -> None:
    tokens = fetch_tokens(idp, user="bob")
    claims = jwt.get_unverified_claims(tokens["id_token"])
    assert claims["sub"] == "bob"
    assert claims["aud"] == idp.client_id
    assert claims["nonce"] == tokens["nonce"]
    assert claims["name"] == "Bob Demo"
    assert claims["groups"] == ["demo"]


def test_wrong_password_is_rejected_by_the_login_form(idp: DevIdp) -> None:
    _, challenge = pkce_pair()
    url = _authorize_url(idp, code_challenge=challenge, code_challenge_method="S256")
    with pytest.raises(LoginFailed, match="rejected"):
        follow_login(url, user="alice", password="not-her-password", stop_at=TEST_REDIRECT_URI)


def test_unknown_user_is_rejected_by_the_login_form(idp: DevIdp) -> None:
    _, challenge = pkce_pair()
    url = _authorize_url(idp, code_challenge=challenge, code_challenge_method="S256")
    with pytest.raises(LoginFailed, match="rejected"):
        follow_login(url, user="mallory", password="wonderland", stop_at=TEST_REDIRECT_URI)


def test_authorization_without_pkce_is_refused(idp: DevIdp) -> None:
    response = httpx.get(_authorize_url(idp))
    assert response.is_redirect
    answer = _query(response.headers["location"])
    assert answer["error"] == "invalid_request"
    assert "PKCE" in answer["error_description"]


def test_code_exchange_with_the_wrong_verifier_fails(idp: DevIdp) -> None:
    _, challenge = pkce_pair()
    url = _authorize_url(idp, code_challenge=challenge, code_challenge_method="S256")
    redirect = follow_login(url, user="alice", password="wonderland", stop_at=TEST_REDIRECT_URI)
    other_verifier, _ = pkce_pair()
    response = httpx.post(
        idp.discovery()["token_endpoint"],
        data={
            "grant_type": "authorization_code",
            "code": _query(redirect)["code"],
            "redirect_uri": TEST_REDIRECT_URI,
            "code_verifier": other_verifier,
        },
        auth=(idp.client_id, idp.client_secret),
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_refresh_token_rotates_and_the_old_one_is_dead(idp: DevIdp) -> None:
    tokens = fetch_tokens(idp, user="alice")
    fresh = refresh_tokens(idp, tokens["refresh_token"])
    assert fresh["refresh_token"] != tokens["refresh_token"]
    assert jwt.get_unverified_claims(fresh["access_token"])["aud"] == idp.audience
    with pytest.raises(httpx.HTTPStatusError):
        refresh_tokens(idp, tokens["refresh_token"])


def test_any_loopback_port_matches_a_registered_callback(idp: DevIdp) -> None:
    callback = "http://127.0.0.1:54321/auth/callback"
    _, challenge = pkce_pair()
    url = _authorize_url(idp, callback, code_challenge=challenge, code_challenge_method="S256")
    redirect = follow_login(url, user="bob", password="builder", stop_at=callback)
    assert _query(redirect)["code"]


def test_unregistered_redirect_uri_is_refused(idp: DevIdp) -> None:
    _, challenge = pkce_pair()
    url = _authorize_url(
        idp, "http://evil.example/cb", code_challenge=challenge, code_challenge_method="S256"
    )
    response = httpx.get(url)
    assert response.status_code == 400  # an error page, never a redirect to the stranger
    assert "redirect_uri" in response.text


def test_short_access_token_ttl_is_configurable(idp_factory: Callable[..., DevIdp]) -> None:
    short = idp_factory(access_token_ttl=5)
    tokens = fetch_tokens(short, user="alice")
    claims = jwt.get_unverified_claims(tokens["access_token"])
    assert claims["exp"] - claims["iat"] == 5
    assert tokens["expires_in"] <= 5


def test_end_session_logs_out_and_returns_to_the_client(idp: DevIdp) -> None:
    with httpx.Client(timeout=10) as http:
        _, challenge = pkce_pair()
        url = _authorize_url(idp, code_challenge=challenge, code_challenge_method="S256")
        follow_login(
            url, user="alice", password="wonderland", stop_at=TEST_REDIRECT_URI, client=http
        )
        tokens_id = fetch_tokens(idp, user="alice")["id_token"]
        back = "http://127.0.0.1:40000/auth/logged-out"
        page = http.get(
            idp.discovery()["end_session_endpoint"],
            params={"id_token_hint": tokens_id, "post_logout_redirect_uri": back},
        )
        assert page.status_code == 200 and 'name="xsrf"' in page.text
        # The provider asks for confirmation with a form; submit it as a browser would.
        xsrf = page.text.split('name="xsrf" value="')[1].split('"')[0]
        done = http.post(f"{idp.issuer}/session/end/confirm", data={"xsrf": xsrf, "logout": "yes"})
        assert done.is_redirect
        assert done.headers["location"] == back
        # Logged out: a new authorization request shows the login form again.
        _, challenge = pkce_pair()
        again = http.get(
            _authorize_url(idp, code_challenge=challenge, code_challenge_method="S256"),
            follow_redirects=True,
        )
        assert 'name="password"' in again.text


def test_second_login_with_a_live_provider_session_needs_no_password(idp: DevIdp) -> None:
    with httpx.Client(timeout=10) as http:
        _, challenge = pkce_pair()
        url = _authorize_url(idp, code_challenge=challenge, code_challenge_method="S256")
        follow_login(url, user="bob", password="builder", stop_at=TEST_REDIRECT_URI, client=http)
        _, challenge = pkce_pair()
        url = _authorize_url(idp, code_challenge=challenge, code_challenge_method="S256")
        # A wrong password proves the form is never shown: only redirects lead back.
        again = follow_login(
            url, user="bob", password="unused", stop_at=TEST_REDIRECT_URI, client=http
        )
        assert _query(again)["code"]


def test_login_form_without_its_interaction_cookie_is_a_clear_400(idp: DevIdp) -> None:
    _, challenge = pkce_pair()
    url = _authorize_url(idp, code_challenge=challenge, code_challenge_method="S256")
    form_url = idp.issuer + httpx.get(url).headers["location"]
    # Another browser (no cookie) posting to someone's login form gets nowhere.
    response = httpx.post(f"{form_url}/login", data={"login": "alice", "password": "wonderland"})
    assert response.status_code == 400
    assert "session" in response.text.lower()
    assert "at " not in response.text  # no stack trace


def test_unknown_resource_indicator_is_invalid_target(idp: DevIdp) -> None:
    _, challenge = pkce_pair()
    url = _authorize_url(
        idp, code_challenge=challenge, code_challenge_method="S256", resource="urn:elsewhere"
    )
    response = httpx.get(url)
    assert response.is_redirect
    assert _query(response.headers["location"])["error"] == "invalid_target"

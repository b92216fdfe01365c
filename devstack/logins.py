"""Logging in at the dev provider without a browser: the form, PKCE, the token exchange.

``follow_login`` drives the provider's login form with httpx, and
``fetch_tokens`` does a whole authorization code + PKCE login as the
gateway's client would, so API tests get real access tokens without a browser.
Nothing here logs a token.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

if TYPE_CHECKING:
    from devstack.idp import DevIdp

# The redirect URI registered for the tests' browserless logins.
TEST_REDIRECT_URI = "http://127.0.0.1/devstack/callback"


def pkce_pair() -> tuple[str, str]:
    """A PKCE ``(code_verifier, code_challenge)`` pair for S256 (RFC 7636)."""
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def follow_login(
    authorize_url: str,
    *,
    user: str,
    password: str,
    stop_at: str,
    client: httpx.Client | None = None,
) -> str:
    """Follow an authorization request through the login form; return the redirect to ``stop_at``.

    ``stop_at`` is the start of the client's redirect URI; the returned URL
    carries ``code`` and ``state`` (or ``error``).  Raises ``LoginFailed`` when
    the form rejects the credentials.
    """
    own = client is None
    http = client or httpx.Client(timeout=10)
    try:
        url = authorize_url
        for _ in range(20):
            response = http.get(url)
            if response.is_redirect:
                url = urljoin(url, response.headers["location"])
                if url.startswith(stop_at):
                    return url
                continue
            if response.status_code != 200 or 'name="password"' not in response.text:
                raise LoginFailed(f"unexpected answer {response.status_code} at {_path(url)}")
            url = _submit_login(http, url, user=user, password=password)
            if url.startswith(stop_at):
                return url
        raise LoginFailed("too many redirects")
    finally:
        if own:
            http.close()


def _submit_login(http: httpx.Client, form_url: str, *, user: str, password: str) -> str:
    action = urljoin(form_url, urlsplit(form_url).path.rstrip("/") + "/login")
    response = http.post(action, data={"login": user, "password": password})
    if not response.is_redirect:
        raise LoginFailed(
            f"login form rejected the credentials of {user!r} ({response.status_code})"
        )
    return urljoin(action, response.headers["location"])


def _path(url: str) -> str:
    # Error messages name the path only: queries carry codes and state.
    return urlsplit(url).path


class LoginFailed(RuntimeError):
    """The dev provider's login did not end at the client's redirect URI."""


def fetch_tokens(
    idp: DevIdp,
    *,
    user: str = "alice",
    password: str | None = None,
    scope: str = "openid profile email offline_access",
    resource: str | None = None,
) -> dict[str, Any]:
    """A full code + PKCE login as the gateway's client; the token endpoint's JSON answer.

    Keys: ``access_token`` (JWT for ``idp.audience``), ``refresh_token``,
    ``id_token``, ``expires_in``, ``token_type``.
    """
    verifier, challenge = pkce_pair()
    state, nonce = secrets.token_urlsafe(16), secrets.token_urlsafe(16)
    params = {
        "client_id": idp.client_id,
        "response_type": "code",
        "redirect_uri": TEST_REDIRECT_URI,
        "scope": scope,
        "state": state,
        "nonce": nonce,
        "code_challenge": challenge,
        "code_challenge_method": "S256",
        "resource": resource or idp.audience,
    }
    with httpx.Client(timeout=10) as http:
        endpoints = http.get(f"{idp.issuer}/.well-known/openid-configuration").json()
        authorize = f"{endpoints['authorization_endpoint']}?{urlencode(params)}"
        redirect = follow_login(
            authorize,
            user=user,
            password=password if password is not None else idp.users[user],
            stop_at=TEST_REDIRECT_URI,
            client=http,
        )
        answer = {k: v[0] for k, v in parse_qs(urlsplit(redirect).query).items()}
        if answer.get("state") != state or "code" not in answer:
            raise LoginFailed(f"authorization failed: {answer.get('error', 'no code')}")
        response = http.post(
            endpoints["token_endpoint"],
            data={
                "grant_type": "authorization_code",
                "code": answer["code"],
                "redirect_uri": TEST_REDIRECT_URI,
                "code_verifier": verifier,
            },
            auth=(idp.client_id, idp.client_secret),
        )
    response.raise_for_status()
    return {**response.json(), "nonce": nonce}


def refresh_tokens(idp: DevIdp, refresh_token: str) -> dict[str, Any]:
    """Use a refresh token once (the provider rotates it); the token endpoint's JSON answer."""
    endpoints = idp.discovery()
    response = httpx.post(
        endpoints["token_endpoint"],
        data={"grant_type": "refresh_token", "refresh_token": refresh_token},
        auth=(idp.client_id, idp.client_secret),
        timeout=10,
    )
    response.raise_for_status()
    return dict(response.json())


# The name the work-stream contract gives the browserless login.
login_with_browserless_flow = fetch_tokens

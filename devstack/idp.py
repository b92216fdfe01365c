"""The development OpenID provider (``deploy/dev-idp/server.js``) as a managed process.

``DevIdp`` generates the provider's signing keys (so tests can forge tokens
with the real key), starts ``node server.js`` on 127.0.0.1 and knows the
demo users.  ``follow_login`` drives the provider's login form with httpx, and
``fetch_tokens`` does a whole authorization code + PKCE login as the
gateway's client would, so API tests get real access tokens without a browser.

Tokens are JWTs signed RS256 whose ``aud`` is the resource indicator
``DevIdp.audience`` (RFC 8707 / RFC 9068).  Nothing here logs a token.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jose import jwk, jwt

from devstack.processes import LocalServer, ManagedProcess, free_port

IDP_DIR = Path(__file__).resolve().parent.parent / "deploy" / "dev-idp"

# Demo users of deploy/dev-idp/server.js (DEFAULT_USERS there): id -> password.
DEMO_USERS = {"alice": "wonderland", "bob": "builder"}

# Callback paths the gateway may use, with and without an Nginx prefix.  The
# client is registered as a native app, so any port on 127.0.0.1 matches
# (RFC 8252 section 7.3): tests start gateways on random ports.
DEFAULT_REDIRECT_URIS = (
    "http://127.0.0.1/auth/callback",
    "http://127.0.0.1/oscar-gateway/auth/callback",
    "http://127.0.0.1/devstack/callback",
)
DEFAULT_POST_LOGOUT_REDIRECT_URIS = (
    "http://127.0.0.1/",
    "http://127.0.0.1/oscar-gateway/",
    "http://127.0.0.1/auth/logged-out",
    "http://127.0.0.1/oscar-gateway/auth/logged-out",
)
TEST_REDIRECT_URI = "http://127.0.0.1/devstack/callback"


def _pem(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _private_jwk(pem: str, alg: str, kid: str) -> dict[str, Any]:
    # No "alg" member: the RSA key then serves RS256 and PS256 alike.
    body = {k: v for k, v in jwk.construct(pem, alg).to_dict().items() if k != "alg"}
    return {**body, "kid": kid, "use": "sig"}


class DevIdp(LocalServer):
    """``node deploy/dev-idp/server.js`` with generated keys and one confidential client."""

    def __init__(
        self,
        *,
        port: int = 0,
        client_id: str = "oscar-gateway",
        client_secret: str | None = None,
        audience: str = "urn:oscar-gateway",
        redirect_uris: Sequence[str] = DEFAULT_REDIRECT_URIS,
        post_logout_redirect_uris: Sequence[str] = DEFAULT_POST_LOGOUT_REDIRECT_URIS,
        access_token_ttl: int = 600,
        refresh_token_ttl: int = 8 * 3600,
        loopback_any_port: bool = True,
        echo: bool = False,
    ) -> None:
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(24)
        self.audience = audience
        self.users = dict(DEMO_USERS)
        self.redirect_uris = [*redirect_uris, TEST_REDIRECT_URI]
        self.post_logout_redirect_uris = list(post_logout_redirect_uris)
        self.access_token_ttl = access_token_ttl
        self.refresh_token_ttl = refresh_token_ttl
        self.loopback_any_port = loopback_any_port
        self.echo = echo
        self._ec = ec.generate_private_key(ec.SECP256R1())
        self.ec_kid = f"ec-{uuid.uuid4().hex[:8]}"
        self.ec_key_pem = _pem(self._ec)
        self.rotate_keys()

    # -- configuration -------------------------------------------------------

    def add_redirect_uri(self, uri: str, *, post_logout: bool = False) -> None:
        """Register another (post-logout) redirect URI; takes effect at the next start."""
        target = self.post_logout_redirect_uris if post_logout else self.redirect_uris
        if uri not in target:
            target.append(uri)
        if self.running:
            self.restart()

    def rotate_keys(self) -> None:
        """A new RSA signing key and kid; the provider publishes it after the next (re)start."""
        self._rsa = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"rsa-{uuid.uuid4().hex[:8]}"
        self.signing_key_pem = _pem(self._rsa)
        self.public_key_pem = (
            self._rsa.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    @property
    def private_jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                _private_jwk(self.signing_key_pem, "RS256", self.kid),
                _private_jwk(self.ec_key_pem, "ES256", self.ec_kid),
            ]
        }

    def _env(self) -> dict[str, str]:
        return {
            "IDP_CLIENT_ID": self.client_id,
            "IDP_CLIENT_SECRET": self.client_secret,
            "IDP_REDIRECT_URIS": " ".join(self.redirect_uris),
            "IDP_POST_LOGOUT_REDIRECT_URIS": " ".join(self.post_logout_redirect_uris),
            "IDP_RESOURCE": self.audience,
            "IDP_JWKS": json.dumps(self.private_jwks),
            "IDP_ACCESS_TOKEN_TTL": str(self.access_token_ttl),
            "IDP_REFRESH_TOKEN_TTL": str(self.refresh_token_ttl),
            "IDP_LOOPBACK_ANY_PORT": "1" if self.loopback_any_port else "",
            "IDP_ISSUER": self.issuer,
        }

    # -- process -------------------------------------------------------------

    def launch(self) -> ManagedProcess:
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("node is not installed: the dev OpenID provider needs Node.js 20+")
        if not (IDP_DIR / "node_modules" / "oidc-provider").is_dir():
            raise RuntimeError(f"run `make install` (npm ci in {IDP_DIR}) first")
        return ManagedProcess(
            name="dev-idp",
            argv=[node, "server.js", "--port", str(self.port)],
            ready=r"dev-idp ready at (\S+)",
            env=self._env(),
            cwd=IDP_DIR,
            echo=self.echo,
        )

    @property
    def running(self) -> bool:
        return self.alive()

    # -- helpers for tests ---------------------------------------------------

    @property
    def login_help(self) -> str:
        """One line for start-up output: how to log in as the demo users."""
        users = ", ".join(f"{user} / {password}" for user, password in self.users.items())
        return f"Log in at {self.issuer} as one of the demo users (user / password): {users}"

    def discovery(self) -> dict[str, Any]:
        response = httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10)
        response.raise_for_status()
        return dict(response.json())

    def gateway_settings(self) -> dict[str, Any]:
        """The gateway settings (``section__field`` keys) that log in at this provider."""
        return {
            "oidc__issuer": self.issuer,
            "oidc__client_id": self.client_id,
            "oidc__client_secret": self.client_secret,
            "oidc__resource": self.audience,
            "oidc__audiences": [self.audience],
        }

    def oidc_settings(self, **overrides: Any) -> Any:
        """``core.settings.OIDCSettings`` for a gateway that logs in at this provider."""
        from core.settings import OIDCSettings

        values = {k.removeprefix("oidc__"): v for k, v in self.gateway_settings().items()}
        return OIDCSettings(**{**values, **overrides})

    def sign(
        self,
        claims: dict[str, Any],
        *,
        alg: str = "RS256",
        ttl: int = 300,
        headers: dict[str, Any] | None = None,
    ) -> str:
        """Forge a token with the provider's real key: iss/aud/iat/exp filled unless given.

        RS*/PS* use the RSA key (``kid``), ES256 the EC key (``ec_kid``);
        ``headers`` may override ``kid`` or anything else in the header.
        """
        now = int(time.time())
        body = {"iss": self.issuer, "aud": self.audience, "iat": now, "exp": now + ttl, **claims}
        kid = self.ec_kid if alg.startswith("ES") else self.kid
        header = {"alg": alg, "typ": "at+jwt", "kid": kid, **(headers or {})}
        if alg.startswith("PS"):
            return _sign_pss(header, body, self._rsa)
        key = self.ec_key_pem if alg.startswith("ES") else self.signing_key_pem
        return str(jwt.encode(body, key, algorithm=alg, headers=header))


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _sign_pss(header: dict[str, Any], body: dict[str, Any], key: rsa.RSAPrivateKey) -> str:
    # python-jose cannot sign RSA-PSS; RFC 7518 section 3.5 with cryptography.
    digests: dict[str, hashes.HashAlgorithm] = {
        "PS256": hashes.SHA256(),
        "PS384": hashes.SHA384(),
        "PS512": hashes.SHA512(),
    }
    digest = digests[header["alg"]]
    signing_input = f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(body).encode())}"
    pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    return f"{signing_input}.{b64url(key.sign(signing_input.encode(), pss, digest))}"


# -- browserless login ---------------------------------------------------------


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

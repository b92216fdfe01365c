"""The development OpenID provider (``deploy/dev-idp/server.js``) as a managed process.

``DevIdp`` generates the provider's signing keys (so tests can forge tokens
with the real key), starts ``node server.js`` on 127.0.0.1 and knows the
demo users.  Browserless logins (``follow_login``, ``fetch_tokens``) are
``devstack.logins``, re-exported here.

Tokens are JWTs signed RS256 whose ``aud`` is the resource indicator
``DevIdp.audience`` (RFC 8707 / RFC 9068).  Nothing here logs a token.
"""

from __future__ import annotations

import base64
import json
import secrets
import shutil
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from jose import jwk, jwt

from devstack.logins import (
    TEST_REDIRECT_URI,
    LoginFailed,
    fetch_tokens,
    follow_login,
    pkce_pair,
    refresh_tokens,
)
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


__all__ = [
    "TEST_REDIRECT_URI",
    "DevIdp",
    "LoginFailed",
    "b64url",
    "fetch_tokens",
    "follow_login",
    "pkce_pair",
    "refresh_tokens",
]

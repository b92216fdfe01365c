"""The OpenID Connect relying party: discovery, authorization URL, code exchange, refresh.

authlib's ``AsyncOAuth2Client`` does the OAuth 2.0 protocol work (PKCE S256
per RFC 7636, client authentication, token requests); python-jose validates
the ID token (OIDC Core 3.1.3.7: ``iss``, ``aud``, ``azp``, ``exp``, ``iat``,
``nonce``, ``at_hash``) with keys from the JWKS cache the bearer validator
already keeps (``auth/tokens.py``), so there is one cache per process.
Provider failures become gateway errors: a refused code or refresh token is a
``BadRequest``/``Unauthorized``, an unreachable provider ``Unavailable``.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import httpx
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.httpx_client import AsyncOAuth2Client
from authlib.integrations.httpx_client._compat import httpx2 as authlib_http
from jose import JWTError, jwt

from auth.tokens import ASYMMETRIC
from core.errors import BadRequest, ProviderRefused, Unauthorized, Unavailable, UpstreamError
from core.httpclients import tls_verify
from core.settings import Settings

# authlib's client runs on httpx2 when installed (else httpx): its transport errors are those.
TRANSPORT_ERRORS = (httpx.HTTPError, authlib_http.HTTPError)

# Looks up the public JWK for a ``kid`` (refetching the JWKS once if unknown).
KeyLookup = Callable[[str | None], Awaitable[dict[str, Any]]]


@dataclass
class TokenSet:
    """What the token endpoint gave us, with an absolute expiry."""

    access_token: str = field(repr=False)
    expires_at: float
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)


class OidcClient:
    """One provider, one client registration; stateless between calls."""

    def __init__(self, http: httpx.AsyncClient, settings: Settings, keys: KeyLookup) -> None:
        self._http = http
        self._settings = settings
        self._oidc = settings.oidc
        self._keys = keys
        self._metadata: dict[str, Any] | None = None
        # Token requests use authlib's own client: the same checks as discovery and JWKS.
        self._verify = tls_verify(self._oidc.verify_tls, self._oidc.ca_bundle)
        self.redirect_uri = settings.public_url.rstrip("/") + "/auth/callback"

    async def metadata(self) -> dict[str, Any]:
        """The provider's discovery document (fetched once, kept for the process)."""
        if not self._oidc.issuer:
            raise Unavailable(
                "Logging in is not possible: this gateway has no identity provider configured.",
                detail="GATEWAY_OIDC__ISSUER is empty",
            )
        if self._metadata is None:
            url = self._oidc.issuer.rstrip("/") + "/.well-known/openid-configuration"
            try:
                response = await self._http.get(url, timeout=self._oidc.http_timeout_seconds)
                response.raise_for_status()
                document = response.json()
            except (httpx.HTTPError, ValueError) as exc:
                raise Unavailable(
                    "The identity provider cannot be reached, so you cannot log in right now. "
                    "Try again later.",
                    detail=f"discovery failed: {type(exc).__name__}",
                ) from exc
            self._metadata = dict(document)
        return self._metadata

    def _client(self) -> AsyncOAuth2Client:
        secret = self._oidc.client_secret.get_secret_value()
        return AsyncOAuth2Client(
            client_id=self._oidc.client_id,
            client_secret=secret or None,
            # A public client (no secret) authenticates with PKCE alone (RFC 7636).
            token_endpoint_auth_method="client_secret_basic" if secret else "none",
            scope=self._oidc.scopes,
            redirect_uri=self.redirect_uri,
            code_challenge_method="S256",
            timeout=self._oidc.http_timeout_seconds,
            verify=self._verify,
        )

    async def authorization_url(self, *, state: str, nonce: str, code_verifier: str) -> str:
        endpoint = (await self.metadata())["authorization_endpoint"]
        extra: dict[str, str] = {"nonce": nonce}
        if self._oidc.resource:
            # RFC 8707: ask for an access token whose audience is OSCAR's resource.
            extra["resource"] = self._oidc.resource
        async with self._client() as client:
            url, _ = client.create_authorization_url(
                endpoint, state=state, code_verifier=code_verifier, **extra
            )
        return str(url)

    async def exchange_code(self, code: str, *, code_verifier: str) -> TokenSet:
        """Trade an authorization code for tokens; ``ProviderRefused`` when refused."""
        token = await self._token_request(
            "authorization_code", code=code, code_verifier=code_verifier
        )
        return token

    async def refresh(self, refresh_token: str) -> TokenSet:
        """New tokens from a refresh token; ``ProviderRefused`` when it is no longer valid."""
        token = await self._token_request("refresh_token", refresh_token=refresh_token)
        if token.refresh_token is None:
            token.refresh_token = refresh_token
        return token

    async def _token_request(self, grant: str, **params: str) -> TokenSet:
        endpoint = (await self.metadata())["token_endpoint"]
        try:
            async with self._client() as client:
                if grant == "refresh_token":
                    raw = await client.refresh_token(endpoint, **params)
                else:
                    raw = await client.fetch_token(
                        endpoint, grant_type=grant, redirect_uri=self.redirect_uri, **params
                    )
        except OAuthError as exc:
            raise ProviderRefused(str(exc.error)) from exc
        except TRANSPORT_ERRORS as exc:
            raise Unavailable(
                "The identity provider cannot be reached right now. Try again later.",
                detail=f"token request failed: {type(exc).__name__}",
            ) from exc
        except ValueError as exc:
            raise UpstreamError(
                "The identity provider gave an answer the gateway cannot read.",
                detail="token response is not JSON",
            ) from exc
        return _token_set(dict(raw))

    async def validate_id_token(
        self, id_token: str, *, nonce: str, access_token: str | None = None
    ) -> dict[str, Any]:
        """The ID token's claims; ``BadRequest`` when any check fails (OIDC Core 3.1.3.7)."""
        algorithms = [alg for alg in self._oidc.algorithms if alg in ASYMMETRIC]
        try:
            header = jwt.get_unverified_header(id_token)
            # Never none or HS*: an ID token "signed" with the public key as HMAC secret is forged.
            if header.get("alg") not in ASYMMETRIC or header.get("alg") not in algorithms:
                raise BadRequest("The identity provider's ID token uses a disallowed algorithm.")
            key = await self._keys(header.get("kid"))
            claims: dict[str, Any] = jwt.decode(
                id_token,
                key,
                algorithms=algorithms,
                audience=self._oidc.client_id,
                issuer=(await self.metadata()).get("issuer", self._oidc.issuer),
                access_token=access_token,
                options={"leeway": self._oidc.leeway_seconds},
            )
        except (JWTError, Unauthorized) as exc:
            raise BadRequest(
                "The identity provider's answer could not be verified, so you are not logged in. "
                "Start the login again.",
                detail=f"id token rejected: {type(exc).__name__}",
            ) from exc
        audiences = claims.get("aud")
        # OIDC Core 3.1.3.7 (4, 5): with several audiences, azp must name us.
        several = isinstance(audiences, list) and len(audiences) > 1
        if several and claims.get("azp") != self._oidc.client_id:
            raise BadRequest(
                "The identity provider's ID token is not meant for this gateway.",
                detail="id token azp mismatch",
            )
        if claims.get("nonce") != nonce:
            raise BadRequest(
                "The login answer does not belong to the login this browser started "
                "(nonce mismatch). Start the login again.",
                detail="id token nonce mismatch",
            )
        return claims

    async def end_session_url(self, *, id_token: str | None, post_logout: str) -> str | None:
        """The provider's RP-initiated logout URL, or ``None`` when it has none."""
        try:
            endpoint = (await self.metadata()).get("end_session_endpoint")
        except Unavailable:
            return None
        if not endpoint:
            return None
        params = {"client_id": self._oidc.client_id, "post_logout_redirect_uri": post_logout}
        if id_token:
            params["id_token_hint"] = id_token
        separator = "&" if "?" in endpoint else "?"
        return f"{endpoint}{separator}{urlencode(params)}"


def _token_set(raw: dict[str, Any]) -> TokenSet:
    if not raw.get("access_token"):
        raise UpstreamError("The identity provider sent no access token.", detail="no access_token")
    expires_at = raw.get("expires_at")
    if expires_at is None:
        expires_at = time.time() + float(raw.get("expires_in") or 300)
    return TokenSet(
        access_token=str(raw["access_token"]),
        expires_at=float(expires_at),
        refresh_token=raw.get("refresh_token"),
        id_token=raw.get("id_token"),
    )

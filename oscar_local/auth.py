"""The three credential kinds of OSCAR (oscar-api.md §1): Basic admin, OIDC JWTs, service tokens."""

from __future__ import annotations

import base64
import binascii
import hmac
import time
from dataclasses import dataclass
from typing import Any

import httpx
from jose import JWTError, jwt

from oscar_local.config import ADMIN_OWNER
from oscar_local.errors import Unauthorized

_ALGORITHMS = ["RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256"]
_JWKS_MIN_REFRESH = 10.0  # seconds between refetches on an unknown kid
SERVICE_TOKEN_LENGTH = 64  # OSCAR: a bearer of exactly 64 characters is a service token


@dataclass(frozen=True)
class Caller:
    """Who is calling: the admin, an OIDC user (``sub``), or a holder of a service's token."""

    sub: str
    is_admin: bool = False
    service_token_for: str | None = None


ADMIN = Caller(sub=ADMIN_OWNER, is_admin=True)


def bearer_token(header: str) -> str | None:
    scheme, _, value = header.partition(" ")
    return value.strip() if scheme.lower() == "bearer" and value.strip() else None


class Authenticator:
    def __init__(
        self, http: httpx.AsyncClient, *, username: str, password: str, issuers: list[str]
    ) -> None:
        self._http = http
        self._username = username
        self._password = password
        self._issuers = [i.rstrip("/") for i in issuers]
        self._jwks: dict[str, dict[str, Any]] = {}
        self._fetched_at: dict[str, float] = {}

    async def system_caller(self, header: str) -> Caller:
        """Caller of a ``/system/*`` route: Basic admin or an OIDC bearer."""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "basic":
            return self._basic(value.strip())
        token = bearer_token(header)
        if token is None:
            raise Unauthorized()  # gin's BasicAuth answers 401 with an empty body
        return await self.oidc_caller(token)

    def _basic(self, value: str) -> Caller:
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError) as exc:
            raise Unauthorized() from exc
        user_ok = hmac.compare_digest(user.encode(), self._username.encode())
        password_ok = hmac.compare_digest(password.encode(), self._password.encode())
        if not (user_ok and password_ok):
            raise Unauthorized()
        return ADMIN

    async def oidc_caller(self, token: str) -> Caller:
        try:
            claims = jwt.get_unverified_claims(token)
            header = jwt.get_unverified_header(token)
        except JWTError as exc:
            raise Unauthorized("invalid token") from exc
        issuer = str(claims.get("iss", "")).rstrip("/")
        if issuer not in self._issuers:
            raise Unauthorized("invalid token: issuer not accepted")
        key = await self._key(issuer, str(header.get("kid", "")))
        try:
            verified = jwt.decode(
                token,
                key,
                algorithms=_ALGORITHMS,
                issuer=claims.get("iss"),
                options={"verify_aud": False},
            )
        except JWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from exc
        sub = verified.get("sub")
        if not isinstance(sub, str) or not sub:
            raise Unauthorized("invalid token: no subject")
        return Caller(sub=sub)

    async def _key(self, issuer: str, kid: str) -> dict[str, Any]:
        key = self._find(issuer, kid)
        recently = time.monotonic() - self._fetched_at.get(issuer, -1e9) < _JWKS_MIN_REFRESH
        if key is None and not recently:
            await self._fetch_jwks(issuer)
            key = self._find(issuer, kid)
        if key is None:
            raise Unauthorized("invalid token: unknown signing key")
        return key

    def _find(self, issuer: str, kid: str) -> dict[str, Any] | None:
        keys = self._jwks.get(issuer, {}).get("keys", [])
        return next((k for k in keys if not kid or k.get("kid") == kid), None)

    async def _fetch_jwks(self, issuer: str) -> None:
        self._fetched_at[issuer] = time.monotonic()
        try:
            discovery = await self._http.get(f"{issuer}/.well-known/openid-configuration")
            discovery.raise_for_status()
            jwks = await self._http.get(discovery.json()["jwks_uri"])
            jwks.raise_for_status()
            self._jwks[issuer] = jwks.json()
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            raise Unauthorized("invalid token: the issuer's keys are unavailable") from exc

"""The identity provider's signing keys: discovery document and JWKS, cached.

Keys are fetched on first use and kept.  A token signed with an unknown
``kid`` makes the cache refetch the JWKS (the provider may have rotated its
keys), but at most once per ``jwks_min_refresh_seconds``, so a flood of
forged ``kid`` values cannot turn the gateway into a hammer on the provider.
When the provider is down, the keys already fetched keep working; an unknown
key is then ``Unauthorized`` and never a 500.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import httpx

from core.errors import Unauthorized, Unavailable
from core.settings import OIDCSettings

log = logging.getLogger(__name__)

# With no key at all (provider down at start-up) retry sooner than the refresh interval.
EMPTY_RETRY_SECONDS = 5.0


class JwksCache:
    """Public JWKs of ``settings.issuer`` by ``kid``."""

    def __init__(self, http: httpx.AsyncClient, settings: OIDCSettings) -> None:
        self._http = http
        self._settings = settings
        self._issuer = settings.issuer.rstrip("/")
        self._jwks_uri: str | None = None
        self._keys: dict[str | None, dict[str, Any]] = {}
        self._last_attempt: float | None = None
        self._lock = asyncio.Lock()

    async def key(self, kid: str | None) -> dict[str, Any]:
        """The public JWK for ``kid``; ``Unauthorized`` when the provider does not publish it."""
        found = self._lookup(kid)
        if found is not None:
            return found
        async with self._lock:
            found = self._lookup(kid)  # another request may have refreshed meanwhile
            if found is None and self._may_refresh():
                await self._refresh()
                found = self._lookup(kid)
        if found is not None:
            return found
        if not self._keys:
            raise Unavailable(
                "The identity provider's keys cannot be fetched, so the token cannot be checked. "
                "Try again later.",
                detail="no JWKS available",
            )
        raise Unauthorized(
            "The token is signed with a key the identity provider does not publish. "
            "Get a new token and try again.",
            detail="unknown signing key (kid)",
        )

    def _lookup(self, kid: str | None) -> dict[str, Any] | None:
        if kid is None and len(self._keys) == 1:
            # A token without kid is unambiguous only when the provider has one key.
            return next(iter(self._keys.values()))
        return self._keys.get(kid)

    def _may_refresh(self) -> bool:
        if self._last_attempt is None:
            return True
        interval = float(self._settings.jwks_min_refresh_seconds)
        if not self._keys:
            interval = min(interval, EMPTY_RETRY_SECONDS)
        return time.monotonic() - self._last_attempt >= interval

    async def _refresh(self) -> None:
        self._last_attempt = time.monotonic()
        try:
            document = await self._get_json(await self._jwks_url())
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            # Keep the keys we have: a provider outage must not log everybody out.
            log.warning("JWKS fetch from %s failed (%s); keeping cached keys", self._issuer, exc)
            return
        keys = {
            key.get("kid"): key
            for key in document.get("keys", [])
            if isinstance(key, dict) and key.get("use", "sig") == "sig"
        }
        if keys:
            self._keys = keys
        log.info("JWKS of %s: %d signing keys", self._issuer, len(keys))

    async def _jwks_url(self) -> str:
        if self._jwks_uri is None:
            url = f"{self._issuer}/.well-known/openid-configuration"
            document = await self._get_json(url)
            if str(document.get("issuer", "")).rstrip("/") != self._issuer:
                # OIDC Discovery 4.3: the document must name the issuer we asked.
                raise ValueError("discovery document names another issuer")
            self._jwks_uri = str(document["jwks_uri"])
        return self._jwks_uri

    async def _get_json(self, url: str) -> dict[str, Any]:
        response = await self._http.get(url, timeout=self._settings.http_timeout_seconds)
        response.raise_for_status()
        body = response.json()
        if not isinstance(body, dict):
            raise ValueError(f"{url} did not return a JSON object")
        return body

"""Bearer tokens of API clients: OIDC access-token JWTs and OSCAR service tokens.

``BearerValidator.validate`` accepts a JWT only when every check passes:

- the header's ``alg`` is in the allow-list (``settings.algorithms``), and the
  list can only ever hold asymmetric algorithms: ``none`` and ``HS*`` are
  refused whatever the configuration says, so a token "signed" with the
  provider's public key as an HMAC secret is worthless;
- the key comes from the issuer's JWKS by ``kid`` (``auth/jwks.py``) and
  its type fits the algorithm (RSA for RS/PS, EC for ES);
- the signature verifies (python-jose for RS/ES; PS256 is checked with
  ``cryptography`` directly, as python-jose has no RSA-PSS);
- ``iss`` is the configured issuer, ``exp``/``nbf``/``iat`` hold within a
  small leeway, ``sub`` names someone, and ``aud`` (or ``azp``) is one of
  ``settings.audiences`` (the client id when empty).

Every failure is ``core.errors.Unauthorized`` with a message for a person;
no message or log line ever contains the token.
"""

from __future__ import annotations

import re
import time
from typing import Any

import httpx
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from jose import jws, jwt
from jose.exceptions import JOSEError
from jose.utils import base64url_decode

from auth.jwks import JwksCache
from core.errors import Unauthorized
from core.settings import OIDCSettings

Claims = dict[str, Any]

# What a JWS may be signed with; anything else (none, HS256...) is never accepted.
ASYMMETRIC = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512"}
)
KEY_TYPE = {"RS": "RSA", "PS": "RSA", "ES": "EC"}
PSS_HASH: dict[str, type[hashes.HashAlgorithm]] = {
    "PS256": hashes.SHA256,
    "PS384": hashes.SHA384,
    "PS512": hashes.SHA512,
}
# Far above any real access token; bounds the work a junk header can cause.
MAX_TOKEN_LENGTH = 16 * 1024
# OSCAR treats a 64-character bearer as a service token (its tokens are 64 lowercase hex).
SERVICE_TOKEN = re.compile(r"[0-9a-f]{64}")


def is_service_token(token: str) -> bool:
    """True for an OSCAR service token (exactly 64 lowercase hex characters)."""
    return SERVICE_TOKEN.fullmatch(token) is not None


def _reject(message: str, detail: str) -> Unauthorized:
    return Unauthorized(f"{message} Get a new token and try again.", detail=detail)


class BearerValidator:
    """Checks access-token JWTs of ``settings.issuer`` (one per process: it holds the key cache)."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        settings: OIDCSettings,
        *,
        keys: JwksCache | None = None,
    ) -> None:
        self._settings = settings
        self.keys = keys or JwksCache(http, settings)
        self._algorithms = [alg for alg in settings.algorithms if alg in ASYMMETRIC]
        self._audiences = set(settings.audiences or [settings.client_id])

    async def key(self, kid: str | None) -> dict[str, Any]:
        """The provider's public JWK for ``kid`` (also used to check ID tokens)."""
        return await self.keys.key(kid)

    async def validate(self, token: str) -> Claims:
        """The token's claims; ``Unauthorized`` saying why when any check fails."""
        if not self._settings.issuer:
            raise Unauthorized(
                "This gateway accepts no bearer tokens: no identity provider is configured.",
                detail="GATEWAY_OIDC__ISSUER is empty",
            )
        header = _header(token)
        alg = self._algorithm(header)
        kid = header.get("kid")
        if kid is not None and not isinstance(kid, str):
            raise _reject("The token's key id is malformed.", "kid is not a string")
        key = await self.keys.key(kid)
        _verify_signature(token, key, alg)
        claims = _payload(token)
        self._check_claims(claims)
        return claims

    def _algorithm(self, header: dict[str, Any]) -> str:
        alg = header.get("alg")
        if not isinstance(alg, str) or alg not in self._algorithms:
            raise _reject(
                "The token is signed with an algorithm this gateway does not accept.",
                f"alg {str(alg)[:16]!r} not in {self._algorithms}",
            )
        return alg

    def _check_claims(self, claims: Claims) -> None:
        now, leeway = time.time(), self._settings.leeway_seconds
        issuer = claims.get("iss")
        if not isinstance(issuer, str) or issuer.rstrip("/") != self._settings.issuer.rstrip("/"):
            raise _reject("The token was issued by another identity provider.", "wrong iss")
        exp, nbf, iat = (_number(claims, name) for name in ("exp", "nbf", "iat"))
        if exp is None or iat is None:
            raise _reject("The token has no expiry or issue time.", "exp or iat missing")
        if now > exp + leeway:
            raise _reject("The token has expired.", "exp passed")
        if nbf is not None and now + leeway < nbf:
            raise _reject("The token is not valid yet.", "nbf in the future")
        if iat > now + leeway:
            raise _reject("The token claims to be issued in the future.", "iat in the future")
        if not isinstance(claims.get("sub"), str) or not claims["sub"]:
            raise _reject("The token names no user.", "sub missing")
        if not self._meant_for_us(claims):
            raise _reject("The token is meant for another service.", "aud/azp not accepted")

    def _meant_for_us(self, claims: Claims) -> bool:
        aud = claims.get("aud")
        listed = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        if any(isinstance(value, str) and value in self._audiences for value in listed):
            return True
        return claims.get("azp") in self._audiences


def _header(token: str) -> dict[str, Any]:
    if len(token) > MAX_TOKEN_LENGTH or token.count(".") != 2:
        raise _reject("The bearer token is not a well-formed JWT.", "not a compact JWS")
    try:
        header = jwt.get_unverified_header(token)
    except JOSEError as exc:
        raise _reject("The bearer token is not a well-formed JWT.", "bad header") from exc
    if not isinstance(header, dict):
        raise _reject("The bearer token is not a well-formed JWT.", "header is not an object")
    return header


def _payload(token: str) -> Claims:
    try:
        claims = jwt.get_unverified_claims(token)  # the signature was verified just before
    except JOSEError as exc:
        raise _reject("The bearer token is not a well-formed JWT.", "bad payload") from exc
    if not isinstance(claims, dict):
        raise _reject("The bearer token is not a well-formed JWT.", "payload is not an object")
    return claims


def _number(claims: Claims, name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise _reject("The token's time claims are malformed.", f"{name} is not a number")
    return float(value)


def _verify_signature(token: str, key: dict[str, Any], alg: str) -> None:
    if key.get("kty") != KEY_TYPE[alg[:2]] or key.get("alg", alg) != alg:
        raise _reject("The token's signing key does not fit its algorithm.", "kty/alg mismatch")
    try:
        if alg in PSS_HASH:
            _verify_pss(token, key, PSS_HASH[alg])
        else:
            jws.verify(token, key, algorithms=[alg])
    except (JOSEError, InvalidSignature, ValueError, KeyError) as exc:
        raise _reject("The token's signature is not valid.", "bad signature") from exc


def _verify_pss(token: str, key: dict[str, Any], hash_class: type[hashes.HashAlgorithm]) -> None:
    signing_input, _, signature = token.rpartition(".")
    public = rsa.RSAPublicNumbers(_b64_int(key["e"]), _b64_int(key["n"])).public_key()
    # RFC 7518 section 3.5: MGF1 with the same hash, salt as long as the hash output.
    digest = hash_class()
    pss = padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    public.verify(base64url_decode(signature.encode()), signing_input.encode(), pss, digest)


def _b64_int(value: str) -> int:
    return int.from_bytes(base64url_decode(value.encode()), "big")

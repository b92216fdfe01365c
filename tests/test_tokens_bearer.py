"""BearerValidator against the real dev provider's JWKS over HTTP.

Good tokens come from a real login (``fetch_tokens``) or are forged with the
provider's own key (``idp.sign``); bad ones are each a way to fool a
careless validator.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jose import jwt

from auth.tokens import BearerValidator, is_service_token
from core.errors import Unauthorized
from devstack.idp import DevIdp, b64url, fetch_tokens


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.fixture
def validator(idp: DevIdp, http: httpx.AsyncClient) -> BearerValidator:
    return BearerValidator(http, idp.oidc_settings())


def _unsigned(header: dict[str, Any], claims: dict[str, Any], signature: bytes = b"") -> str:
    parts = [b64url(json.dumps(header).encode()), b64url(json.dumps(claims).encode())]
    return ".".join([*parts, b64url(signature)])


def _claims(idp: DevIdp, **extra: Any) -> dict[str, Any]:
    now = int(time.time())
    return {
        "iss": idp.issuer,
        "aud": idp.audience,
        "sub": "alice",
        "iat": now,
        "exp": now + 300,
        **extra,
    }


async def _rejected(validator: BearerValidator, token: str) -> Unauthorized:
    with pytest.raises(Unauthorized) as caught:
        await validator.validate(token)
    assert token not in str(caught.value) and token not in (caught.value.detail or "")
    return caught.value


# -- accepted ------------------------------------------------------------------


@pytest.mark.anyio
async def test_access_token_from_a_real_login_is_accepted(
    idp: DevIdp, validator: BearerValidator
) -> None:
    tokens = fetch_tokens(idp, user="alice")
    claims = await validator.validate(tokens["access_token"])
    assert claims["sub"] == "alice"
    assert claims["aud"] == idp.audience
    assert claims["name"] == "Alice Demo"


@pytest.mark.anyio
async def test_bobs_real_token_names_bob(idp: DevIdp, validator: BearerValidator) -> None:
    claims = await validator.validate(fetch_tokens(idp, user="bob")["access_token"])
    assert claims["sub"] == "bob"


@pytest.mark.anyio
@pytest.mark.parametrize("alg", ["RS256", "ES256", "PS256"])
async def test_default_algorithms_are_accepted(
    idp: DevIdp, validator: BearerValidator, alg: str
) -> None:
    claims = await validator.validate(idp.sign({"sub": "alice"}, alg=alg))
    assert claims["sub"] == "alice"


@pytest.mark.anyio
async def test_audience_list_containing_ours_is_accepted(
    idp: DevIdp, validator: BearerValidator
) -> None:
    token = idp.sign({"sub": "alice", "aud": ["account", idp.audience]})
    assert (await validator.validate(token))["sub"] == "alice"


@pytest.mark.anyio
async def test_authorized_party_is_accepted_instead_of_audience(
    idp: DevIdp, validator: BearerValidator
) -> None:
    token = idp.sign({"sub": "alice", "aud": "account", "azp": idp.audience})
    assert (await validator.validate(token))["sub"] == "alice"


@pytest.mark.anyio
async def test_expiry_within_the_leeway_is_tolerated(
    idp: DevIdp, validator: BearerValidator
) -> None:
    now = int(time.time())
    token = idp.sign({"sub": "alice", "iat": now - 100, "exp": now - 5})
    assert (await validator.validate(token))["sub"] == "alice"


# -- rejected: claims ----------------------------------------------------------


@pytest.mark.anyio
async def test_expired_token_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    now = int(time.time())
    error = await _rejected(
        validator, idp.sign({"sub": "alice", "iat": now - 900, "exp": now - 120})
    )
    assert "expired" in error.message


@pytest.mark.anyio
async def test_not_yet_valid_token_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    error = await _rejected(validator, idp.sign({"sub": "alice", "nbf": int(time.time()) + 600}))
    assert "not valid yet" in error.message


@pytest.mark.anyio
async def test_token_issued_in_the_future_is_rejected(
    idp: DevIdp, validator: BearerValidator
) -> None:
    now = int(time.time())
    error = await _rejected(validator, idp.sign({"sub": "alice", "iat": now + 600}, ttl=900))
    assert "future" in error.message


@pytest.mark.anyio
async def test_wrong_issuer_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    error = await _rejected(validator, idp.sign({"sub": "alice", "iss": "http://127.0.0.1:1"}))
    assert "another identity provider" in error.message


@pytest.mark.anyio
async def test_wrong_audience_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    error = await _rejected(validator, idp.sign({"sub": "alice", "aud": "urn:someone-else"}))
    assert "another service" in error.message


@pytest.mark.anyio
async def test_id_token_is_not_an_access_token(idp: DevIdp, validator: BearerValidator) -> None:
    # A real ID token is signed by the same key but its audience is the client id.
    error = await _rejected(validator, fetch_tokens(idp, user="alice")["id_token"])
    assert "another service" in error.message


@pytest.mark.anyio
async def test_token_without_expiry_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    token = jwt.encode(
        {k: v for k, v in _claims(idp).items() if k != "exp"},
        idp.signing_key_pem,
        algorithm="RS256",
        headers={"kid": idp.kid},
    )
    await _rejected(validator, token)


@pytest.mark.anyio
async def test_token_without_subject_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    await _rejected(validator, idp.sign({}))


# -- rejected: algorithms and signatures ---------------------------------------


@pytest.mark.anyio
async def test_alg_none_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    error = await _rejected(validator, _unsigned({"alg": "none", "kid": idp.kid}, _claims(idp)))
    assert "algorithm" in error.message


@pytest.mark.anyio
async def test_alg_none_is_rejected_even_when_configured(
    idp: DevIdp, http: httpx.AsyncClient
) -> None:
    lax = BearerValidator(http, idp.oidc_settings(algorithms=["none", "HS256", "RS256"]))
    await _rejected(lax, _unsigned({"alg": "none", "kid": idp.kid}, _claims(idp)))


def _hs256_with_public_key(idp: DevIdp) -> str:
    # The classic key-confusion attack: the public key (which anyone can fetch)
    # used as the HMAC secret, hoping the verifier feeds it to HS256.
    header = {"alg": "HS256", "typ": "JWT", "kid": idp.kid}
    unsigned = _unsigned(header, _claims(idp)).rsplit(".", 1)[0]
    mac = hmac.new(idp.public_key_pem.encode(), unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{b64url(mac)}"


@pytest.mark.anyio
async def test_hs256_signed_with_the_public_key_is_rejected(
    idp: DevIdp, validator: BearerValidator
) -> None:
    await _rejected(validator, _hs256_with_public_key(idp))


@pytest.mark.anyio
async def test_hs256_with_public_key_is_rejected_even_when_configured(
    idp: DevIdp, http: httpx.AsyncClient
) -> None:
    lax = BearerValidator(http, idp.oidc_settings(algorithms=["HS256", "RS256"]))
    await _rejected(lax, _hs256_with_public_key(idp))


@pytest.mark.anyio
async def test_algorithm_outside_the_allow_list_is_rejected(
    idp: DevIdp, http: httpx.AsyncClient
) -> None:
    rs_only = BearerValidator(http, idp.oidc_settings(algorithms=["RS256"]))
    error = await _rejected(rs_only, idp.sign({"sub": "alice"}, alg="ES256"))
    assert "algorithm" in error.message


@pytest.mark.anyio
async def test_unknown_kid_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    error = await _rejected(validator, idp.sign({"sub": "alice"}, headers={"kid": "not-a-key"}))
    assert "does not publish" in error.message


@pytest.mark.anyio
async def test_token_signed_by_another_key_under_the_real_kid_is_rejected(
    idp: DevIdp, validator: BearerValidator
) -> None:
    stranger = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(_claims(idp), stranger, algorithm="RS256", headers={"kid": idp.kid})
    error = await _rejected(validator, token)
    assert "signature" in error.message


@pytest.mark.anyio
async def test_rsa_kid_with_an_ec_algorithm_is_rejected(
    idp: DevIdp, validator: BearerValidator
) -> None:
    token = idp.sign({"sub": "alice"}, alg="ES256", headers={"kid": idp.kid})
    await _rejected(validator, token)


@pytest.mark.anyio
async def test_tampered_payload_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    header, _, signature = fetch_tokens(idp, user="bob")["access_token"].split(".")
    forged = b64url(json.dumps(_claims(idp, sub="alice")).encode())
    error = await _rejected(validator, f"{header}.{forged}.{signature}")
    assert "signature" in error.message


@pytest.mark.anyio
async def test_tampered_signature_is_rejected(idp: DevIdp, validator: BearerValidator) -> None:
    token = idp.sign({"sub": "alice"})
    head, _, signature = token.rpartition(".")
    raw = bytearray(base64.urlsafe_b64decode(signature + "=" * (-len(signature) % 4)))
    raw[10] ^= 0x01
    await _rejected(validator, f"{head}.{b64url(bytes(raw))}")


@pytest.mark.anyio
@pytest.mark.parametrize(
    "garbage", ["abc", "a.b.c", "x" * 63, "eyJhbGciOiJSUzI1NiJ9.e30", "..", "a" * 20000]
)
async def test_malformed_tokens_are_rejected(validator: BearerValidator, garbage: str) -> None:
    await _rejected(validator, garbage)


@pytest.mark.anyio
async def test_without_an_issuer_no_bearer_is_accepted(
    idp: DevIdp, http: httpx.AsyncClient
) -> None:
    unconfigured = BearerValidator(http, idp.oidc_settings(issuer=""))
    error = await _rejected(unconfigured, idp.sign({"sub": "alice"}))
    assert "no identity provider" in error.message


# -- service tokens ------------------------------------------------------------


def test_service_token_is_exactly_64_lowercase_hex() -> None:
    assert is_service_token("0123456789abcdef" * 4)
    assert not is_service_token("0123456789ABCDEF" * 4)
    assert not is_service_token("0123456789abcdef" * 4 + "0")
    assert not is_service_token("0123456789abcdef" * 3 + "0123456789abcdeg")
    assert not is_service_token("")

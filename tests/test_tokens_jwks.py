"""The JWKS cache when the provider rotates keys or goes away (real process, real HTTP)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable

import anyio
import httpx
import pytest
from jose import jwt

from auth.tokens import BearerValidator
from core.errors import Unauthorized, Unavailable
from devstack.idp import DevIdp, fetch_tokens, refresh_tokens

IdpFactory = Callable[..., DevIdp]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as client:
        yield client


@pytest.mark.anyio
async def test_cached_keys_keep_working_when_the_provider_is_down(
    idp_factory: IdpFactory, http: httpx.AsyncClient
) -> None:
    provider = idp_factory()
    validator = BearerValidator(http, provider.oidc_settings())
    token = fetch_tokens(provider, user="alice")["access_token"]
    assert (await validator.validate(token))["sub"] == "alice"
    provider.kill()
    assert (await validator.validate(token))["sub"] == "alice"
    assert (await validator.validate(provider.sign({"sub": "bob"})))["sub"] == "bob"


@pytest.mark.anyio
async def test_unknown_kid_while_the_provider_is_down_is_unauthorized(
    idp_factory: IdpFactory, http: httpx.AsyncClient
) -> None:
    provider = idp_factory()
    # No refresh interval: the unknown kid really makes the cache call the dead provider.
    validator = BearerValidator(http, provider.oidc_settings(jwks_min_refresh_seconds=0))
    await validator.validate(provider.sign({"sub": "alice"}))
    provider.kill()
    with pytest.raises(Unauthorized, match="does not publish"):
        await validator.validate(provider.sign({"sub": "alice"}, headers={"kid": "rotated"}))
    # ...and the known key still works after that failed refetch.
    assert (await validator.validate(provider.sign({"sub": "alice"})))["sub"] == "alice"


@pytest.mark.anyio
async def test_provider_down_before_any_key_was_fetched_is_unavailable(
    idp_factory: IdpFactory, http: httpx.AsyncClient
) -> None:
    provider = idp_factory()
    validator = BearerValidator(http, provider.oidc_settings())
    token = provider.sign({"sub": "alice"})
    provider.kill()
    with pytest.raises(Unavailable) as caught:
        await validator.validate(token)
    assert caught.value.status_code == 503
    assert "keys cannot be fetched" in caught.value.message


@pytest.mark.anyio
async def test_rotated_key_is_fetched_on_first_sight(
    idp_factory: IdpFactory, http: httpx.AsyncClient
) -> None:
    provider = idp_factory()
    validator = BearerValidator(http, provider.oidc_settings(jwks_min_refresh_seconds=0))
    await validator.validate(provider.sign({"sub": "alice"}))
    provider.rotate_keys()
    provider.restart()
    token = fetch_tokens(provider, user="bob")["access_token"]
    assert (await validator.validate(token))["sub"] == "bob"


@pytest.mark.anyio
async def test_unknown_kid_refetches_at_most_once_per_interval(
    idp_factory: IdpFactory, http: httpx.AsyncClient
) -> None:
    provider = idp_factory()
    validator = BearerValidator(http, provider.oidc_settings(jwks_min_refresh_seconds=60))
    await validator.validate(provider.sign({"sub": "alice"}))
    provider.rotate_keys()
    provider.restart()
    fresh = provider.sign({"sub": "alice"})
    # The JWKS was fetched a moment ago, so the new kid is not looked up yet:
    # a flood of invented kids cannot make us hammer the provider.
    with pytest.raises(Unauthorized, match="does not publish"):
        await validator.validate(fresh)
    # A validator whose last fetch is old enough (a new process) does find it.
    assert (await BearerValidator(http, provider.oidc_settings()).validate(fresh))["sub"] == "alice"


@pytest.mark.anyio
async def test_keys_come_back_after_the_provider_restarts(
    idp_factory: IdpFactory, http: httpx.AsyncClient
) -> None:
    provider = idp_factory()
    validator = BearerValidator(http, provider.oidc_settings(jwks_min_refresh_seconds=0))
    provider.kill()
    with pytest.raises(Unavailable):
        await validator.validate(provider.sign({"sub": "alice"}))
    provider.start()
    assert (await validator.validate(provider.sign({"sub": "alice"})))["sub"] == "alice"


@pytest.mark.anyio
async def test_expired_real_token_is_rejected_and_its_refresh_accepted(
    idp_factory: IdpFactory, http: httpx.AsyncClient
) -> None:
    provider = idp_factory(access_token_ttl=1)
    validator = BearerValidator(http, provider.oidc_settings(leeway_seconds=0))
    tokens = fetch_tokens(provider, user="alice")
    expires = jwt.get_unverified_claims(tokens["access_token"])["exp"]
    while time.time() <= expires + 1:  # let the one-second token run out
        await anyio.sleep(0.2)
    with pytest.raises(Unauthorized, match="expired"):
        await validator.validate(tokens["access_token"])
    fresh = refresh_tokens(provider, tokens["refresh_token"])
    assert (await validator.validate(fresh["access_token"]))["sub"] == "alice"

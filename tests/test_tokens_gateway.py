"""Bearer tokens through a real gateway process: ``GET /auth/me`` with ``Authorization: Bearer``.

Every bad token is a 401 with ``WWW-Authenticate: Bearer`` and a JSON error,
never a 500, and no token ever shows up in the gateway's logs.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import httpx
import pytest

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, b64url, fetch_tokens

TokenMaker = Callable[[DevIdp], str]


def _gateway_for(idp: DevIdp, workdir: Path) -> GatewayProcess:
    # its own working directory: its job store (var/) is not shared with other gateways
    env = {
        "GATEWAY_DEMO": "true",
        "GATEWAY_SESSION__SECRET": secrets.token_urlsafe(32),
        "GATEWAY_OIDC__ISSUER": idp.issuer,
        "GATEWAY_OIDC__CLIENT_ID": idp.client_id,
        "GATEWAY_OIDC__CLIENT_SECRET": idp.client_secret,
        "GATEWAY_OIDC__RESOURCE": idp.audience,
        "GATEWAY_OIDC__AUDIENCES": json.dumps([idp.audience]),
    }
    return GatewayProcess(env=env, cwd=workdir)


@pytest.fixture(scope="module")
def gateway(idp: DevIdp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    process = _gateway_for(idp, tmp_path_factory.mktemp("gateway")).start()
    yield process
    process.stop()


def _me(gateway: GatewayProcess, token: str) -> httpx.Response:
    return httpx.get(
        f"{gateway.url}/auth/me",
        headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
        timeout=20,
    )


def _claims(idp: DevIdp) -> dict[str, object]:
    now = int(time.time())
    return {"iss": idp.issuer, "aud": idp.audience, "sub": "alice", "iat": now, "exp": now + 300}


def _alg_none(idp: DevIdp) -> str:
    header = b64url(json.dumps({"alg": "none", "kid": idp.kid}).encode())
    return f"{header}.{b64url(json.dumps(_claims(idp)).encode())}."


def _hs256_public_key(idp: DevIdp) -> str:
    header = b64url(json.dumps({"alg": "HS256", "kid": idp.kid}).encode())
    unsigned = f"{header}.{b64url(json.dumps(_claims(idp)).encode())}"
    mac = hmac.new(idp.public_key_pem.encode(), unsigned.encode(), hashlib.sha256).digest()
    return f"{unsigned}.{b64url(mac)}"


def _tampered_payload(idp: DevIdp) -> str:
    header, _, signature = fetch_tokens(idp, user="bob")["access_token"].split(".")
    return f"{header}.{b64url(json.dumps(_claims(idp)).encode())}.{signature}"


def _tampered_signature(idp: DevIdp) -> str:
    head, _, signature = idp.sign({"sub": "alice"}).rpartition(".")
    flipped = "A" if signature[5] != "A" else "B"
    return f"{head}.{signature[:5]}{flipped}{signature[6:]}"


BAD_TOKENS: dict[str, TokenMaker] = {
    "expired": lambda idp: idp.sign({"sub": "alice", "exp": int(time.time()) - 120}),
    "not-yet-valid": lambda idp: idp.sign({"sub": "alice", "nbf": int(time.time()) + 600}),
    "iat-in-future": lambda idp: idp.sign({"sub": "alice", "iat": int(time.time()) + 600}, ttl=900),
    "wrong-issuer": lambda idp: idp.sign({"sub": "alice", "iss": "http://127.0.0.1:9"}),
    "wrong-audience": lambda idp: idp.sign({"sub": "alice", "aud": "urn:elsewhere"}),
    "alg-none": _alg_none,
    "hs256-with-public-key": _hs256_public_key,
    "unknown-kid": lambda idp: idp.sign({"sub": "alice"}, headers={"kid": "nobody"}),
    "tampered-payload": _tampered_payload,
    "tampered-signature": _tampered_signature,
    "id-token": lambda idp: fetch_tokens(idp, user="alice")["id_token"],
    "garbage": lambda idp: "not-a-jwt",
}


def test_real_access_token_is_accepted(idp: DevIdp, gateway: GatewayProcess) -> None:
    response = _me(gateway, fetch_tokens(idp, user="alice")["access_token"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["sub"] == "alice" and body["kind"] == "bearer"
    assert body["email"] == "alice@example.org"


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_bearer_is_401_with_www_authenticate(
    idp: DevIdp, gateway: GatewayProcess, case: str
) -> None:
    token = BAD_TOKENS[case](idp)
    response = _me(gateway, token)
    assert response.status_code == 401, response.text
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["error"] == "unauthorized"
    assert token not in response.text
    assert token not in gateway.output()


def test_no_token_in_the_gateway_logs(idp: DevIdp, gateway: GatewayProcess) -> None:
    good = fetch_tokens(idp, user="bob")
    assert _me(gateway, good["access_token"]).status_code == 200
    assert _me(gateway, idp.sign({"sub": "bob", "aud": "urn:elsewhere"})).status_code == 401
    logs = gateway.output()
    assert "/auth/me" in logs  # the requests were logged...
    for name in ("access_token", "refresh_token", "id_token"):  # ...without any token
        assert good[name] not in logs


def test_provider_down_cached_keys_work_and_unknown_kid_is_401(
    idp_factory: Callable[..., DevIdp], tmp_path: Path
) -> None:
    provider = idp_factory()
    with _gateway_for(provider, tmp_path) as gateway:
        token = fetch_tokens(provider, user="alice")["access_token"]
        assert _me(gateway, token).status_code == 200
        provider.kill()
        assert _me(gateway, token).status_code == 200
        assert _me(gateway, provider.sign({"sub": "bob"})).status_code == 200
        unknown = _me(gateway, provider.sign({"sub": "bob"}, headers={"kid": "rotated"}))
        assert unknown.status_code == 401
        assert unknown.headers["www-authenticate"].startswith("Bearer")


def test_provider_down_before_the_first_key_fetch_is_503_not_500(
    idp_factory: Callable[..., DevIdp], tmp_path: Path
) -> None:
    provider = idp_factory()
    with _gateway_for(provider, tmp_path) as gateway:
        token = provider.sign({"sub": "alice"})
        provider.kill()
        response = _me(gateway, token)
        assert response.status_code == 503
        assert response.json()["error"] == "unavailable"
        assert token not in response.text

"""The three credential kinds of oscar-api.md §1 and service visibility, on a real oscar-local."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Iterator

import httpx
import pytest

from devstack.jwt_issuer import JwtIssuer
from devstack.oscar import LocalOscar


@pytest.fixture
def admin(local_oscar: LocalOscar) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_oscar.url, auth=local_oscar.admin_auth, timeout=30) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def b64(data: bytes) -> bytes:
    return base64.b64encode(data)


def test_basic_admin_is_accepted_on_system_routes_only(
    admin: httpx.Client, local_oscar: LocalOscar
) -> None:
    assert admin.get("/system/services").status_code == 200
    wrong = httpx.get(f"{local_oscar.url}/system/services", auth=("oscar", "wrong"))
    assert (wrong.status_code, wrong.content) == (401, b"")
    for path in ("/run/cowsay", "/job/cowsay"):
        response = admin.post(path, content=b64(b"hi"))
        assert (response.status_code, response.content) == (
            401,
            b"",
        )  # Basic never works on /run, /job
        anonymous = httpx.post(f"{local_oscar.url}{path}", content=b64(b"hi"))
        assert (anonymous.status_code, anonymous.content) == (401, b"")


def test_oidc_bearer_user_is_the_sub(local_oscar: LocalOscar, jwt_issuer: JwtIssuer) -> None:
    name = f"mine-{uuid.uuid4().hex[:8]}"
    token = jwt_issuer.sign({"sub": "carol"})
    with httpx.Client(base_url=local_oscar.url, headers=bearer(token), timeout=30) as carol:
        created = carol.post(
            "/system/services", json={"name": name, "image": "x", "script": "echo hi"}
        )
        assert created.status_code == 201
        assert carol.get(f"/system/services/{name}").json()["owner"] == "carol"
        ran = carol.post(f"/run/{name}", content=b64(b""))
        assert ran.status_code == 200 and ran.text.endswith("hi\n\n")
        provider = carol.get("/system/config").json()["minio_provider"]
        assert provider["access_key"] == "carol"  # OIDC users get their own keys (access key = sub)
        assert (
            provider["secret_key"]
            == carol.get("/system/config").json()["minio_provider"]["secret_key"]
        )


@pytest.mark.parametrize(
    "case", ["expired", "foreign-issuer", "bad-signature", "garbage", "no-sub"]
)
def test_invalid_bearer_tokens_are_401(
    local_oscar: LocalOscar, jwt_issuer: JwtIssuer, case: str
) -> None:
    token = {
        "expired": lambda: jwt_issuer.sign({"sub": "alice"}, ttl=-60),
        "foreign-issuer": lambda: jwt_issuer.sign(
            {"sub": "alice", "iss": "http://127.0.0.1:1/other"}
        ),
        "bad-signature": lambda: jwt_issuer.sign({"sub": "alice"})[:-6] + "AAAAAA",
        "garbage": lambda: "not-a-jwt",
        "no-sub": lambda: jwt_issuer.sign({}),
    }[case]()
    assert httpx.get(f"{local_oscar.url}/system/services", headers=bearer(token)).status_code == 401
    assert (
        httpx.post(f"{local_oscar.url}/run/cowsay", headers=bearer(token), content=b"").status_code
        == 401
    )


def test_service_token_runs_its_service_only(admin: httpx.Client, local_oscar: LocalOscar) -> None:
    cowsay = admin.get("/system/services/cowsay").json()["token"]
    classify = admin.get("/system/services/classify").json()["token"]
    ok = httpx.post(f"{local_oscar.url}/run/cowsay", headers=bearer(cowsay), content=b64(b"moo"))
    assert ok.status_code == 200 and "moo" in ok.text
    other = httpx.post(
        f"{local_oscar.url}/run/cowsay", headers=bearer(classify), content=b64(b"moo")
    )
    assert other.status_code == 401
    # a service token is not a /system credential
    assert (
        httpx.get(f"{local_oscar.url}/system/services", headers=bearer(cowsay)).status_code == 401
    )


def test_unknown_service_with_a_64_hex_token_is_401_and_with_a_jwt_404(
    local_oscar: LocalOscar, jwt_issuer: JwtIssuer
) -> None:
    hex_token = uuid.uuid4().hex * 2
    response = httpx.post(
        f"{local_oscar.url}/run/no-such-service", headers=bearer(hex_token), content=b""
    )
    assert response.status_code == 401
    jwt = jwt_issuer.sign({"sub": "alice"})
    assert (
        httpx.post(
            f"{local_oscar.url}/run/no-such-service", headers=bearer(jwt), content=b""
        ).status_code
        == 404
    )
    assert (
        httpx.post(
            f"{local_oscar.url}/job/no-such-service", headers=bearer(jwt), content=b""
        ).status_code
        == 404
    )


def test_private_service_of_bob_is_hidden_from_alice(
    local_oscar: LocalOscar, jwt_issuer: JwtIssuer
) -> None:
    alice = bearer(jwt_issuer.sign({"sub": "alice"}))
    bob = bearer(jwt_issuer.sign({"sub": "bob"}))
    url = local_oscar.url
    get = httpx.get(f"{url}/system/services/multi-output", headers=alice)
    assert get.status_code == 403 and "token" not in get.text
    assert "multi-output" not in [
        s["name"] for s in httpx.get(f"{url}/system/services", headers=alice).json()
    ]
    assert (
        httpx.post(f"{url}/run/multi-output", headers=alice, content=b64(b"x")).status_code == 403
    )
    assert (
        httpx.post(f"{url}/job/multi-output", headers=alice, content=b64(b"x")).status_code == 403
    )
    assert httpx.get(f"{url}/system/logs/multi-output", headers=alice).status_code == 403
    assert httpx.delete(f"{url}/system/services/multi-output", headers=alice).status_code == 403
    mine = httpx.get(f"{url}/system/services/multi-output", headers=bob)
    assert mine.status_code == 200 and mine.json()["owner"] == "bob"
    assert httpx.post(f"{url}/run/multi-output", headers=bob, content=b64(b"x")).status_code == 200


def test_public_and_restricted_visibility(local_oscar: LocalOscar, jwt_issuer: JwtIssuer) -> None:
    url = local_oscar.url
    alice = bearer(jwt_issuer.sign({"sub": "alice"}))
    dave = bearer(jwt_issuer.sign({"sub": "dave"}))
    alice_sees = {s["name"] for s in httpx.get(f"{url}/system/services", headers=alice).json()}
    dave_sees = {s["name"] for s in httpx.get(f"{url}/system/services", headers=dave).json()}
    assert {"cowsay", "grayify", "classify", "text-to-image"} <= alice_sees
    assert "cowsay" in dave_sees
    assert not {"grayify", "classify", "text-to-image", "multi-output"} & dave_sees
    assert httpx.get(f"{url}/system/services/grayify", headers=dave).status_code == 403
    assert httpx.post(f"{url}/run/cowsay", headers=dave, content=b64(b"hi")).status_code == 200
    # updating someone else's service is forbidden even when it is public
    cowsay = httpx.get(f"{url}/system/services/cowsay", headers=dave).json()
    assert httpx.put(f"{url}/system/services", headers=dave, json=cowsay).status_code == 403

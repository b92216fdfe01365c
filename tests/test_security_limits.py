"""Limits on the UI path (issue 10, hole 2), attacked over real sockets.

Rate limits and the public body limit used to apply only to ``/api/v1`` and
``/embed/public``: through ``/ui/<svc>/gradio_api/*`` a user, or an anonymous
visitor of a public service, could call without limit and upload 100 MiB.
Now a logged-in user's UI calls count against the same per-user limiter as
her ``/api/v1`` runs, an anonymous visitor's against the per-IP limiter too,
and anonymous bodies (uploads included) are bounded by the public limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import httpx
import pytest

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from tests.fixtures.gateway import login
from tests.test_ui_mounts import call

KIB = 1024


@pytest.fixture
def public_gateway(
    idp: DevIdp,
    local_oscar_factory: Callable[..., Any],
    auth_gateway_factory: Callable[..., GatewayProcess],
) -> Callable[..., GatewayProcess]:
    """``make(**settings)``: a gateway where cowsay is open to anonymous visitors."""
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    cowsay = httpx.get(f"{oscar.url}/system/services/cowsay", auth=oscar.admin_auth).json()

    def make(**settings: Any) -> GatewayProcess:
        return auth_gateway_factory(
            idp,
            oscar__url=oscar.url,
            embed__public_services=["cowsay"],
            embed__public_tokens={"cowsay": cowsay["token"]},
            **settings,
        )

    return make


def _refused_429(response: httpx.Response, text: str) -> None:
    assert response.status_code == 429, response.text
    assert response.json()["error"] == "rate_limited"
    assert text in response.json()["message"]
    assert 1 <= int(response.headers["Retry-After"]) <= 60


def test_ui_calls_count_against_the_users_limit_shared_with_the_api(
    public_gateway: Callable[..., GatewayProcess], idp: DevIdp
) -> None:
    gateway = public_gateway(limits__invocations_per_minute=3)
    ui = f"{gateway.url}/ui/cowsay"
    with login(gateway, idp, user="alice") as alice:
        for word in ("one", "two"):
            event, data = call(alice, ui, "cowsay", [word])
            assert event == "complete" and word in data[0]
        run = alice.post(f"{gateway.url}/api/v1/services/cowsay/run", content=b"three")
        assert run.status_code == 200, run.text
        # The fourth invocation of the minute, through every invocation route of the UI.
        for route in ("call/cowsay", "queue/join", "run/cowsay", "api/cowsay"):
            body = {"data": ["four"], "fn_index": 0, "session_hash": "limits"}
            refused = alice.post(f"{ui}/gradio_api/{route}", json=body)
            _refused_429(refused, "at most 3 a minute")
        # Loading the page is no invocation, and the API shares the count.
        assert alice.get(f"{ui}/").status_code == 200
        api = alice.post(f"{gateway.url}/api/v1/services/cowsay/run", content=b"four")
        _refused_429(api, "at most 3 a minute")
    # Per user: bob still calls.
    bob_token = fetch_tokens(idp, user="bob")["access_token"]
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {bob_token}"}) as bob:
        event, data = call(bob, ui, "cowsay", ["bob"])
        assert event == "complete" and "bob" in data[0]


def test_anonymous_ui_calls_are_limited_per_ip(
    public_gateway: Callable[..., GatewayProcess],
) -> None:
    gateway = public_gateway(embed__public_per_ip_per_minute=2)
    ui = f"{gateway.url}/ui/cowsay"
    with httpx.Client(timeout=30) as anonymous:
        for word in ("one", "two"):
            event, data = call(anonymous, ui, "cowsay", [word])
            assert event == "complete" and word in data[0]
        refused = anonymous.post(f"{ui}/gradio_api/call/cowsay", json={"data": ["three"]})
        _refused_429(refused, "anonymous runs from your address")
        joined = anonymous.post(
            f"{ui}/gradio_api/queue/join",
            json={"data": ["three"], "fn_index": 0, "session_hash": "anon"},
        )
        _refused_429(joined, "at most 2 a minute")
        # The same bucket as the public REST route.
        public_run = anonymous.post(f"{gateway.url}/embed/public/cowsay/run", content=b"x")
        _refused_429(public_run, "anonymous runs from your address")


def _chunks(size: int) -> Iterator[bytes]:
    for _ in range(size // (8 * KIB)):
        yield b"a" * (8 * KIB)


def test_anonymous_bodies_are_bounded_by_the_public_limit(
    public_gateway: Callable[..., GatewayProcess], idp: DevIdp
) -> None:
    gateway = public_gateway(
        embed__public_max_body_bytes=64 * KIB, limits__max_body_bytes=256 * KIB
    )
    ui = f"{gateway.url}/ui/cowsay"
    big = ("big.bin", b"x" * (100 * KIB), "application/octet-stream")
    with httpx.Client(timeout=30) as anonymous:
        upload = anonymous.post(f"{ui}/gradio_api/upload", files={"files": big})
        assert upload.status_code == 413, upload.text
        assert upload.json()["error"] == "payload_too_large"
        assert "64 KiB" in upload.json()["message"]
        # Chunked, without a Content-Length: refused while it streams.
        streamed = anonymous.post(
            f"{ui}/gradio_api/call/cowsay",
            content=_chunks(100 * KIB),
            headers={"Content-Type": "application/json"},
        )
        assert streamed.status_code == 413 and "64 KiB" in streamed.json()["message"]
        small = anonymous.post(
            f"{ui}/gradio_api/upload", files={"files": ("small.txt", b"moo", "text/plain")}
        )
        assert small.status_code == 200, small.text
        event, data = call(anonymous, ui, "cowsay", ["still works"])
        assert event == "complete" and "still works" in data[0]
    with login(gateway, idp, user="alice") as alice:
        mine = alice.post(f"{ui}/gradio_api/upload", files={"files": big})
        assert mine.status_code == 200, mine.text
        huge = ("huge.bin", b"x" * (300 * KIB), "application/octet-stream")
        too_big = alice.post(f"{ui}/gradio_api/upload", files={"files": huge})
        assert too_big.status_code == 413
        assert "256 KiB" in too_big.json()["message"]


def _multipart(boundary: str, parts: int, size: int) -> Iterator[bytes]:
    for n in range(parts):
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; '
            f'filename="part{n}.bin"\r\nContent-Type: application/octet-stream\r\n\r\n'
        ).encode()
        yield from _chunks(size)
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


def test_a_logged_in_users_chunked_upload_over_the_limit_is_a_413_not_a_500(
    public_gateway: Callable[..., GatewayProcess], idp: DevIdp
) -> None:
    gateway = public_gateway(limits__max_body_bytes=100 * KIB)
    ui = f"{gateway.url}/ui/cowsay"
    boundary = "gatewayboundary"
    with login(gateway, idp, user="alice") as alice:
        # Chunked (no Content-Length): only counting while it streams can stop it.
        upload = alice.post(
            f"{ui}/gradio_api/upload",
            content=_multipart(boundary, parts=5, size=88 * KIB),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert upload.status_code == 413, upload.text
        assert "100 KiB" in upload.json()["message"]
        small = alice.post(
            f"{ui}/gradio_api/upload",
            content=_multipart(boundary, parts=1, size=8 * KIB),
            headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
        )
        assert small.status_code == 200, small.text
    assert "Traceback" not in gateway.output()

"""OscarClient against a scripted real HTTP server: URL prefix, status mapping, faults."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest

from core.errors import (
    BadRequest,
    Conflict,
    Forbidden,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)
from core.settings import OscarSettings
from devstack.processes import free_port
from oscar.client import OscarClient
from tests.fixtures.client import Reply, ScriptedServer

AUTH = "Bearer not-a-real-token"


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(5.0, connect=2.0)) as client:
        yield client


def _client(http: httpx.AsyncClient, url: str) -> OscarClient:
    return OscarClient(http, OscarSettings(url=url))


@pytest.mark.anyio
async def test_calls_keep_the_base_url_path_prefix(
    http: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    scripted_server.reply(
        Reply(200, b"[]", "application/json"),
        Reply(200, b"Ok"),
        Reply(200, b"aGk=\n"),
        Reply(200, b'{"jobs":{},"next_page":"","remaining_jobs":0}', "application/json"),
    )
    oscar = _client(http, scripted_server.url + "/oscar/api/")
    assert await oscar.list_services(auth=AUTH) == []
    await oscar.health()
    assert await oscar.run("my svc", b"aGk=", auth=AUTH) == b"aGk=\n"
    await oscar.list_jobs("cowsay", auth=AUTH, page="p 2")
    assert [(r.method, r.path) for r in scripted_server.requests] == [
        ("GET", "/oscar/api/system/services"),
        ("GET", "/oscar/api/health"),
        ("POST", "/oscar/api/run/my%20svc"),
        ("GET", "/oscar/api/system/logs/cowsay?page=p+2"),
    ]
    assert scripted_server.requests[0].headers["Authorization"] == AUTH
    assert "Authorization" not in scripted_server.requests[1].headers


@pytest.mark.anyio
@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, BadRequest),
        (401, Unauthorized),
        (403, Forbidden),
        (404, NotFound),
        (409, Conflict),
        (413, PayloadTooLarge),
        (500, UpstreamError),
        (502, UpstreamError),
        (503, Unavailable),
        (504, UpstreamTimeout),
        (418, UpstreamError),
    ],
)
async def test_status_code_alone_decides_the_error(
    http: httpx.AsyncClient, scripted_server: ScriptedServer, status: int, error: type
) -> None:
    # A body that looks like another error must not change the class (oscar-api.md §2).
    scripted_server.reply(Reply(status, b"service not found\nunauthorized"))
    oscar = _client(http, scripted_server.url)
    with pytest.raises(GatewayError) as caught:
        await oscar.get_service("cowsay", auth=AUTH)
    assert type(caught.value) is error
    assert caught.value.detail == "service not found\nunauthorized"


@pytest.mark.anyio
async def test_empty_error_body_gives_no_detail(
    http: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    scripted_server.reply(Reply(404, b""))
    with pytest.raises(NotFound) as caught:
        await _client(http, scripted_server.url).get_service("ghost", auth=AUTH)
    assert caught.value.detail is None
    assert "ghost" in caught.value.message


@pytest.mark.anyio
async def test_nothing_listening_is_unavailable(http: httpx.AsyncClient) -> None:
    oscar = _client(http, f"http://127.0.0.1:{free_port()}")
    with pytest.raises(Unavailable):
        await oscar.list_services(auth=AUTH)
    with pytest.raises(Unavailable):
        await oscar.health()


@pytest.mark.anyio
async def test_slow_answer_is_upstream_timeout(
    http: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    scripted_server.reply(Reply(200, b"late\n", hang=2.0))
    oscar = _client(http, scripted_server.url)
    with pytest.raises(UpstreamTimeout):
        await oscar.run("cowsay", b"aGk=", auth=AUTH, timeout_seconds=0.3)


@pytest.mark.anyio
async def test_connection_reset_is_upstream_error(
    http: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    scripted_server.reply(Reply(reset=True))
    with pytest.raises(UpstreamError) as caught:
        await _client(http, scripted_server.url).list_services(auth=AUTH)
    assert type(caught.value) is UpstreamError
    assert isinstance(caught.value.__cause__, httpx.TransportError)


@pytest.mark.anyio
async def test_unhealthy_answer_is_unavailable(
    http: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    scripted_server.reply(Reply(500, b"backend down"))
    with pytest.raises(Unavailable) as caught:
        await _client(http, scripted_server.url).health()
    assert caught.value.detail == "backend down"


@pytest.mark.anyio
async def test_presign_sends_the_documented_body(
    http: httpx.AsyncClient, scripted_server: ScriptedServer
) -> None:
    answer = (
        b'{"object_key":"in/a.png","operation":"upload","method":"PUT",'
        b'"url":"http://s3/x?sig=1","expires_at":"2026-01-01T00:00:00Z","headers":null}'
    )
    scripted_server.reply(Reply(200, answer, "application/json"))
    presigned = await _client(http, scripted_server.url).presign(
        "grayify", "in/a.png", "upload", auth=AUTH, expires_in=60, content_type="image/png"
    )
    assert (presigned.method, presigned.url, presigned.headers) == ("PUT", "http://s3/x?sig=1", {})
    seen = scripted_server.requests[0]
    assert seen.path == "/system/buckets/grayify/presign"
    assert httpx.Response(200, content=seen.body).json() == {
        "object_key": "in/a.png",
        "operation": "upload",
        "expires_in": 60,
        "content_type": "image/png",
    }

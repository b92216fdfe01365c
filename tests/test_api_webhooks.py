"""Webhook URL checks, signatures and delivery to a real receiver on 127.0.0.1."""

from __future__ import annotations

import http.server
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from core.errors import InvalidInput
from core.settings import Settings
from gateway.webhooks import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    check_webhook_url,
    deliver,
    sign,
    verify_signature,
    webhook_key,
)


def _settings(**jobs: object) -> Settings:
    return Settings(
        session={"secret": "s" * 40},
        jobs={"webhook_allowed_hosts": ["hooks.example", "127.0.0.1"], **jobs},
    )


def _to_receiver(receiver: type[_Receiver], **jobs: object) -> Settings:
    """Settings allowing the receiver: plain http (demo mode), its host:port, loopback."""
    netloc = urlsplit(receiver.url).netloc  # type: ignore[attr-defined]
    allowed = {"webhook_allowed_hosts": [netloc], "webhook_allow_private_addresses": True}
    return Settings(demo=True, session={"secret": "s" * 40}, jobs={**allowed, **jobs})


def test_allow_listed_https_webhook_is_accepted() -> None:
    url = "https://hooks.example/oscar?x=1"
    assert check_webhook_url(url, _settings()) == url


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("https://evil.example/x", "not allowed"),
        ("http://hooks.example/x", "https"),
        ("ftp://hooks.example/x", "https"),
        ("hooks.example/x", "https"),
        ("https://user:pw@hooks.example/x", "credentials"),
        ("https://hooks.example:8443/x", "may only use port 443"),
    ],
)
def test_other_webhooks_are_refused(url: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        check_webhook_url(url, _settings())


def test_an_allow_list_entry_that_is_no_host_port_is_refused() -> None:
    with pytest.raises(ValueError, match=r"'hooks\.example/x' is not a host"):
        Settings(demo=True, jobs={"webhook_allowed_hosts": ["hooks.example/x"]})


def test_demo_mode_allows_plain_http_to_allowed_hosts() -> None:
    demo = Settings(demo=True, jobs={"webhook_allowed_hosts": ["127.0.0.1:9", "hooks.example"]})
    assert check_webhook_url("http://127.0.0.1:9/h", demo)
    # No port in the entry: the scheme's own (80 for http, 443 for https).
    assert check_webhook_url("http://hooks.example/h", demo)
    assert check_webhook_url("https://hooks.example:443/h", demo)


def test_signature_is_bound_to_body_key_and_time() -> None:
    key = webhook_key(_settings(webhook_secret="shared"))
    now = int(time.time())
    body = b'{"event":"job.finished"}'
    headers = {TIMESTAMP_HEADER: str(now), SIGNATURE_HEADER: sign(key, now, body)}
    assert verify_signature(key, headers, body)
    assert not verify_signature(key, headers, body + b"x")
    assert not verify_signature(b"other key", headers, body)
    stale = {TIMESTAMP_HEADER: str(now - 3600), SIGNATURE_HEADER: sign(key, now - 3600, body)}
    assert not verify_signature(key, stale, body)
    assert not verify_signature(key, {SIGNATURE_HEADER: "sha256=00"}, body)


def test_without_a_webhook_secret_the_key_derives_from_the_session_secret() -> None:
    assert webhook_key(_settings()) == webhook_key(_settings())
    other = Settings(session={"secret": "t" * 40})
    assert webhook_key(_settings()) != webhook_key(other)


class _Receiver(http.server.BaseHTTPRequestHandler):
    statuses: list[int]
    received: list[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.received.append((dict(self.headers.items()), body))
        self.send_response(self.statuses.pop(0) if self.statuses else 204)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[type[_Receiver]]:
    handler = type("Receiver", (_Receiver,), {"statuses": [], "received": []})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    handler.url = f"http://127.0.0.1:{server.server_address[1]}/hook"  # type: ignore[attr-defined]
    yield handler
    server.shutdown()
    server.server_close()


@pytest.mark.anyio
async def test_delivery_is_signed_and_retried_after_a_5xx(receiver: type[_Receiver]) -> None:
    settings = _to_receiver(receiver, webhook_secret="shared")
    receiver.statuses.extend([503])
    async with httpx.AsyncClient() as http:
        delivered = await deliver(http, receiver.url, {"n": 1}, settings=settings)  # type: ignore[attr-defined]
    assert delivered
    assert len(receiver.received) == 2
    headers, body = receiver.received[-1]
    assert body == b'{"n":1}'
    assert verify_signature(webhook_key(settings), headers, body)


@pytest.mark.anyio
async def test_a_4xx_answer_is_not_retried(receiver: type[_Receiver]) -> None:
    receiver.statuses.extend([410])
    async with httpx.AsyncClient() as http:
        delivered = await deliver(http, receiver.url, {"n": 2}, settings=_to_receiver(receiver))  # type: ignore[attr-defined]
    assert not delivered
    assert len(receiver.received) == 1

"""oscar-local's and the gateway's connections: Nagle off; idle keep-alive connections are
kept longer than the pools of their clients (httpx: 5 s, Nginx's upstream: 60 s) keep them."""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable

from devstack.gateway import GatewayProcess
from devstack.oscar import LocalOscar
from oscar_local.cli import listening_socket


async def _accepted_nodelay(sock: socket.socket) -> int:
    """TCP_NODELAY of a connection asyncio accepts on ``sock`` (as uvicorn serves it)."""
    loop = asyncio.get_running_loop()
    accepted: asyncio.Future[int] = loop.create_future()

    class Probe(asyncio.Protocol):
        def connection_made(self, transport: asyncio.BaseTransport) -> None:
            conn = transport.get_extra_info("socket")
            accepted.set_result(conn.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY))
            transport.close()

    server = await loop.create_server(Probe, sock=sock)
    async with server:
        port = sock.getsockname()[1]
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            return await asyncio.wait_for(accepted, 10)
        finally:
            writer.close()


def test_accepted_connections_have_tcp_nodelay() -> None:
    # With Nagle on, the response body (written after the headers) waited for the
    # client's delayed ACK: every oscar-local answer took about 40 ms more.  A plain
    # socket.socket() listener (proto 0) gets 0 here: asyncio then leaves Nagle on.
    assert asyncio.run(_accepted_nodelay(listening_socket("127.0.0.1", 0))) == 1


def _idle_then_again(url: str, path: str, body: bytes) -> None:
    """``GET path`` twice on one connection, 6 s apart: both answered (body ends ``body``).

    A server that closes idle connections after 5 s (uvicorn's default) resets some
    just as a client, whose pool kept them as long, sends on them.
    """
    port = int(url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        for pause in (6, 0):
            conn.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            answer = b""
            while not answer.endswith(body):
                chunk = conn.recv(4096)
                assert chunk, f"{url} closed the connection"
                answer += chunk
            assert answer.startswith(b"HTTP/1.1 200")
            time.sleep(pause)


def test_oscar_local_keeps_an_idle_connection_open(local_oscar: LocalOscar) -> None:
    _idle_then_again(local_oscar.url, "/health", b"Ok")


def test_the_gateway_keeps_an_idle_connection_open(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    _idle_then_again(gateway_factory().url, "/healthz", b"}")

"""oscar-local's connections: Nagle off, idle keep-alive connections kept past clients' pools."""

from __future__ import annotations

import asyncio
import socket
import time

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


def test_an_idle_keep_alive_connection_outlives_clients_pools(local_oscar: LocalOscar) -> None:
    # httpx pools (the gateway's) drop a connection idle for 5 s; a server closing idle
    # ones at the same 5 s resets some just as a client sends on them.
    port = int(local_oscar.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as conn:
        assert _health(conn).startswith(b"HTTP/1.1 200")
        time.sleep(6)
        assert _health(conn).startswith(b"HTTP/1.1 200")


def _health(conn: socket.socket) -> bytes:
    """``GET /health`` on an open connection: the whole answer (its body is ``Ok``)."""
    conn.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    answer = b""
    while not answer.endswith(b"Ok"):
        chunk = conn.recv(4096)
        assert chunk, "oscar-local closed the connection"
        answer += chunk
    return answer

"""oscar-local's listening socket: connections accepted on it have Nagle off."""

from __future__ import annotations

import asyncio
import socket

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

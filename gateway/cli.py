"""``oscar-gateway serve [--host] [--port]``: run the gateway from GATEWAY_* settings."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import socket
import sys
from collections.abc import Iterator

import uvicorn
from pydantic import ValidationError

from core.metrics import Metrics, metrics_app
from core.settings import Settings
from gateway.app import create_app
from gateway.logs import logging_config

# uvicorn's exit status when the app's start-up failed.
_STARTUP_FAILURE = 3


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oscar-gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (settings from GATEWAY_* variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    return parser


class _MetricsServer(uvicorn.Server):
    """The ``GATEWAY_METRICS_PORT`` listener: the gateway's server owns the signals."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class _GatewayServer(uvicorn.Server):
    """uvicorn's server, starting the metrics listener once it serves and stopping it last."""

    def __init__(self, config: uvicorn.Config, metrics: uvicorn.Server | None) -> None:
        super().__init__(config)
        self.metrics = metrics
        self._metrics_task: asyncio.Task[None] | None = None

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        # After our "Uvicorn running on" line, which is the one that means ready.
        if self.metrics is not None and self.started:
            self._metrics_task = asyncio.create_task(self.metrics.serve())

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        if self.metrics is not None and self._metrics_task is not None:
            self.metrics.should_exit = True
            await self._metrics_task
        await super().shutdown(sockets)


# Idle keep-alive connections stay open this long (uvicorn's default is 5 s).  Nginx
# keeps its idle upstream connections 60 s (keepalive_timeout) and httpx pools 5 s: a
# server closing first resets a connection a proxy or client has just sent on, and
# Nginx does not retry a POST on another replica (a 502).  75 s outlasts both.
KEEP_ALIVE_SECONDS = 75


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as exc:
        # One line naming the variable, no traceback: start-up stops here.
        raise SystemExit(f"oscar-gateway: {Settings.explain(exc)}") from None
    registry = Metrics()
    app = create_app(settings, metrics=registry)
    # The prefix comes from one place only: uvicorn's root_path (see gradio-notes.md).
    config = uvicorn.Config(
        app,
        host=args.host,
        port=args.port,
        root_path=settings.root_path,
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        timeout_graceful_shutdown=5,
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
        log_level=settings.log_level.lower(),
        # JSON lines with the request id; the gateway writes its own access line.
        log_config=logging_config(settings.log_level),
        access_log=False,
    )
    metrics = None
    if settings.metrics_port:
        # Not behind the proxy, so no proxy headers; logging is the main config's.
        side = uvicorn.Config(
            metrics_app(registry, settings),
            host=args.host,
            port=settings.metrics_port,
            lifespan="off",
            proxy_headers=False,
            log_config=None,
            access_log=False,
        )
        metrics = _MetricsServer(side)
    server = _GatewayServer(config, metrics)
    # The event loop uvicorn.run would pick (uvloop when installed).
    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(server.serve())
    if not server.started:
        sys.exit(_STARTUP_FAILURE)


if __name__ == "__main__":
    main()

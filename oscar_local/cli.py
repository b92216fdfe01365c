"""``oscar-local serve``: the command line of the local OSCAR-compatible cluster."""

from __future__ import annotations

import argparse
import asyncio
import logging
import socket
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn
import yaml

from oscar_local.app import create_app
from oscar_local.config import S3Settings, ServerConfig
from oscar_local.errors import HttpError
from oscar_local.fdl import load_paths, validate


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="oscar-local", description="A local OSCAR-compatible cluster."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", help="serve the OSCAR API on this machine")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    serve.add_argument(
        "--services", type=Path, nargs="*", default=[], help="FDL/JSON files or folders"
    )
    serve.add_argument("--data-dir", type=Path, default=Path(".oscar-local"))
    serve.add_argument("--username", default="oscar")
    serve.add_argument("--password", default="oscar")
    serve.add_argument("--oidc-issuer", action="append", default=[], dest="oidc_issuers")
    serve.add_argument("--s3-endpoint", help="external S3/MinIO instead of the embedded one")
    serve.add_argument("--s3-access-key")
    serve.add_argument("--s3-secret-key")
    serve.add_argument("--s3-region", default="us-east-1")
    serve.add_argument("--workers", type=int, default=4, help="jobs running at once")
    serve.add_argument(
        "--sync-timeout", type=float, default=300.0, help="seconds before /run gives up"
    )
    serve.add_argument(
        "--job-timeout", type=float, default=3600.0, help="default job limit, seconds"
    )
    serve.add_argument("--max-body-bytes", type=int, default=100 * 1024 * 1024)
    serve.add_argument(
        "--watch-interval", type=float, default=0.5, help="bucket polling period, seconds"
    )
    return parser


def config_from_args(args: argparse.Namespace) -> ServerConfig:
    s3 = None
    if args.s3_endpoint:
        if not (args.s3_access_key and args.s3_secret_key):
            raise SystemExit("--s3-endpoint needs --s3-access-key and --s3-secret-key")
        s3 = S3Settings(
            args.s3_endpoint.rstrip("/"), args.s3_access_key, args.s3_secret_key, args.s3_region
        )
    return ServerConfig(
        host=args.host,
        port=args.port,
        services=tuple(args.services),
        data_dir=args.data_dir,
        username=args.username,
        password=args.password,
        oidc_issuers=tuple(args.oidc_issuers),
        s3=s3,
        workers=max(1, args.workers),
        sync_timeout=args.sync_timeout,
        job_timeout=args.job_timeout,
        max_body_bytes=args.max_body_bytes,
        watch_interval=args.watch_interval,
    )


# Idle keep-alive connections stay open this long (uvicorn's default is 5 s).  Clients'
# pools drop theirs after 5 s (httpx, so the gateway's): a server closing at the same
# moment resets a connection a client has just sent a request on.  75 s is nginx's
# default, what an OSCAR behind an ingress keeps.
KEEP_ALIVE_SECONDS = 75


async def _serve(config: ServerConfig, sock: socket.socket) -> int:
    server = uvicorn.Server(
        uvicorn.Config(
            create_app(config),
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=5,
            timeout_keep_alive=KEEP_ALIVE_SECONDS,
        )
    )
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        if task.done():
            return 1
        await asyncio.sleep(0.05)
    port = sock.getsockname()[1]
    print(
        f"oscar-local ready at http://{config.host}:{port} "
        f"(admin user: {config.username}, password: {config.password})",
        flush=True,
    )
    await task
    return 0


def main(argv: Sequence[str] | None = None) -> None:
    parser = build_parser()
    args = parser.parse_args(argv)
    missing = [str(p) for p in args.services if not p.exists()]
    if missing:
        parser.error(f"--services: no such file or folder: {', '.join(missing)}")
    try:
        for definition in load_paths(list(args.services)):
            validate(definition)
    except (yaml.YAMLError, OSError, HttpError) as exc:
        parser.error(f"--services: {getattr(exc, 'message', None) or exc}")
    config = config_from_args(args)
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    sys.exit(asyncio.run(_serve(config, listening_socket(config.host, config.port))))


def listening_socket(host: str, port: int) -> socket.socket:
    """The bound socket uvicorn serves on (bound here so ``--port 0`` can print its port).

    Its protocol is ``IPPROTO_TCP``, not the default 0: asyncio turns on TCP_NODELAY
    only for accepted sockets whose ``proto`` says TCP, and they inherit the listener's.
    With Nagle left on, the response body (a second write, after the headers) waited
    for the client's delayed ACK: about 40 ms on every request.
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    return sock

"""``oscar-gateway serve [--host] [--port]``: run the gateway from GATEWAY_* settings."""

from __future__ import annotations

import argparse

import uvicorn
from pydantic import ValidationError

from gateway.app import create_app
from gateway.logs import logging_config
from gateway.settings import Settings


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="oscar-gateway")
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the gateway (settings from GATEWAY_* variables)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    return parser


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)

    try:
        settings = Settings()
    except ValidationError as exc:
        # One line naming the variable, no traceback: start-up stops here.
        raise SystemExit(f"oscar-gateway: {Settings.explain(exc)}") from None
    app = create_app(settings)
    # The prefix comes from one place only: uvicorn's root_path (see gradio-notes.md).
    uvicorn.run(
        app,
        host=args.host,
        port=args.port,
        root_path=settings.root_path,
        proxy_headers=True,
        forwarded_allow_ips=",".join(settings.trusted_proxies),
        timeout_graceful_shutdown=5,
        log_level=settings.log_level.lower(),
        # JSON lines with the request id; the gateway writes its own access line.
        log_config=logging_config(settings.log_level),
        access_log=False,
    )


if __name__ == "__main__":
    main()

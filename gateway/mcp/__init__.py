"""``{public_url}/mcp``: every service the caller may use as an MCP tool.

- ``auth``: bearer-only authentication, the 401 challenge and RFC 9728 metadata;
- ``server``: the SDK's ``Server`` and its stateless streamable HTTP manager;
- ``tools``: a service as a tool (description, ``inputSchema``);
- ``inputs``/``results``: tool arguments in, MCP content out;
- ``calls``: running one service (sync, job with progress, DEEPaaS).
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.routing import Route

from core.settings import Settings
from gateway.mcp.auth import BearerOnly
from gateway.mcp.auth import router as metadata_router
from gateway.mcp.server import McpServer


def install_mcp(app: FastAPI, settings: Settings) -> McpServer:
    """Route ``/mcp`` to the MCP server (bearer only) and serve the resource metadata."""
    server = McpServer(settings)
    app.include_router(metadata_router)
    endpoint = BearerOnly(server, settings)
    app.router.routes.append(Route("/mcp", endpoint, methods=["GET", "POST", "DELETE"]))
    return server


__all__ = ["McpServer", "install_mcp"]

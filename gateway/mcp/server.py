"""The MCP server: the official SDK's low-level ``Server`` over streamable HTTP.

Stateless streamable HTTP (``StreamableHTTPSessionManager(stateless=True)``):
every POST is served on its own, so any replica behind Nginx can answer it,
and a tool call's progress notifications and result stream back on that
POST's SSE response.  The handlers read the caller (``gateway.mcp.auth``)
and the gateway's collaborators from the request's ASGI scope, so
``tools/list`` is asked of OSCAR with the caller's own token.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import mcp_types as types
from mcp.server import Server
from mcp.server.context import ServerRequestContext
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from core.errors import GatewayError, Unavailable
from core.settings import Settings
from gateway.mcp.auth import user_of_scope
from gateway.mcp.calls import Call
from gateway.mcp.inputs import Files
from gateway.mcp.tools import tool_of
from gateway.state import gateway_state
from oscar.models import Service
from uis import deepaas
from uis.spec import parse_spec

Context = ServerRequestContext[dict[str, Any], Any]


def _request(ctx: Context) -> Request:
    if not isinstance(ctx.request, Request):
        raise Unavailable("This MCP endpoint only works over HTTP.")
    return ctx.request


class McpServer:
    """The gateway's one MCP server; ``running()`` belongs in the gateway lifespan."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.server: Server[Any] = Server(
            "oscar-gateway",
            title="OSCAR services",
            instructions="Every tool is an OSCAR service you may use, run with your own login.",
            on_list_tools=self.list_tools,
            on_call_tool=self.call_tool,
        )
        self._manager: StreamableHTTPSessionManager | None = None
        self._fetch: httpx.AsyncClient | None = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """The session manager's task group, and the client that fetches URL inputs."""
        manager = StreamableHTTPSessionManager(
            self.server,
            stateless=True,
            max_request_body_size=self.settings.limits.max_body_bytes,
        )
        fetch = httpx.AsyncClient(timeout=30, follow_redirects=False)
        async with fetch, manager.run():
            self._manager, self._fetch = manager, fetch
            try:
                yield
            finally:
                self._manager = self._fetch = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._manager is None:
            raise Unavailable("The gateway is starting or stopping. Try again in a moment.")
        await self._manager.handle_request(scope, receive, send)

    async def list_tools(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListToolsResult:
        request = _request(ctx)
        state, user = gateway_state(request), user_of_scope(request.scope)
        services = await state.oscar.list_services(auth=user.authorization)
        tools = []
        for service in sorted(services, key=lambda s: s.name):
            tools.append(tool_of(service, parse_spec(service), await self._args(ctx, service)))
        return types.ListToolsResult(tools=tools)

    async def _args(self, ctx: Context, service: Service) -> tuple[deepaas.PredictArg, ...] | None:
        if not deepaas.is_deepaas(service):
            return None
        request = _request(ctx)
        state, user = gateway_state(request), user_of_scope(request.scope)
        try:
            return await state.deepaas.arguments(state.oscar, service, auth=user.authorization)
        except GatewayError:
            return None  # listed with the generic schema; calling it says what went wrong

    async def call_tool(
        self, ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult:
        request = _request(ctx)
        state = gateway_state(request)
        assert self._fetch is not None

        async def progress(done: float, total: float, message: str) -> None:
            await ctx.session.report_progress(done, total, message)

        call = Call(
            state=state,
            user=user_of_scope(request.scope),
            files=Files(self._fetch, state.settings.limits.max_body_bytes),
            progress=progress,
        )
        return await call.run(params.name, dict(params.arguments or {}))

"""``tools/call``: run one service for the caller, as the REST API would.

Sync services go through ``/run`` (``oscar.invoke``), async ones through the
job path (``oscar.runner.JobRunner``) with an MCP progress notification per
stage; DEEPaaS services get their JSON body with ``oscar-files`` and answer
the prediction pulled out of the log.  Every call counts against the
per-user invocation rate limit.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import mcp_types as types

from core.errors import GatewayError, InvalidInput, PayloadTooLarge, UpstreamError
from core.identity import User
from gateway.mcp.inputs import Files, Invocation, invocation
from gateway.mcp.results import error_result, json_result, output_content, tool_error
from gateway.state import GatewayState
from oscar.invoke import invoke_sync
from oscar.models import Service
from oscar.payloads import Output
from oscar.runner import Stage
from uis import deepaas
from uis.spec import UISpec, parse_spec

# Progress numbers of the job stages (out of ``len(_STAGES)``).
_STAGES: dict[Stage, int] = {"uploading": 1, "queued": 2, "running": 3, "fetching": 4, "done": 5}


@dataclass
class Call:
    """One tool call by ``user`` on the gateway's collaborators."""

    state: GatewayState
    user: User
    files: Files
    progress: Callable[[float, float, str], Awaitable[None]]

    async def run(self, name: str, arguments: dict[str, Any]) -> types.CallToolResult:
        try:
            await self.state.limiters.invocations.hit(self.user.sub)
            service = await self.state.oscar.get_service(name, auth=self.user.authorization)
            return await self._run(service, parse_spec(service), arguments)
        except GatewayError as exc:
            return tool_error(exc)

    async def _run(
        self, service: Service, spec: UISpec, arguments: dict[str, Any]
    ) -> types.CallToolResult:
        if deepaas.is_deepaas(service):
            return await self._deepaas(service, arguments)
        request = await invocation(spec, arguments, self.files)
        if spec.mode == "async":
            output = await self._job(service.name, request)
        else:
            output = await self._sync(service.name, request.data)
        return types.CallToolResult(content=list(output_content(service.name, output)))

    async def _sync(self, name: str, data: bytes | str | dict[str, Any]) -> Output:
        output = await invoke_sync(self.state.oscar, name, data, self.user.authorization)
        size = sum(len(f.data) for f in output.files) + len(output.text)
        limit = self.state.settings.ui.max_output_bytes
        if size > limit:
            raise PayloadTooLarge(
                f"The result is {size // 1024:,} KiB, more than a tool call returns "
                f"({limit // 1024:,} KiB). Use the REST API's jobs to fetch it."
            )
        return output

    async def _job(self, name: str, request: Invocation) -> Output:
        data = request.data
        raw = json.dumps(data).encode() if isinstance(data, dict) else data
        body = raw.encode() if isinstance(raw, str) else raw
        events = self.state.runner.invoke(
            name,
            body,
            filename=request.filename,
            auth=self.user.authorization,
            content_type=request.content_type,
            max_output_bytes=self.state.settings.ui.max_output_bytes,
        )
        async for event in events:
            if event.stage in _STAGES:
                await self.progress(_STAGES[event.stage], len(_STAGES), event.message)
            if event.result is not None:
                return event.result.output
        raise UpstreamError("The job ended without an output.")

    async def _deepaas(self, service: Service, arguments: dict[str, Any]) -> types.CallToolResult:
        args = await self.state.deepaas.arguments(
            self.state.oscar, service, auth=self.user.authorization
        )
        unknown = sorted(set(arguments) - {a.name for a in args})
        if unknown:
            raise InvalidInput(f"The model has no argument {', '.join(map(repr, unknown))}.")
        files: dict[str, tuple[bytes, str]] = {}
        for arg in args:
            if arg.is_file and arguments.get(arg.name) is not None:
                read = await self.files.read(arguments[arg.name], arg.name)
                files[arg.name] = (read.data, read.filename)
        body = deepaas.request_body(args, arguments, files)
        output = await self._sync(service.name, body)
        log = output.text
        value = deepaas.prediction(log)
        if value is None:
            return error_result(deepaas.model_error(log))
        return json_result(value, log=log)

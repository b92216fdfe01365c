"""``/run/{name}`` (sync) and ``/job/{name}`` (async): Bearer only (oscar-api.md §1)."""

from __future__ import annotations

import time
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from oscar_local.auth import SERVICE_TOKEN_LENGTH, Caller, bearer_token
from oscar_local.errors import Forbidden, NotFound, Unauthorized
from oscar_local.routes.common import cluster_of, empty, path_param, read_body
from oscar_local.services import can_read
from oscar_local.supervisor import run_sync


async def invoker(request: Request) -> tuple[Caller, dict[str, Any]]:
    """The caller and the service; Basic or no header is 401 with an empty body."""
    token = bearer_token(request.headers.get("authorization", ""))
    if token is None:
        raise Unauthorized()
    cluster = cluster_of(request)
    name = path_param(request, "name")
    service = cluster.registry.get(name)
    if len(token) == SERVICE_TOKEN_LENGTH:
        # a 64-character bearer is a service token; for an unknown service OSCAR answers 401
        if service is None or token != service.get("token"):
            raise Unauthorized("invalid service token")
        return Caller(sub=str(service.get("owner")), service_token_for=name), service
    caller = await cluster.auth.oidc_caller(token)
    if service is None:
        raise NotFound(f"service '{name}' not found")
    if not can_read(caller, service):
        raise Forbidden("User does not have permission to invoke this service")
    return caller, service


async def run(request: Request) -> Response:
    """200 with the supervisor's output, even when the script fails."""
    _, service = await invoker(request)
    body = await read_body(request)
    cluster = cluster_of(request)
    started = time.monotonic()
    output = await run_sync(
        service, body, cluster.storage, limit_seconds=cluster.config.sync_timeout
    )
    headers = {"X-Duration-Seconds": f"{time.monotonic() - started:.3f}"}
    # OSCAR echoes the request's Content-Type; it says nothing about the output
    media_type = request.headers.get("content-type") or "text/plain; charset=utf-8"
    return Response(output, status_code=200, headers=headers, media_type=media_type)


async def job(request: Request) -> Response:
    """201 with an empty body: OSCAR returns no job id."""
    caller, service = await invoker(request)
    body = await read_body(request)
    cluster_of(request).jobs.submit(service, body, owner=caller.sub)
    return empty(201)


routes = [
    Route("/run/{name}", run, methods=["POST"]),
    Route("/job/{name}", job, methods=["POST"]),
]

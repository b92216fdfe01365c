"""What every route needs: the cluster, the caller, a bounded request body."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from oscar_local.auth import Caller
from oscar_local.cluster import Cluster
from oscar_local.errors import PayloadTooLarge, Unauthorized


def cluster_of(request: Request) -> Cluster:
    cluster: Cluster = request.app.state.cluster
    return cluster


async def system_caller(request: Request) -> Caller:
    header = request.headers.get("authorization")
    if not header:
        raise Unauthorized()
    return await cluster_of(request).auth.system_caller(header)


async def read_body(request: Request) -> bytes:
    """The body, or 413 once it passes the size limit (checked while reading)."""
    limit = cluster_of(request).config.max_body_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"request body larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def empty(status: int) -> Response:
    return Response(status_code=status)


def path_param(request: Request, name: str) -> str:
    value: Any = request.path_params[name]
    return str(value)

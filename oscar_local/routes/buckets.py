"""``/system/buckets``: list, create, update, browse, delete and presign (oscar-api.md §2)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oscar_local.auth import Caller
from oscar_local.errors import BadRequest, Forbidden, NotFound
from oscar_local.fdl import VISIBILITIES, parse_json_body
from oscar_local.routes.common import cluster_of, empty, path_param, read_body, system_caller
from oscar_local.services import can_read, can_write
from oscar_local.store import BucketRecord

PAGE_SIZE = 70  # OSCAR lists bucket objects 70 a page
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")


def _as_service(record: BucketRecord) -> dict[str, Any]:
    return {
        "owner": record.owner,
        "visibility": record.visibility,
        "allowed_users": record.allowed_users,
    }


def _bucket_json(record: BucketRecord) -> dict[str, Any]:
    return {
        "bucket_name": record.name,
        "visibility": record.visibility,
        "allowed_users": record.allowed_users,
        "owner": record.owner,
        "metadata": {"service": record.service} if record.service else {},
    }


def _readable(request: Request, caller: Caller, name: str) -> BucketRecord:
    record = cluster_of(request).store.bucket(name)
    if record is None:
        raise NotFound(f"bucket '{name}' not found")
    if not can_read(caller, _as_service(record)):
        raise Forbidden(f"no access to bucket '{name}'")
    return record


def _definition(document: dict[str, Any]) -> tuple[str, str, list[str]]:
    name = document.get("bucket_name")
    if not isinstance(name, str) or not _BUCKET_NAME.match(name):
        raise BadRequest("invalid or missing 'bucket_name'")
    visibility = document.get("visibility") or "private"
    if visibility not in VISIBILITIES:
        raise BadRequest(f"invalid visibility '{visibility}'")
    return name, visibility, [str(u) for u in document.get("allowed_users") or []]


async def list_buckets(request: Request) -> Response:
    """Buckets the caller may see."""
    caller = await system_caller(request)
    records = cluster_of(request).store.buckets()
    return JSONResponse([_bucket_json(r) for r in records if can_read(caller, _as_service(r))])


async def create_bucket(request: Request) -> Response:
    """201; the caller owns the new bucket."""
    caller = await system_caller(request)
    name, visibility, allowed = _definition(parse_json_body(await read_body(request)))
    cluster = cluster_of(request)
    if cluster.store.bucket(name) is not None or await anyio.to_thread.run_sync(
        cluster.storage.bucket_exists, name
    ):
        raise BadRequest(f"the bucket '{name}' already exists")
    await anyio.to_thread.run_sync(cluster.storage.create_bucket, name)
    cluster.store.put_bucket(BucketRecord(name, caller.sub, visibility, allowed, None))
    return empty(201)


async def update_bucket(request: Request) -> Response:
    """Change visibility or allowed users; owner only."""
    caller = await system_caller(request)
    name, visibility, allowed = _definition(parse_json_body(await read_body(request)))
    cluster = cluster_of(request)
    record = cluster.store.bucket(name)
    if record is None:
        raise NotFound(f"bucket '{name}' not found")
    if not can_write(caller, _as_service(record)):
        raise Forbidden(f"only the owner can change bucket '{name}'")
    cluster.store.put_bucket(BucketRecord(name, record.owner, visibility, allowed, record.service))
    return empty(204)


async def get_bucket(request: Request) -> Response:
    """The bucket's metadata and objects, 70 a page; ``page`` is the continuation token."""
    caller = await system_caller(request)
    record = _readable(request, caller, path_param(request, "bucket"))
    cluster = cluster_of(request)
    objects = await anyio.to_thread.run_sync(cluster.storage.list_objects, record.name, "")
    start = request.query_params.get("page", "")
    remaining = [o for o in objects if o.key > start] if start else objects
    page = remaining[:PAGE_SIZE]
    truncated = len(remaining) > PAGE_SIZE
    listing = [
        {
            "object_name": o.key,
            "size_bytes": o.size,
            "last_modified": o.last_modified.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "owner": record.owner,
        }
        for o in page
    ]
    body = {
        **_bucket_json(record),
        "objects": listing,
        "is_truncated": truncated,
        "next_page": page[-1].key if truncated else "",
        "returned_items": len(page),
    }
    return JSONResponse(body)


async def delete_bucket(request: Request) -> Response:
    """Owner only; removes every object."""
    caller = await system_caller(request)
    cluster = cluster_of(request)
    record = _readable(request, caller, path_param(request, "bucket"))
    if not can_write(caller, _as_service(record)):
        raise Forbidden(f"only the owner can delete bucket '{record.name}'")
    await anyio.to_thread.run_sync(cluster.storage.delete_bucket, record.name)
    cluster.store.delete_bucket(record.name)
    return empty(204)


async def presign(request: Request) -> Response:
    """A URL that needs no S3 client: ``upload`` (PUT) or ``download`` (GET)."""
    caller = await system_caller(request)
    record = _readable(request, caller, path_param(request, "bucket"))
    document = parse_json_body(await read_body(request))
    key, operation = document.get("object_key"), document.get("operation")
    if not isinstance(key, str) or not key or operation not in ("upload", "download"):
        raise BadRequest("'object_key' and 'operation' ('upload' or 'download') are required")
    expires_in = document.get("expires_in") or 900
    if not isinstance(expires_in, int) or not 1 <= expires_in <= 7 * 24 * 3600:
        raise BadRequest("'expires_in' must be between 1 and 604800 seconds")
    content_type = str(document.get("content_type") or "")
    upload = operation == "upload"
    storage = cluster_of(request).storage
    url = await anyio.to_thread.run_sync(
        lambda: storage.presign(
            record.name, key, upload=upload, expires_in=expires_in, content_type=content_type
        )
    )
    expires_at = (datetime.now(UTC) + timedelta(seconds=expires_in)).strftime("%Y-%m-%dT%H:%M:%SZ")
    headers = {"Content-Type": content_type} if upload and content_type else {}
    return JSONResponse(
        {
            "object_key": key,
            "operation": operation,
            "method": "PUT" if upload else "GET",
            "url": url,
            "expires_at": expires_at,
            "headers": headers,
        }
    )


routes = [
    Route("/system/buckets", list_buckets, methods=["GET"]),
    Route("/system/buckets", create_bucket, methods=["POST"]),
    Route("/system/buckets", update_bucket, methods=["PUT"]),
    Route("/system/buckets/{bucket}", get_bucket, methods=["GET"]),
    Route("/system/buckets/{bucket}", delete_bucket, methods=["DELETE"]),
    Route("/system/buckets/{bucket}/presign", presign, methods=["POST"]),
]

"""``/system/services``: list, create, update, read, delete (oscar-api.md §2-3)."""

from __future__ import annotations

import anyio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from oscar_local.errors import HttpError
from oscar_local.fdl import parse_json_body
from oscar_local.routes.common import cluster_of, empty, path_param, read_body, system_caller


async def list_services(request: Request) -> Response:
    """Only the services the caller may see; ``[]`` when none."""
    caller = await system_caller(request)
    return JSONResponse(cluster_of(request).registry.visible(caller))


async def create_service(request: Request) -> Response:
    """OSCAR answers 201 with an empty body: GET the service to learn its token."""
    caller = await system_caller(request)
    definition = parse_json_body(await read_body(request))
    definition.pop("owner", None)  # set by the server
    cluster = cluster_of(request)
    service = await anyio.to_thread.run_sync(
        lambda: cluster.registry.create(definition, owner=caller.sub)
    )
    cluster.watcher.watch(service)
    return empty(201)


async def update_service(request: Request) -> Response:
    """Full definition; ``name`` selects the service; owner and token are kept."""
    caller = await system_caller(request)
    definition = parse_json_body(await read_body(request))
    cluster = cluster_of(request)
    service = await anyio.to_thread.run_sync(lambda: cluster.registry.update(definition, caller))
    cluster.watcher.watch(service)
    return empty(204)


async def get_service(request: Request) -> Response:
    """The service JSON, with its token, to anyone who may read it."""
    caller = await system_caller(request)
    return JSONResponse(cluster_of(request).registry.readable(caller, path_param(request, "name")))


async def delete_service(request: Request) -> Response:
    """Also deletes its buckets and every object in them, and its jobs."""
    caller = await system_caller(request)
    cluster = cluster_of(request)
    name = path_param(request, "name")
    watched = cluster.watcher.unwatch(name)  # first, so no poll lists a bucket being deleted
    try:
        await anyio.to_thread.run_sync(lambda: cluster.registry.delete(name, caller))
    except HttpError:
        cluster.watcher.restore(name, watched)
        raise
    for job in cluster.store.jobs(name):
        cluster.jobs.cancel(job.name)
        cluster.store.delete_job(job.name)
    return empty(204)


routes = [
    Route("/system/services", list_services, methods=["GET"]),
    Route("/system/services", create_service, methods=["POST"]),
    Route("/system/services", update_service, methods=["PUT"]),
    Route("/system/services/{name}", get_service, methods=["GET"]),
    Route("/system/services/{name}", delete_service, methods=["DELETE"]),
]

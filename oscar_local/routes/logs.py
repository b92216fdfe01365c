"""``/system/logs``: the jobs of a service, their logs, and deleting them (oscar-api.md §2)."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from oscar_local.errors import NotFound
from oscar_local.routes.common import cluster_of, empty, path_param, system_caller
from oscar_local.store import JobRecord

_FINISHED_ON_PLAIN_DELETE = ("Succeeded",)  # without all=true OSCAR removes only succeeded jobs


async def _service(request: Request) -> dict[str, Any]:
    caller = await system_caller(request)
    try:
        return cluster_of(request).registry.readable(caller, path_param(request, "name"))
    except NotFound as exc:
        raise NotFound(f"service '{path_param(request, 'name')}' not found") from exc


def _job_json(job: JobRecord) -> dict[str, str]:
    times = {
        "creation_time": job.creation_time,
        "start_time": job.start_time,
        "finish_time": job.finish_time,
    }
    # OSCAR omits unknown times
    return {"status": job.status, **{k: v for k, v in times.items() if v}}


async def list_jobs(request: Request) -> Response:
    """The v3.6.4+ shape: ``{"jobs": {...}, "next_page", "remaining_jobs"}``."""
    service = await _service(request)
    jobs = cluster_of(request).store.jobs(service["name"])
    return JSONResponse(
        {"jobs": {j.name: _job_json(j) for j in jobs}, "next_page": "", "remaining_jobs": 0}
    )


async def delete_jobs(request: Request) -> Response:
    """Succeeded jobs, or every job with ``all=true``."""
    service = await _service(request)
    everything = request.query_params.get("all", "").lower() == "true"
    cluster = cluster_of(request)
    for job in cluster.store.jobs(service["name"]):
        if everything or job.status in _FINISHED_ON_PLAIN_DELETE:
            cluster.jobs.cancel(job.name)
            cluster.store.delete_job(job.name)
    return empty(204)


async def _job(request: Request) -> JobRecord:
    service = await _service(request)
    job = cluster_of(request).store.job(service["name"], path_param(request, "job"))
    if job is None:
        raise NotFound(f"job '{path_param(request, 'job')}' not found")
    return job


async def job_log(request: Request) -> Response:
    """The job's log as text; 404 while it has no pod (still Pending), as OSCAR does."""
    job = await _job(request)
    if job.status == "Pending":
        raise NotFound(f"job '{job.name}' has no pod yet")
    return PlainTextResponse(job.log)


async def delete_job(request: Request) -> Response:
    """Stop the job if it runs and forget it."""
    job = await _job(request)
    cluster = cluster_of(request)
    cluster.jobs.cancel(job.name)
    cluster.store.delete_job(job.name)
    return empty(204)


routes = [
    Route("/system/logs/{name}", list_jobs, methods=["GET"]),
    Route("/system/logs/{name}", delete_jobs, methods=["DELETE"]),
    Route("/system/logs/{name}/{job}", job_log, methods=["GET"]),
    Route("/system/logs/{name}/{job}", delete_job, methods=["DELETE"]),
]

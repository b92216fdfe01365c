"""The REST API (``/api/v1``), its OpenAPI docs, and the embedding and limit wiring.

``install_api(app, settings)`` adds the routes, ``/api/v1/docs`` and
``/api/v1/openapi.json`` (only the API's own routes; the app's top-level docs
stay off), the embed routes, the ``/oscar`` passthrough, CORS/CSP and the
body-size limit.  ``api_lifespan(app, settings)`` opens the job store and the
job follower (which resumes unfinished jobs) for the app's lifetime.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import httpx
from fastapi import APIRouter, FastAPI, Request
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse

from core.metrics import Metrics
from core.settings import Settings
from gateway.api import embed, jobs, popup, run, services
from gateway.embed import install_embed
from gateway.jobs import JobStore, open_job_store
from gateway.jobs.follower import JobFollower
from gateway.jobs.leases import open_leases
from gateway.limits import BodyLimitMiddleware, body_limit_for
from gateway.passthrough import install_passthrough
from oscar.client import OscarClient
from oscar.storage import Storage

API_PREFIX = "/api/v1"

router = APIRouter(prefix=API_PREFIX)
router.include_router(services.router)
router.include_router(run.router)
router.include_router(jobs.router)


def _api_routes() -> list[Any]:
    # FastAPI >= 0.16x keeps included routers nested; a fresh parent gives just the API's.
    parent = APIRouter()
    parent.include_router(router)
    return list(parent.routes)


def _openapi(settings: Settings) -> dict[str, Any]:
    """The OpenAPI document of ``/api/v1`` (built once per app by ``_install_docs``)."""
    document = get_openapi(
        title="oscar-gateway REST API",
        version="1",
        description=(
            "Run OSCAR services with one authenticated API: send raw bytes, text or JSON, "
            "get the decoded output back. Authenticate with `Authorization: Bearer <token>` "
            "(an OIDC access token, or a service's token for its own /run) or a session."
        ),
        routes=_api_routes(),
        servers=[{"url": settings.root_path or "/"}],
    )
    document.setdefault("components", {})["securitySchemes"] = {
        "bearer": {"type": "http", "scheme": "bearer"}
    }
    document["security"] = [{"bearer": []}]
    return document


def _install_docs(app: FastAPI, settings: Settings) -> None:
    built: list[dict[str, Any]] = []

    async def openapi_json() -> JSONResponse:
        if not built:
            built.append(_openapi(settings))
        return JSONResponse(built[0])

    async def docs(request: Request) -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url=f"{settings.root_path}{API_PREFIX}/openapi.json",
            title="oscar-gateway REST API",
        )

    app.add_api_route(f"{API_PREFIX}/openapi.json", openapi_json, include_in_schema=False)
    app.add_api_route(f"{API_PREFIX}/docs", docs, include_in_schema=False)


def install_api(app: FastAPI, settings: Settings) -> None:
    """Routes, docs, passthrough, embedding headers and limits of the REST API."""
    app.include_router(router)
    app.include_router(popup.router)  # before /embed/{service}, which would match it
    app.include_router(embed.router)
    _install_docs(app, settings)
    install_passthrough(app, settings)
    app.add_middleware(BodyLimitMiddleware, limit=body_limit_for(settings))
    # After the body limit, so CORS wraps it: a cross-origin caller can read the 413.
    install_embed(app, settings)


@asynccontextmanager
async def open_jobs(
    settings: Settings,
    *,
    oscar: OscarClient,
    storage: Storage,
    http: httpx.AsyncClient,
    metrics: Metrics,
) -> AsyncIterator[tuple[JobStore, JobFollower]]:
    """Job store and follower for the app's lifetime; unfinished jobs are resumed."""
    async with (
        open_job_store(settings) as store,
        open_leases(settings) as leases,
        anyio.create_task_group() as tg,
    ):
        follower = JobFollower(
            store=store,
            oscar=oscar,
            storage=storage,
            http=http,
            settings=settings,
            metrics=metrics,
            task_group=tg,
            leases=leases,
        )
        await follower.resume_unfinished()
        tg.start_soon(follower.keep_taking_over)
        try:
            yield store, follower
        finally:
            tg.cancel_scope.cancel()

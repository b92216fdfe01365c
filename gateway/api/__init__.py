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
from fastapi import APIRouter, FastAPI

from core.metrics import Metrics
from core.settings import Settings
from gateway.api import embed, jobs, popup, run, services
from gateway.api.docs import API_PREFIX, install_docs
from gateway.embed import install_embed
from gateway.jobs import JobStore, open_job_store
from gateway.jobs.follower import JobFollower
from gateway.jobs.leases import open_leases
from gateway.limits import BodyLimitMiddleware, body_limit_for
from gateway.passthrough import install_passthrough
from oscar.client import OscarClient
from oscar.storage import Storage

router = APIRouter(prefix=API_PREFIX)
router.include_router(services.router)
router.include_router(run.router)
router.include_router(jobs.router)


def _api_routes() -> list[Any]:
    # FastAPI >= 0.16x keeps included routers nested; a fresh parent gives just the API's.
    parent = APIRouter()
    parent.include_router(router)
    return list(parent.routes)


def install_api(app: FastAPI, settings: Settings) -> None:
    """Routes, docs, passthrough, embedding headers and limits of the REST API."""
    app.include_router(router)
    app.include_router(popup.router)  # before /embed/{service}, which would match it
    app.include_router(embed.router)
    install_docs(app, settings, _api_routes())
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

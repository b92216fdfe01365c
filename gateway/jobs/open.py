"""Pick and open the configured job store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from core.settings import Settings
from gateway.jobs.models import JobStore


@asynccontextmanager
async def open_job_store(settings: Settings) -> AsyncIterator[JobStore]:
    """The job store of ``settings.jobs.backend``, closed on exit."""
    store: JobStore
    if settings.jobs.backend == "redis":
        from gateway.jobs.redis import RedisJobStore

        store = RedisJobStore(settings.jobs.redis_url)
    else:
        from gateway.jobs.sqlite import SqliteJobStore

        store = SqliteJobStore(str(settings.jobs_sqlite_path))
    try:
        yield store
    finally:
        await store.close()

"""Pick and open the configured job store."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from gateway.jobstore.models import JobStore
from gateway.settings import JobSettings


@asynccontextmanager
async def open_job_store(settings: JobSettings) -> AsyncIterator[JobStore]:
    """The job store of ``settings.backend``, closed on exit."""
    store: JobStore
    if settings.backend == "redis":
        from gateway.jobstore.redis import RedisJobStore

        store = RedisJobStore(settings.redis_url)
    else:
        from gateway.jobstore.sqlite import SqliteJobStore

        store = SqliteJobStore(settings.sqlite_path)
    try:
        yield store
    finally:
        await store.close()

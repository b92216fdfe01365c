"""Asynchronous jobs: a bounded pool, statuses and logs as OSCAR's ``/system/logs`` shows them."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import UTC, datetime
from typing import Any

from oscar_local.storage import Storage
from oscar_local.store import JobRecord, Store
from oscar_local.supervisor import run_job

log = logging.getLogger("oscar_local.jobs")
# per-service job time limit: a local extension, read from the service's annotations
DEFAULT_TIMEOUT_ANNOTATION = "oscar-local/timeout-seconds"


def now_rfc3339() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class JobManager:
    """At most ``workers`` jobs run at once; the rest wait ``Pending``."""

    def __init__(
        self, store: Store, storage: Storage, *, workers: int, default_timeout: float
    ) -> None:
        self._store = store
        self._storage = storage
        self._slots = asyncio.Semaphore(workers)
        self._default_timeout = default_timeout
        self._tasks: dict[str, asyncio.Task[None]] = {}

    def submit(self, service: dict[str, Any], body: bytes, *, owner: str) -> str:
        """Record a Pending job and start it when a worker is free; returns its name."""
        name = f"{service['name']}-{uuid.uuid4()}"  # OSCAR names jobs <service>-<uuid4>
        self._store.insert_job(JobRecord(name, service["name"], owner, "Pending", now_rfc3339()))
        task = asyncio.get_running_loop().create_task(self._run(service, name, body))
        self._tasks[name] = task
        task.add_done_callback(lambda _: self._tasks.pop(name, None))
        return name

    def timeout_for(self, service: dict[str, Any]) -> float:
        value = (service.get("annotations") or {}).get(DEFAULT_TIMEOUT_ANNOTATION)
        try:
            return float(value) if value else self._default_timeout
        except ValueError:
            return self._default_timeout

    async def _run(self, service: dict[str, Any], name: str, body: bytes) -> None:
        async with self._slots:
            self._store.update_job(name, status="Running", start_time=now_rfc3339())
            try:
                outcome = await run_job(
                    service,
                    body,
                    self._storage,
                    limit_seconds=self.timeout_for(service),
                    emit=lambda text: self._store.append_log(name, text),
                )
            except asyncio.CancelledError:
                self._store.update_job(name, status="Failed", finish_time=now_rfc3339())
                raise
            status = "Failed" if outcome.failed else "Succeeded"
            self._store.update_job(name, status=status, finish_time=now_rfc3339())
            log.info("job %s %s", name, status)

    def cancel(self, name: str) -> None:
        task = self._tasks.get(name)
        if task is not None:
            task.cancel()

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

"""Job store in one sqlite file (the default): survives restarts of a single gateway."""

from __future__ import annotations

import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import anyio.to_thread

from gateway.jobs.models import FINISHED, JobRecord, apply_changes

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    status TEXT NOT NULL,
    created_at REAL NOT NULL,
    record TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_owner ON jobs (owner, created_at);
CREATE INDEX IF NOT EXISTS jobs_status ON jobs (status);
"""


class SqliteJobStore:
    """sqlite3 from the standard library, each call run in a worker thread under one lock."""

    def __init__(self, path: str | Path) -> None:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(path), check_same_thread=False, isolation_level=None)
        self._lock = threading.Lock()
        # WAL lets a second process (another gateway worker) read while one writes.
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.executescript(_SCHEMA)

    async def _run(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        def work() -> list[tuple[Any, ...]]:
            with self._lock:
                return self._db.execute(sql, args).fetchall()

        return await anyio.to_thread.run_sync(work)

    async def create(self, job: JobRecord) -> None:
        await self._run(
            "INSERT INTO jobs (id, owner, status, created_at, record) VALUES (?, ?, ?, ?, ?)",
            (job.id, job.owner, job.status, job.created_at, json.dumps(job.to_dict())),
        )

    async def get(self, job_id: str) -> JobRecord | None:
        rows = await self._run("SELECT record FROM jobs WHERE id = ?", (job_id,))
        return JobRecord.from_dict(json.loads(rows[0][0])) if rows else None

    async def list_for(self, owner: str, *, limit: int = 100) -> list[JobRecord]:
        rows = await self._run(
            "SELECT record FROM jobs WHERE owner = ? ORDER BY created_at DESC LIMIT ?",
            (owner, limit),
        )
        return [JobRecord.from_dict(json.loads(r[0])) for r in rows]

    async def update(
        self, job_id: str, *, if_unfinished: bool = False, **changes: Any
    ) -> JobRecord | None:
        def work() -> JobRecord | None:
            with self._lock:
                rows = self._db.execute("SELECT record FROM jobs WHERE id = ?", (job_id,))
                row = rows.fetchone()
                if row is None:
                    return None
                current = JobRecord.from_dict(json.loads(row[0]))
                if if_unfinished and current.finished:
                    return None
                job = apply_changes(current, changes)
                self._db.execute(
                    "UPDATE jobs SET status = ?, record = ? WHERE id = ?",
                    (job.status, json.dumps(job.to_dict()), job_id),
                )
                return job

        return await anyio.to_thread.run_sync(work)

    async def delete(self, job_id: str) -> bool:
        def work() -> bool:
            with self._lock:
                return self._db.execute("DELETE FROM jobs WHERE id = ?", (job_id,)).rowcount > 0

        return await anyio.to_thread.run_sync(work)

    async def unfinished(self) -> list[JobRecord]:
        marks = ",".join("?" * len(FINISHED))
        rows = await self._run(
            f"SELECT record FROM jobs WHERE status NOT IN ({marks}) ORDER BY created_at",  # noqa: S608
            tuple(sorted(FINISHED)),
        )
        return [JobRecord.from_dict(json.loads(r[0])) for r in rows]

    async def close(self) -> None:
        with self._lock:
            self._db.close()

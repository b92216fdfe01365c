"""SQLite persistence of services (with their tokens), buckets, user keys and job records."""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

_SCHEMA = """
CREATE TABLE IF NOT EXISTS services (name TEXT PRIMARY KEY, definition TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY, owner TEXT NOT NULL, visibility TEXT NOT NULL,
    allowed_users TEXT NOT NULL, service TEXT
);
CREATE TABLE IF NOT EXISTS user_keys (sub TEXT PRIMARY KEY, secret TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS jobs (
    name TEXT PRIMARY KEY, service TEXT NOT NULL, owner TEXT NOT NULL, status TEXT NOT NULL,
    creation_time TEXT NOT NULL, start_time TEXT, finish_time TEXT, log TEXT NOT NULL DEFAULT ''
);
CREATE INDEX IF NOT EXISTS jobs_by_service ON jobs (service, creation_time);
"""


@dataclass
class JobRecord:
    name: str
    service: str
    owner: str
    status: str
    creation_time: str
    start_time: str | None = None
    finish_time: str | None = None
    log: str = ""


@dataclass
class BucketRecord:
    name: str
    owner: str
    visibility: str
    allowed_users: list[str]
    service: str | None


class Store:
    """One connection shared by the event loop and worker threads, serialised by a lock."""

    def __init__(self, data_dir: Path) -> None:
        data_dir.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(data_dir / "oscar-local.sqlite3", check_same_thread=False)
        self._lock = threading.Lock()
        with self._lock, self._db:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def _query(self, sql: str, args: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
        with self._lock:
            return self._db.execute(sql, args).fetchall()

    def _write(self, sql: str, args: tuple[Any, ...] = ()) -> int:
        with self._lock, self._db:
            return self._db.execute(sql, args).rowcount

    # services -------------------------------------------------------------
    def services(self) -> list[dict[str, Any]]:
        return [
            json.loads(row[0])
            for row in self._query("SELECT definition FROM services ORDER BY name")
        ]

    def service(self, name: str) -> dict[str, Any] | None:
        rows = self._query("SELECT definition FROM services WHERE name = ?", (name,))
        return json.loads(rows[0][0]) if rows else None

    def insert_service(self, definition: dict[str, Any]) -> bool:
        """False when a service of that name exists already."""
        try:
            self._write(
                "INSERT INTO services (name, definition) VALUES (?, ?)",
                (definition["name"], json.dumps(definition)),
            )
        except sqlite3.IntegrityError:
            return False
        return True

    def replace_service(self, definition: dict[str, Any]) -> None:
        self._write(
            "UPDATE services SET definition = ? WHERE name = ?",
            (json.dumps(definition), definition["name"]),
        )

    def delete_service(self, name: str) -> None:
        self._write("DELETE FROM services WHERE name = ?", (name,))

    # buckets --------------------------------------------------------------
    def buckets(self) -> list[BucketRecord]:
        rows = self._query(
            "SELECT name, owner, visibility, allowed_users, service FROM buckets ORDER BY name"
        )
        return [BucketRecord(r[0], r[1], r[2], json.loads(r[3]), r[4]) for r in rows]

    def bucket(self, name: str) -> BucketRecord | None:
        return next((b for b in self.buckets() if b.name == name), None)

    def put_bucket(self, record: BucketRecord) -> None:
        self._write(
            "INSERT OR REPLACE INTO buckets (name, owner, visibility, allowed_users, service)"
            " VALUES (?, ?, ?, ?, ?)",
            (
                record.name,
                record.owner,
                record.visibility,
                json.dumps(record.allowed_users),
                record.service,
            ),
        )

    def delete_bucket(self, name: str) -> None:
        self._write("DELETE FROM buckets WHERE name = ?", (name,))

    # per-user S3 secrets ----------------------------------------------------
    def user_secret(self, sub: str, new_secret: str) -> str:
        """The stored secret of ``sub``, storing ``new_secret`` the first time."""
        with self._lock, self._db:
            self._db.execute(
                "INSERT OR IGNORE INTO user_keys (sub, secret) VALUES (?, ?)", (sub, new_secret)
            )
            row = self._db.execute("SELECT secret FROM user_keys WHERE sub = ?", (sub,)).fetchone()
        return str(row[0])

    # jobs -----------------------------------------------------------------
    def insert_job(self, job: JobRecord) -> None:
        self._write(
            "INSERT INTO jobs (name, service, owner, status, creation_time) VALUES (?, ?, ?, ?, ?)",
            (job.name, job.service, job.owner, job.status, job.creation_time),
        )

    def update_job(self, name: str, **fields: str) -> None:
        columns = ", ".join(f"{key} = ?" for key in fields)
        self._write(f"UPDATE jobs SET {columns} WHERE name = ?", (*fields.values(), name))  # noqa: S608

    def append_log(self, name: str, text: str) -> None:
        self._write("UPDATE jobs SET log = log || ? WHERE name = ?", (text, name))

    def jobs(self, service: str) -> list[JobRecord]:
        rows = self._query(
            "SELECT name, service, owner, status, creation_time, start_time, finish_time, log"
            " FROM jobs WHERE service = ? ORDER BY creation_time, rowid",
            (service,),
        )
        return [JobRecord(*row) for row in rows]

    def job(self, service: str, name: str) -> JobRecord | None:
        return next((j for j in self.jobs(service) if j.name == name), None)

    def delete_job(self, name: str) -> None:
        self._write("DELETE FROM jobs WHERE name = ?", (name,))

    def purge_jobs_before(self, cutoff: str) -> None:
        """Forget jobs created before ``cutoff`` (RFC 3339 strings sort by time)."""
        self._write("DELETE FROM jobs WHERE creation_time < ?", (cutoff,))

    def fail_unfinished_jobs(self, finish_time: str) -> None:
        """Jobs cut short by a restart end Failed: their process died with the server."""
        self._write(
            "UPDATE jobs SET status = 'Failed', finish_time = ?,"
            " log = log || 'oscar-local restarted while this job was unfinished\n'"
            " WHERE status IN ('Pending', 'Running')",
            (finish_time,),
        )

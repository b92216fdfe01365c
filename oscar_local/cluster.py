"""Everything one oscar-local process holds, started and stopped together by the app's lifespan."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import anyio
import httpx

from oscar_local.auth import Authenticator, Caller
from oscar_local.config import ADMIN_OWNER, ServerConfig
from oscar_local.errors import HttpError
from oscar_local.fdl import load_paths
from oscar_local.jobs import JobManager, now_rfc3339
from oscar_local.payloads import minio_event_body
from oscar_local.services import Registry
from oscar_local.storage import Storage
from oscar_local.store import Store
from oscar_local.watcher import BucketWatcher

log = logging.getLogger("oscar_local")
JOB_RETENTION_DAYS = 30


class StartupError(RuntimeError):
    """A ``--services`` definition could not be created: the server does not start."""


class Cluster:
    def __init__(self, config: ServerConfig, http: httpx.AsyncClient) -> None:
        self.config = config
        self.store = Store(config.data_dir)
        self.storage = Storage(config.s3)
        self.auth = Authenticator(
            http,
            username=config.username,
            password=config.password,
            issuers=list(config.oidc_issuers),
        )
        self.registry = Registry(self.store, self.storage)
        self.jobs = JobManager(
            self.store, self.storage, workers=config.workers, default_timeout=config.job_timeout
        )
        self.watcher = BucketWatcher(
            self.storage, self._submit_object, self.registry.get, interval=config.watch_interval
        )
        self._watch_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await anyio.to_thread.run_sync(self.storage.start)
        self.store.fail_unfinished_jobs(now_rfc3339())
        # OSCAR keeps jobs 30 days
        cutoff = datetime.now(UTC) - timedelta(days=JOB_RETENTION_DAYS)
        self.store.purge_jobs_before(cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"))
        for service in self.store.services():
            await anyio.to_thread.run_sync(self.registry.ensure_buckets, service)
            existing = await anyio.to_thread.run_sync(self.watcher.snapshot, service)
            self.watcher.watch(service, existing=existing)
        await self._load_services(list(self.config.services))
        self._watch_task = asyncio.get_running_loop().create_task(self.watcher.run())

    async def stop(self) -> None:
        if self._watch_task is not None:
            self._watch_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch_task
        await self.jobs.close()
        await anyio.to_thread.run_sync(self.storage.stop)
        self.store.close()

    async def _load_services(self, paths: list[Path]) -> None:
        """Create the ``--services`` definitions as the admin, skipping names that exist."""
        for definition in load_paths(paths):
            name = definition.get("name")
            if isinstance(name, str) and self.store.service(name) is not None:
                continue
            # local extension: an FDL may name its owner (demo services private to a user)
            owner = str(definition.pop("owner", None) or ADMIN_OWNER)
            try:
                service = await anyio.to_thread.run_sync(
                    functools.partial(self.registry.create, definition, owner=owner)
                )
            except HttpError as exc:
                raise StartupError(
                    f"cannot create service {name!r} from --services: {exc.message}"
                ) from exc
            self.watcher.watch(service)
            log.info("created service %s (owner %s)", service["name"], owner)

    def _submit_object(self, service: dict[str, Any], bucket: str, key: str) -> None:
        body = minio_event_body(bucket, key, principal=service.get("owner", ADMIN_OWNER))
        self.jobs.submit(service, body, owner=service.get("owner", ADMIN_OWNER))

    def minio_keys(self, caller: Caller) -> tuple[str, str]:
        """Admin: the S3 keys. OIDC user: access key = sub and a stored per-user secret.

        Moto accepts any keys and enforces no per-user bucket policies, so these
        keys reach every bucket; with an external S3 only the configured keys work.
        """
        settings = self.storage.settings
        assert settings is not None
        if caller.is_admin or not self.storage.embedded:
            return settings.access_key, settings.secret_key
        return caller.sub, self.store.user_secret(caller.sub, secrets.token_hex(20))

"""``JobFollower``: submits asynchronous jobs and drives each to a finished state.

A thin driver over ``oscar.protocol`` (the rules shared with the UI's live
runner): the input is uploaded under the protocol's unique key, the job is done
when one of its outputs appears, and its OSCAR job is the one whose log names
the job's uuid.

The submitter's Authorization value is kept sealed (Fernet, key derived from
the session secret) in the job record until the job finishes, so the follower
started in the lifespan resumes unfinished jobs after a restart.  If that
credential has expired, the job waits for its owner's next read, which
refreshes it with the owner's current credentials.

Several replicas (the Redis store): a replica follows a job only under its lease
(``gateway.jobs.leases``), renewed every third of ``jobs.lease_seconds``; every half
of it, each replica takes over the unfinished jobs nobody holds (a dead replica's).
Marking a job finished is a compare-and-set in the store: the replica whose
transition wins delivers the webhook, so it goes out once (at least once across
crashes).
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterable
from typing import Any

import anyio
import httpx
from anyio.abc import TaskGroup
from cryptography.fernet import InvalidToken

from core.errors import GatewayError, InvalidInput, Unauthorized, Unavailable
from core.keys import fernet_for
from core.metrics import Metrics
from core.settings import Settings
from gateway.jobs.leases import Leases, hold
from gateway.jobs.models import JobRecord, JobStore, new_job_id
from gateway.jobs.view import public_view
from gateway.webhooks import deliver
from oscar import protocol
from oscar.client import OscarClient
from oscar.models import JobInfo, StoragePath
from oscar.storage import Storage

log = logging.getLogger("gateway.jobs")


class JobFollower:
    """Submits jobs and follows them; one per app, its task group lives in the lifespan."""

    def __init__(
        self,
        *,
        store: JobStore,
        oscar: OscarClient,
        storage: Storage,
        http: httpx.AsyncClient,
        settings: Settings,
        metrics: Metrics,
        task_group: TaskGroup,
        leases: Leases,
    ) -> None:
        self.store = store
        self.oscar = oscar
        self.storage = storage
        self.http = http
        self.settings = settings
        self.metrics = metrics
        self._tg = task_group
        self.leases = leases
        # Jobs whose sealed credential OSCAR refused here: not retried until it changes.
        self._refused: dict[str, str | None] = {}
        self._following: dict[str, anyio.CancelScope] = {}
        # What is known of each followed job's OSCAR job while it is looked for.
        self._searches: dict[str, protocol.Search] = {}
        self._fernet = fernet_for(settings, "job credentials")

    # --- submission ----------------------------------------------------------------------

    async def submit(
        self,
        *,
        owner: str,
        service: str,
        source: AsyncIterable[bytes],
        filename: str | None,
        content_type: str | None,
        auth: str,
        webhook: str | None = None,
    ) -> JobRecord:
        """Stream ``source`` into the service's input folder and start following the job."""
        described = await self.oscar.get_service(service, auth=auth)
        if not described.input or not described.output:
            raise InvalidInput(
                f"Service {service!r} has no input or output folder, so it cannot run as a job. "
                "Use POST /api/v1/services/{name}/run instead."
            )
        inp, out = described.input[0], described.output[0]
        job_uuid = protocol.new_ident()
        key = protocol.input_key(inp.folder, job_uuid, filename or "input")
        provider = (await self.oscar.system_config(auth=auth)).minio_provider
        job = JobRecord(
            id=new_job_id(),
            owner=owner,
            service=service,
            input_key=f"{inp.bucket}/{key}",
            uuid=job_uuid,
            webhook=webhook,
            output_path=out.path.strip("/ "),
            credential=self._fernet.encrypt(auth.encode()).decode(),
        )
        # Upload first, record after: a failed upload leaves nothing (multipart is aborted).
        await self.storage.upload(provider, inp.bucket, key, source, content_type=content_type)
        # Leased before it is recorded, so no other replica's sweep takes it first.
        leased = await self.leases.take(job.id)
        await self.store.create(job)
        if leased:
            self._start(job.id, auth, leased=True)
        return job

    # --- following -----------------------------------------------------------------------

    def follow(self, job_id: str, auth: str) -> None:
        """Follow ``job_id`` in the background until it finishes, if its lease is free."""
        self._start(job_id, auth, leased=False)

    def _start(self, job_id: str, auth: str, *, leased: bool) -> None:
        if job_id not in self._following:
            scope = anyio.CancelScope()
            self._following[job_id] = scope
            self._tg.start_soon(self._follow, job_id, auth, scope, leased)

    def stop_following(self, job_id: str) -> None:
        scope = self._following.pop(job_id, None)
        if scope is not None:
            scope.cancel()

    async def followed_elsewhere(self, job_id: str) -> bool:
        """Does another replica hold this job's lease (and so follow it)?"""
        holder = await self.leases.holder(job_id)
        return holder is not None and holder != self.leases.replica

    async def resume_unfinished(self) -> int:
        """Follow every unfinished job that still has a usable credential; return how many."""
        resumed = 0
        for job in await self.store.unfinished():
            if job.id in self._following or self._refused.get(job.id, "") == job.credential:
                continue
            auth = self._unseal(job.credential)
            if auth:
                self.follow(job.id, auth)
                resumed += 1
        return resumed

    async def keep_taking_over(self) -> None:
        """With shared leases, every half lease: follow the unfinished jobs nobody holds."""
        if not self.leases.shared:
            return
        while True:
            await anyio.sleep(self.settings.jobs.lease_seconds / 2)
            try:
                await self.resume_unfinished()
            except Exception as exc:  # the sweep outlives a store outage
                log.warning("taking over unfinished jobs failed: %s", exc)

    def _unseal(self, sealed: str | None) -> str | None:
        if not sealed:
            return None
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            # Sealed under another session secret (rotated): wait for the owner's next read.
            return None

    async def _follow(self, job_id: str, auth: str, scope: anyio.CancelScope, leased: bool) -> None:
        try:
            if leased or await self.leases.take(job_id):
                await self._follow_leased(job_id, auth, scope)
        except Exception as exc:  # e.g. the store's Redis down: the sweep resumes it
            log.warning("job %s: following stopped: %s", job_id, exc)
        finally:
            self._following.pop(job_id, None)
            self._searches.pop(job_id, None)

    async def _follow_leased(self, job_id: str, auth: str, scope: anyio.CancelScope) -> None:
        self.metrics.jobs_in_flight.inc()
        try:
            with scope:
                async with anyio.create_task_group() as renewing:
                    renewing.start_soon(hold, self.leases, job_id, scope, self.settings)
                    await self._follow_loop(job_id, auth)
                    renewing.cancel_scope.cancel()
        finally:
            self.metrics.jobs_in_flight.dec()
            with anyio.CancelScope(shield=True):
                await self.leases.release(job_id)

    async def _follow_loop(self, job_id: str, auth: str) -> None:
        while True:
            job = await self.store.get(job_id)
            if job is None or job.finished:
                return
            try:
                job = await self.refresh(job, auth)
            except Unauthorized:
                log.info("job %s: credential no longer accepted; waiting for its owner", job_id)
                self._refused[job_id] = job.credential
                return
            except GatewayError as exc:
                log.warning("job %s: refresh failed: %s", job_id, exc.code)
            if job.finished:
                return
            await anyio.sleep(self.settings.oscar.job_poll_seconds)

    async def refresh(self, job: JobRecord, auth: str) -> JobRecord:
        """Look once at OSCAR and storage and record what changed; returns the new record."""
        if job.finished:
            return job
        outputs, storage_down = await self._outputs_or_outage(job, auth)
        if outputs:
            return await self._finish(job, status="succeeded", output_keys=outputs)
        changes: dict[str, Any] = {}
        info = await self._oscar_job(job, auth)
        if info is not None:
            changes["oscar_job"] = info.name
            if info.status == "Running" and job.status == "queued":
                changes["status"] = "running"
            if info.finished:
                # Outputs are uploaded as the job ends: look once more before calling it failed.
                outputs, storage_down = await self._outputs_or_outage(job, auth)
                if outputs:
                    return await self._finish(
                        job, status="succeeded", output_keys=outputs, **changes
                    )
                error = await self._failure_text(job, info, auth)
                if storage_down is not None:
                    error = f"{storage_down.message} {error}"
                return await self._finish(job, status="failed", error=error, **changes)
        if time.time() - job.created_at > self.settings.oscar.job_timeout_seconds:
            error = (
                f"No output after {self.settings.oscar.job_timeout_seconds:.0f} s; "
                "the job was given up. Check its logs."
            )
            changes.pop("status", None)
            return await self._finish(job, status="failed", error=error, **changes)
        if changes:
            return await self.store.update(job.id, if_unfinished=True, **changes) or job
        return job

    async def _outputs_or_outage(
        self, job: JobRecord, auth: str
    ) -> tuple[list[str], Unavailable | None]:
        """The job's output keys; with storage down, none and the outage, so OSCAR still decides."""
        try:
            return await self._output_keys(job, auth), None
        except Unavailable as exc:
            return [], exc

    async def _output_keys(self, job: JobRecord, auth: str) -> list[str]:
        provider = (await self.oscar.system_config(auth=auth)).minio_provider
        out = [StoragePath(path=job.output_path)]
        found = await protocol.find_outputs(self.storage, provider, out, job.uuid)
        return sorted(f"{path.bucket}/{obj.key}" for path, obj in found)

    async def _oscar_job(self, job: JobRecord, auth: str) -> JobInfo | None:
        listed = await self.oscar.list_all_jobs(job.service, auth=auth)
        search = self._searches.setdefault(
            job.id, protocol.Search(job.service, job.uuid, submitted_at=job.created_at)
        )
        search.job = search.job or job.oscar_job
        return await protocol.find_job(self.oscar, search, listed, auth=auth)

    async def _failure_text(self, job: JobRecord, info: JobInfo, auth: str) -> str:
        try:
            tail = (await self.oscar.job_log(job.service, info.name, auth=auth)).strip()[-1500:]
        except GatewayError:
            tail = ""
        summary = f"OSCAR job {info.name} ended {info.status} without an output."
        return f"{summary} Its log ends:\n{tail}" if tail else summary

    async def _finish(self, job: JobRecord, *, status: str, **changes: Any) -> JobRecord:
        done = await self.store.update(
            job.id, if_unfinished=True, status=status, credential=None, **changes
        )
        if done is None:
            # Gone, or another replica (or request) finished it first and notifies.
            return await self.store.get(job.id) or job
        self._refused.pop(job.id, None)
        outcome = "ok" if status == "succeeded" else "error"
        self.metrics.invocation(job.service, "async", outcome)
        if done.webhook:
            self._tg.start_soon(self._notify, done)
        return done

    async def _notify(self, job: JobRecord) -> None:
        assert job.webhook is not None
        payload = {"event": "job.finished", "job": public_view(job, self.settings)}
        await deliver(self.http, job.webhook, payload, settings=self.settings)

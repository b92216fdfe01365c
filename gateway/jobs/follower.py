"""``JobFollower``: submits asynchronous jobs and drives each to a finished state.

A thin driver over ``oscar.protocol`` (the rules shared with the UI's live
runner): the input is uploaded under the protocol's unique key, the job is done
when one of its outputs appears, and its OSCAR job is the one whose log names
the job's uuid.

The submitter's Authorization value is kept sealed (Fernet, key derived from
the session secret) in the job record until the job finishes, so the follower
started in the lifespan resumes unfinished jobs after a restart.  If that
credential has expired, the job waits for its owner's next read, which
refreshes it with the owner's current credentials.  Webhooks are delivered at
least once.
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
from gateway.jobs.models import JobRecord, JobStore, new_job_id
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
    ) -> None:
        self.store = store
        self.oscar = oscar
        self.storage = storage
        self.http = http
        self.settings = settings
        self.metrics = metrics
        self._tg = task_group
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
        await self.store.create(job)
        self.follow(job.id, auth)
        return job

    # --- following -----------------------------------------------------------------------

    def follow(self, job_id: str, auth: str) -> None:
        """Follow ``job_id`` in the background until it finishes (once per process)."""
        if job_id not in self._following:
            scope = anyio.CancelScope()
            self._following[job_id] = scope
            self._tg.start_soon(self._follow, job_id, auth, scope)

    def stop_following(self, job_id: str) -> None:
        scope = self._following.pop(job_id, None)
        if scope is not None:
            scope.cancel()

    async def resume_unfinished(self) -> int:
        """Follow every unfinished job that still has a usable credential; return how many."""
        resumed = 0
        for job in await self.store.unfinished():
            auth = self._unseal(job.credential)
            if auth:
                self.follow(job.id, auth)
                resumed += 1
        return resumed

    def _unseal(self, sealed: str | None) -> str | None:
        if not sealed:
            return None
        try:
            return self._fernet.decrypt(sealed.encode()).decode()
        except InvalidToken:
            # Sealed under another session secret (rotated): wait for the owner's next read.
            return None

    async def _follow(self, job_id: str, auth: str, scope: anyio.CancelScope) -> None:
        self.metrics.jobs_in_flight.inc()
        try:
            with scope:
                await self._follow_loop(job_id, auth)
        finally:
            self.metrics.jobs_in_flight.dec()
            self._following.pop(job_id, None)
            self._searches.pop(job_id, None)

    async def _follow_loop(self, job_id: str, auth: str) -> None:
        while True:
            job = await self.store.get(job_id)
            if job is None or job.finished:
                return
            try:
                job = await self.refresh(job, auth)
            except Unauthorized:
                log.info("job %s: credential no longer accepted; waiting for its owner", job_id)
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
            return await self.store.update(job.id, **changes) or job
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
        done = await self.store.update(job.id, status=status, credential=None, **changes)
        if done is None:
            return job
        outcome = "ok" if status == "succeeded" else "error"
        self.metrics.invocation(job.service, "async", outcome)
        if done.webhook:
            self._tg.start_soon(self._notify, done)
        return done

    async def _notify(self, job: JobRecord) -> None:
        assert job.webhook is not None
        payload = {"event": "job.finished", "job": public_view(job, self.settings)}
        await deliver(self.http, job.webhook, payload, settings=self.settings)


def public_view(job: JobRecord, settings: Settings) -> dict[str, Any]:
    """What the API shows of a job (never its credential)."""
    base = f"{settings.public_url.rstrip('/')}/api/v1/jobs/{job.id}"
    return {
        "id": job.id,
        "service": job.service,
        "status": job.status,
        "oscar_job": job.oscar_job,
        "input_key": job.input_key,
        "output_keys": job.output_keys,
        "error": job.error,
        "webhook": job.webhook,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "finished_at": job.finished_at,
        "links": {"self": base, "output": f"{base}/output", "logs": f"{base}/logs"},
    }

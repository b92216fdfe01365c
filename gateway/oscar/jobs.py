"""Asynchronous invocation: upload to the input folder, follow the job, fetch the output.

OSCAR keeps no link from an input object or a job to its outputs, and
``/job`` returns no job id (oscar-api.md §2, §5).  So ``JobRunner.invoke``:

1. uploads the input under a unique key ``<input folder>/<uuid>-<safe name>``
   with the caller's own MinIO keys from ``/system/config``;
2. follows ``/system/logs/<service>``: the new job whose log mentions the uuid
   is ours (at ``INFO`` the supervisor logs the key it downloads); its status
   and new log lines are reported;
3. polls the output folders for keys containing the uuid (scripts name their
   output after the input), then downloads them.

Progress is an async iterator of ``JobEvent``: stages ``uploading``,
``queued``, ``running``, ``fetching``, ``done`` (always in that order; ``done``
carries the ``JobResult``) with ``log`` events in between.  A ``Failed`` job
raises UpstreamError with the log tail; no output before the timeout raises
UpstreamTimeout.  Cancelling the consuming task (or closing the iterator)
deletes the input object, and the job record, if the job had not started.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal

import anyio

from gateway.errors import GatewayError, InvalidInput, NotFound, UpstreamError, UpstreamTimeout
from gateway.oscar.client import OscarClient
from gateway.oscar.models import JobList, MinioProvider, Service, StoragePath
from gateway.oscar.payloads import Output, OutputFile, sniff
from gateway.oscar.storage import Source, Storage, StoredObject
from gateway.settings import OscarSettings

Stage = Literal["uploading", "queued", "running", "fetching", "done", "log"]
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")
_LOG_TAIL_LINES = 20
# Polls to wait for an output after the job reports Succeeded (listing can lag the status).
_GRACE_POLLS = 3
# Logs of at most this many unattributed new jobs are read per poll.
_MAX_CANDIDATES = 10


@dataclass(frozen=True)
class JobResult:
    """What an asynchronous invocation produced.

    ``output.kind`` is ``"file"`` with one entry per output object (usually one);
    ``job`` is None when OSCAR's log never named our input (the output still counts).
    """

    service: str
    input_bucket: str
    input_key: str
    job: str | None
    output_keys: list[str]
    output: Output


@dataclass(frozen=True)
class JobEvent:
    """One progress event; ``result`` is set on the final ``done`` event."""

    stage: Stage
    message: str = ""
    job: str | None = None
    result: JobResult | None = None
    # ``bucket/key`` of the uploaded input, on every event.
    input: str = ""


def safe_name(filename: str) -> str:
    """``filename`` reduced to a safe object-key basename (letters, digits, ``._-``)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._") or "input"
    return cleaned[-100:]


def input_key(folder: str, ident: str, filename: str) -> str:
    """The unique key ``<folder>/<ident>-<safe name>`` (no folder: at the bucket root)."""
    name = f"{ident}-{safe_name(filename)}"
    return f"{folder}/{name}" if folder else name


@dataclass
class _Track:
    """State of one invocation while it is followed."""

    service: Service
    provider: MinioProvider
    target: StoragePath
    key: str
    ident: str
    known: set[str]
    job: str | None = None
    status: str = ""
    started: bool = False
    finished: bool = False
    log_lines: list[str] = field(default_factory=list)
    excluded: set[str] = field(default_factory=set)

    def tail(self) -> str:
        return "\n".join(self.log_lines[-_LOG_TAIL_LINES:])

    def event(self, stage: Stage, message: str, result: JobResult | None = None) -> JobEvent:
        where = f"{self.target.bucket}/{self.key}"
        return JobEvent(stage, message, job=self.job, result=result, input=where)


class JobRunner:
    """Runs services asynchronously through their MinIO input folder."""

    def __init__(self, client: OscarClient, storage: Storage, settings: OscarSettings) -> None:
        self.client = client
        self.storage = storage
        self.settings = settings

    async def invoke(
        self,
        service_name: str,
        data: Source,
        *,
        filename: str,
        auth: str,
        timeout_seconds: float | None = None,
        content_type: str | None = None,
        max_output_bytes: int | None = None,
    ) -> AsyncGenerator[JobEvent, None]:
        """Upload ``data`` as ``filename`` to the service's input and yield progress events."""
        timeout = timeout_seconds or self.settings.job_timeout_seconds
        deadline = anyio.current_time() + timeout
        track = await self._prepare(service_name, filename, auth)
        bucket = track.target.bucket
        yield track.event("uploading", f"Uploading {filename} to {bucket}/{track.key}")
        try:
            await self.storage.upload(
                track.provider, bucket, track.key, data, content_type=content_type
            )
            yield track.event("queued", "Waiting for OSCAR to start the job")
            async with aclosing(self._follow(track, auth, deadline, timeout)) as follow:
                async for event in follow:
                    yield event
            yield track.event("fetching", "Downloading the output")
            result = await self._fetch(track, max_output_bytes)
            track.finished = True
            yield track.event("done", f"{len(result.output_keys)} output file(s)", result)
        except BaseException:
            if not track.started and not track.finished:
                await self._clean_up(track, auth)
            raise

    async def run(
        self,
        service_name: str,
        data: Source,
        *,
        filename: str,
        auth: str,
        timeout_seconds: float | None = None,
        on_event: Callable[[JobEvent], Awaitable[None]] | None = None,
    ) -> JobResult:
        """``invoke`` to the end: the result, passing each event to ``on_event``."""
        events = self.invoke(
            service_name, data, filename=filename, auth=auth, timeout_seconds=timeout_seconds
        )
        async with aclosing(events):
            async for event in events:
                if on_event is not None:
                    await on_event(event)
                if event.result is not None:
                    return event.result
        raise UpstreamError("The asynchronous invocation ended without a result.")

    async def _prepare(self, service_name: str, filename: str, auth: str) -> _Track:
        service = await self.client.get_service(service_name, auth=auth)
        if not service.input or not service.output:
            raise InvalidInput(
                f"Service {service_name!r} has no input and output folder: "
                "it cannot be invoked asynchronously. Use a synchronous call."
            )
        provider = (await self.client.system_config(auth=auth)).minio_provider
        known = {job.name for job in (await self._jobs(service_name, auth)).jobs}
        ident = uuid.uuid4().hex
        target = service.input[0]
        key = input_key(target.folder, ident, filename)
        return _Track(service, provider, target, key, ident, known)

    async def _jobs(self, service_name: str, auth: str) -> JobList:
        return await self.client.list_all_jobs(service_name, auth=auth)

    async def _follow(
        self, track: _Track, auth: str, deadline: float, budget: float
    ) -> AsyncGenerator[JobEvent, None]:
        grace = settle = _GRACE_POLLS
        while True:
            jobs = await self._jobs(track.service.name, auth)
            if track.job is None:
                await self._identify(track, jobs, auth)
            if track.job is not None:
                async with aclosing(self._job_progress(track, jobs, auth)) as progress:
                    async for event in progress:
                        yield event
            if await self._outputs(track):
                if not track.started:
                    track.started = True
                    yield track.event("running", "The job is running")
                # Outputs land before the job is marked finished: wait a few polls for
                # its final status and log, but never fail for want of them.
                if track.status in {"Succeeded", "Failed"} or settle <= 0:
                    return
                settle -= 1
                await anyio.sleep(self.settings.job_poll_seconds)
                continue
            if track.status == "Succeeded":
                grace -= 1
                if grace < 0:
                    raise UpstreamError(
                        f"The job {track.job} finished without an output named after "
                        f"{track.key}: the script probably failed.",
                        detail=track.tail() or None,
                    )
            if anyio.current_time() > deadline:
                raise UpstreamTimeout(
                    f"No output for {track.target.bucket}/{track.key} after {budget:.0f} s. "
                    f"The job may still run: see the logs of {track.service.name}.",
                    detail=track.tail() or None,
                )
            await anyio.sleep(self.settings.job_poll_seconds)

    async def _identify(self, track: _Track, jobs: JobList, auth: str) -> None:
        """Find our job: a new one whose log mentions our unique id."""
        candidates = [
            job
            for job in reversed(jobs.jobs)
            if job.name not in track.known and job.name not in track.excluded
        ][:_MAX_CANDIDATES]
        for job in candidates:
            log = await self._log(track.service.name, job.name, auth)
            if track.ident in log:
                track.job = job.name
                return
            if job.finished:
                track.excluded.add(job.name)

    async def _job_progress(
        self, track: _Track, jobs: JobList, auth: str
    ) -> AsyncGenerator[JobEvent, None]:
        assert track.job is not None
        info = jobs.get(track.job)
        track.status = info.status if info else track.status
        if track.status in {"Running", "Succeeded", "Failed"} and not track.started:
            track.started = True
            yield track.event("running", f"Job {track.job} is running")
        lines = (await self._log(track.service.name, track.job, auth)).splitlines()
        for line in lines[len(track.log_lines) :]:
            yield track.event("log", line)
        track.log_lines = lines if len(lines) >= len(track.log_lines) else track.log_lines
        if track.status == "Failed":
            raise UpstreamError(
                f"The job {track.job} failed in OSCAR.", detail=track.tail() or None
            )

    async def _log(self, service_name: str, job: str, auth: str) -> str:
        try:
            return await self.client.job_log(service_name, job, auth=auth)
        except NotFound:
            return ""  # OSCAR: 404 while the job's pod does not exist yet

    async def _outputs(self, track: _Track) -> list[tuple[StoragePath, StoredObject]]:
        found: list[tuple[StoragePath, StoredObject]] = []
        for out in track.service.output:
            prefix = f"{out.folder}/" if out.folder else ""
            objects = await self.storage.list_objects(track.provider, out.bucket, prefix)
            found.extend((out, obj) for obj in objects if track.ident in obj.key)
        return found

    async def _fetch(self, track: _Track, max_bytes: int | None) -> JobResult:
        found = await self._outputs(track)
        files: list[OutputFile] = []
        for out, obj in found:
            data = await self.storage.download(
                track.provider, out.bucket, obj.key, max_bytes=max_bytes
            )
            name = obj.key.rsplit("/", 1)[-1].replace(f"{track.ident}-", "", 1)
            files.append(OutputFile(name, sniff(data), data))
        return JobResult(
            service=track.service.name,
            input_bucket=track.target.bucket,
            input_key=track.key,
            job=track.job,
            output_keys=[f"{out.bucket}/{obj.key}" for out, obj in found],
            output=Output(kind="file", files=files, log=track.log_lines),
        )

    async def _clean_up(self, track: _Track, auth: str) -> None:
        """Remove what a cancelled invocation left before its job started."""
        with anyio.CancelScope(shield=True), anyio.move_on_after(10):
            try:
                await self.storage.delete(track.provider, track.target.bucket, track.key)
                if track.job is not None:
                    await self.client.delete_job(track.service.name, track.job, auth=auth)
            except GatewayError:
                pass  # best effort: the caller already gets the original error

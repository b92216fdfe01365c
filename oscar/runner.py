"""``JobRunner``: one asynchronous invocation followed live, for a UI.

A thin driver over ``oscar.protocol`` (the rules shared with the REST
follower): upload the input under a unique key with the caller's own MinIO
keys, find the job whose log names it, report its status and new log lines,
then fetch the outputs named after the input.

Progress is an async iterator of ``JobEvent``: stages ``uploading``,
``queued``, ``running``, ``fetching``, ``done`` (always in that order; ``done``
carries the ``JobResult``) with ``log`` events in between.  A ``Failed`` job
raises UpstreamError with the log tail; no output before the timeout raises
UpstreamTimeout.  Cancelling the consuming task (or closing the iterator)
deletes the input object, and the job record, if the job had not started.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Awaitable, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import Literal

import anyio

from core.errors import GatewayError, InvalidInput, UpstreamError, UpstreamTimeout
from core.settings import OscarSettings
from oscar import protocol
from oscar.client import OscarClient
from oscar.models import JobList, MinioProvider, Service, StoragePath
from oscar.payloads import Output, OutputFile, sniff
from oscar.storage import Source, Storage, StoredObject

Stage = Literal["uploading", "queued", "running", "fetching", "done", "log"]
_LOG_TAIL_LINES = 20
# Polls to wait for an output after the job reports Succeeded (listing can lag the status).
_GRACE_POLLS = 3


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


@dataclass
class _Track:
    """State of one invocation while it is followed."""

    service: Service
    provider: MinioProvider
    target: StoragePath
    key: str
    search: protocol.Search
    job: str | None = None
    status: str = ""
    started: bool = False
    finished: bool = False
    log_lines: list[str] = field(default_factory=list)

    @property
    def ident(self) -> str:
        return self.search.ident

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
        search = protocol.Search(service.name, protocol.new_ident())
        target = service.input[0]
        key = protocol.input_key(target.folder, search.ident, filename)
        return _Track(service, provider, target, key, search)

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
                if protocol.is_terminal(track.status) or settle <= 0:
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
        """Find our job: a new one whose log mentions our unique id (``oscar.protocol``)."""
        found = await protocol.find_job(self.client, track.search, jobs, auth=auth)
        track.job = found.name if found is not None else None

    async def _job_progress(
        self, track: _Track, jobs: JobList, auth: str
    ) -> AsyncGenerator[JobEvent, None]:
        assert track.job is not None
        info = jobs.get(track.job)
        track.status = info.status if info else track.status
        if (track.status == "Running" or protocol.is_terminal(track.status)) and not track.started:
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
        return await protocol.job_log(self.client, service_name, job, auth=auth)

    async def _outputs(self, track: _Track) -> list[tuple[StoragePath, StoredObject]]:
        return await protocol.find_outputs(
            self.storage, track.provider, track.service.output, track.ident
        )

    async def _fetch(self, track: _Track, max_bytes: int | None) -> JobResult:
        found = await self._outputs(track)
        files: list[OutputFile] = []
        for out, obj in found:
            data = await self.storage.download(
                track.provider, out.bucket, obj.key, max_bytes=max_bytes
            )
            name = protocol.output_name(obj.key, track.ident)
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

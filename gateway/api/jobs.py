"""``/api/v1/.../jobs``: asynchronous invocations, persisted as gateway jobs."""

from __future__ import annotations

import contextlib
import mimetypes
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import JSONResponse, PlainTextResponse, StreamingResponse
from starlette.datastructures import UploadFile

from core.errors import Conflict, GatewayError, InvalidInput, NotFound
from gateway.deps import (
    AppSettings,
    Follower,
    InvokingPerson,
    Oscar,
    OwnedJob,
    Person,
    Storage,
    Store,
)
from gateway.jobs import JobRecord
from gateway.jobs.follower import JobFollower
from gateway.jobs.view import public_view
from gateway.webhooks import checked_address
from oscar.models import StoragePath
from oscar.storage import CHUNK_SIZE

router = APIRouter(tags=["jobs"])

_SUBMIT_DOC = {
    "requestBody": {
        "description": "The input file: the raw body, or a multipart form with a `file` field.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "properties": {"file": {"type": "string", "format": "binary"}},
                    "required": ["file"],
                }
            },
        },
    }
}


async def _upload_chunks(upload: UploadFile) -> AsyncIterator[bytes]:
    while chunk := await upload.read(CHUNK_SIZE):
        yield chunk


async def _input_of(
    request: Request,
) -> tuple[AsyncIterator[bytes], str | None, str | None]:
    """(chunks, filename, content type) of a raw or multipart body, streamed."""
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        # Starlette spools file parts to a temporary file past 1 MB: never whole in memory.
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise InvalidInput("Send the input file in a multipart field named 'file'.")
        return _upload_chunks(upload), upload.filename, upload.content_type
    filename = request.headers.get("x-filename") or request.query_params.get("filename")
    media = content_type.split(";", 1)[0].strip() or None
    return request.stream(), filename, media


@router.post("/services/{name}/jobs", status_code=202, openapi_extra=_SUBMIT_DOC)
async def submit_job(
    name: str,
    request: Request,
    user: InvokingPerson,
    follower: Follower,
    settings: AppSettings,
    webhook: str | None = Query(None, description="URL POSTed a signed body on completion"),
) -> Response:
    """Start an asynchronous job: the input is streamed to the service's input folder."""
    if webhook is not None:
        # Allow-list, port and the addresses the host resolves to, before any upload.
        await checked_address(webhook, settings)
    chunks, filename, content_type = await _input_of(request)
    job = await follower.submit(
        owner=user.sub,
        service=name,
        source=chunks,
        filename=filename,
        content_type=content_type,
        auth=user.authorization,
        webhook=webhook,
    )
    view = public_view(job, settings)
    return JSONResponse(view, status_code=202, headers={"Location": view["links"]["self"]})


@router.get("/jobs")
async def list_jobs(
    user: Person,
    store: Store,
    settings: AppSettings,
    limit: int = Query(100, ge=1, le=1000),
) -> list[dict[str, Any]]:
    """List the caller's jobs, newest first."""
    return [public_view(j, settings) for j in await store.list_for(user.sub, limit=limit)]


async def _fresh(job: JobRecord, user_auth: str, follower: JobFollower) -> JobRecord:
    """``job`` refreshed with the owner's current credentials; the stored state on failure
    or while another replica follows it (that one polls OSCAR, not every reader)."""
    if job.finished or await follower.followed_elsewhere(job.id):
        return job
    try:
        job = await follower.refresh(job, user_auth)
    except GatewayError:
        return job
    if not job.finished:
        follower.follow(job.id, user_auth)
    return job


@router.get("/jobs/{job_id}")
async def get_job(
    job: OwnedJob, user: Person, follower: Follower, settings: AppSettings
) -> dict[str, Any]:
    """Show one of the caller's jobs: status, OSCAR job name when known, output keys."""
    return public_view(await _fresh(job, user.authorization, follower), settings)


@router.get(
    "/jobs/{job_id}/output",
    responses={200: {"content": {"application/octet-stream": {}}, "description": "The output"}},
)
async def get_job_output(
    job: OwnedJob,
    user: Person,
    follower: Follower,
    oscar: Oscar,
    storage: Storage,
    key: str | None = Query(None, description="Which output key, when there are several"),
) -> StreamingResponse:
    """Stream the job's output (the first output key unless ``key`` names another)."""
    job = await _fresh(job, user.authorization, follower)
    if job.status == "failed":
        raise Conflict(f"The job failed, so it has no output: {job.error or 'see its logs'}")
    if job.status != "succeeded":
        raise Conflict(f"The job is {job.status}; its output is not there yet. Try again later.")
    chosen = key or job.output_keys[0]
    if chosen not in job.output_keys:
        raise NotFound(f"The job has no output {chosen!r}; it has {job.output_keys}.")
    path = StoragePath(path=chosen)
    provider = (await oscar.system_config(auth=user.authorization)).minio_provider
    # HEAD first: a missing object must be a 404, not a stream that breaks after the headers.
    size = (await storage.head(provider, path.bucket, path.folder)).size
    media = mimetypes.guess_type(chosen)[0] or "application/octet-stream"
    filename = chosen.rsplit("/", 1)[-1]
    headers = {
        "Content-Length": str(size),
        "Content-Disposition": f'attachment; filename="{filename}"',
    }
    body = storage.iter_download(provider, path.bucket, path.folder)
    return StreamingResponse(body, media_type=media, headers=headers)


@router.get("/jobs/{job_id}/logs", response_class=PlainTextResponse)
async def get_job_logs(job: OwnedJob, user: Person, follower: Follower, oscar: Oscar) -> str:
    """The job's OSCAR log (empty while OSCAR has not started it)."""
    job = await _fresh(job, user.authorization, follower)
    if not job.oscar_job:
        return ""
    try:
        return await oscar.job_log(job.service, job.oscar_job, auth=user.authorization)
    except NotFound:
        return ""


@router.delete("/jobs/{job_id}", status_code=204)
async def delete_job(
    job: OwnedJob, user: Person, follower: Follower, store: Store, oscar: Oscar, storage: Storage
) -> Response:
    """Cancel the job if unfinished and delete it: its record, input, outputs and OSCAR job."""
    follower.stop_following(job.id)
    auth = user.authorization
    provider = (await oscar.system_config(auth=auth)).minio_provider
    for key in [job.input_key, *job.output_keys]:
        path = StoragePath(path=key)
        await storage.delete(provider, path.bucket, path.folder)
    if job.oscar_job:
        # OSCAR keeps jobs 30 days; it may already be gone (oscar-api.md §2).
        with contextlib.suppress(NotFound):
            await oscar.delete_job(job.service, job.oscar_job, auth=auth)
    await store.delete(job.id)
    return Response(status_code=204)

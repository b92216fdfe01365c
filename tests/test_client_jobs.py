"""Asynchronous invocation (oscar/runner.py over oscar/protocol.py) against a real oscar-local."""

from __future__ import annotations

import asyncio
import base64
import io
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from core.errors import InvalidInput, NotFound, UpstreamError, UpstreamTimeout
from core.settings import OscarSettings
from devstack.jwt_issuer import JwtIssuer
from devstack.oscar import LocalOscar
from oscar.client import OscarClient
from oscar.protocol import input_key, safe_name
from oscar.runner import JobEvent, JobRunner
from oscar.storage import Storage

SETTINGS = {"job_timeout_seconds": 60.0, "job_poll_seconds": 0.2}
STAGES = ["uploading", "queued", "running", "fetching", "done"]


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0)) as client:
        yield client


def _runner(http: httpx.AsyncClient, url: str) -> JobRunner:
    settings = OscarSettings(url=url, **SETTINGS)
    return JobRunner(OscarClient(http, settings), Storage(), settings)


def _admin(cluster: LocalOscar) -> str:
    user, password = cluster.admin_auth
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def _png() -> bytes:
    buffer = io.BytesIO()
    image = Image.new("RGB", (32, 32))
    for x in range(32):
        for y in range(32):
            image.putpixel((x, y), (x * 8, 255 - y * 8, 90))
    image.save(buffer, format="PNG")
    return buffer.getvalue()


async def _async_service(oscar: OscarClient, auth: str, script: str, **extra: Any) -> str:
    name = f"job-{uuid.uuid4().hex[:8]}"
    definition = {
        "name": name,
        "image": "alpine",
        "script": script,
        "input": [{"storage_provider": "minio.default", "path": f"{name}/in"}],
        "output": [{"storage_provider": "minio.default", "path": f"{name}/out"}],
        **extra,
    }
    await oscar.create_service(definition, auth=auth)
    return name


def test_unique_keys_keep_a_safe_original_name() -> None:
    assert safe_name("../../etc/pass wd.png") == "pass_wd.png"
    assert safe_name("") == "input"
    assert input_key("in", "abc", "photo one.jpg") == "in/abc-photo_one.jpg"
    assert input_key("", "abc", "x.png") == "abc-x.png"


@pytest.mark.anyio
async def test_grayify_round_trip_reports_stages_and_fetches_the_gray_image(
    http: httpx.AsyncClient, local_oscar: LocalOscar, jwt_issuer: JwtIssuer
) -> None:
    runner = _runner(http, local_oscar.url)
    auth = f"Bearer {jwt_issuer.sign({'sub': 'alice'})}"
    events: list[JobEvent] = [
        event
        async for event in runner.invoke("grayify", _png(), filename="my photo.png", auth=auth)
    ]
    assert [e.stage for e in events if e.stage != "log"] == STAGES
    result = events[-1].result
    assert result is not None
    [output] = result.output.files
    assert output.name.endswith("my_photo.png")
    assert output.content_type == "image/png"
    gray = Image.open(io.BytesIO(output.data))
    assert gray.mode == "L"
    assert gray.tobytes() == Image.open(io.BytesIO(_png())).convert("L").tobytes()
    ident = result.input_key.split("/")[-1].split("-")[0]
    assert all(ident in key for key in result.output_keys)

    # The job is ours and its log and record are reachable through the client's helpers.
    assert result.job is not None and result.job.startswith("grayify-")
    assert any(e.stage == "log" and ident in e.message for e in events)
    jobs = await runner.client.list_jobs("grayify", auth=auth)
    assert jobs.get(result.job) is not None
    assert result.input_key in await runner.client.job_log("grayify", result.job, auth=auth)
    await runner.client.delete_job("grayify", result.job, auth=auth)
    assert (await runner.client.list_all_jobs("grayify", auth=auth)).get(result.job) is None


@pytest.mark.anyio
async def test_script_failure_without_output_raises_with_the_log_tail(
    http: httpx.AsyncClient, local_oscar: LocalOscar
) -> None:
    runner = _runner(http, local_oscar.url)
    admin = _admin(local_oscar)
    name = await _async_service(
        runner.client, admin, "#!/bin/sh\necho 'cannot read this input' >&2\nexit 2\n"
    )
    try:
        with pytest.raises(UpstreamError) as caught:
            await runner.run(name, b"not an image", filename="x.bin", auth=admin)
        assert "cannot read this input" in (caught.value.detail or "")
    finally:
        await runner.client.delete_service(name, auth=admin)


@pytest.mark.anyio
async def test_no_output_in_time_is_upstream_timeout(
    http: httpx.AsyncClient, local_oscar: LocalOscar
) -> None:
    runner = _runner(http, local_oscar.url)
    admin = _admin(local_oscar)
    script = '#!/bin/sh\nsleep 20\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/"\n'
    name = await _async_service(
        runner.client, admin, script, annotations={"oscar-local/timeout-seconds": "25"}
    )
    try:
        with pytest.raises(UpstreamTimeout) as caught:
            await runner.run(name, b"data", filename="slow.txt", auth=admin, timeout_seconds=1.5)
        assert "slow.txt" in caught.value.message
    finally:
        await runner.client.delete_service(name, auth=admin)


@pytest.mark.anyio
async def test_cancel_before_the_job_starts_removes_the_input(
    http: httpx.AsyncClient, local_oscar_factory: Any, tmp_path: Path
) -> None:
    # One worker, kept busy by a first job: the second upload stays Pending.
    cluster = local_oscar_factory(data_dir=tmp_path / "one", extra_args=["--workers", "1"])
    runner = _runner(http, cluster.url)
    admin = _admin(cluster)
    script = '#!/bin/sh\nsleep 8\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/"\n'
    name = await _async_service(runner.client, admin, script)
    busy = asyncio.create_task(runner.run(name, b"first", filename="first.txt", auth=admin))
    await _wait_for_status(runner.client, name, admin, "Running")

    seen: list[JobEvent] = []

    async def second() -> None:
        async for event in runner.invoke(name, b"second", filename="second.txt", auth=admin):
            seen.append(event)

    task = asyncio.create_task(second())
    while not any(e.stage == "queued" for e in seen):
        await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task

    # Closing the iterator early (a client that goes away) cleans up the same way.
    third = runner.invoke(name, b"third", filename="third.txt", auth=admin)
    async for event in third:
        if event.stage == "queued":
            break
    await third.aclose()

    bucket, key = seen[0].input.split("/", 1)
    provider = (await runner.client.system_config(auth=admin)).minio_provider
    keys = [o.key for o in await runner.storage.list_objects(provider, bucket, "in/")]
    assert key not in keys
    assert not any("third.txt" in k for k in keys)
    assert any("first.txt" in k for k in keys)
    assert (await busy).output.files[0].data == b"first"


async def _wait_for_status(oscar: OscarClient, name: str, auth: str, status: str) -> None:
    for _ in range(200):
        if any(job.status == status for job in (await oscar.list_jobs(name, auth=auth)).jobs):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"no {status} job of {name}")


@pytest.mark.anyio
async def test_presigned_urls_upload_and_download_without_s3_keys(
    http: httpx.AsyncClient, local_oscar: LocalOscar
) -> None:
    runner = _runner(http, local_oscar.url)
    admin = _admin(local_oscar)
    key = f"scratch/{uuid.uuid4().hex}.txt"
    put = await runner.client.presign("grayify", key, "upload", auth=admin, expires_in=120)
    uploaded = await http.request(
        put.method or "PUT", put.url, content=b"via presign", headers=put.headers
    )
    assert uploaded.is_success
    get = await runner.client.presign("grayify", key, "download", auth=admin)
    assert (await http.get(get.url)).content == b"via presign"


@pytest.mark.anyio
async def test_submit_job_then_list_read_and_delete_jobs(
    http: httpx.AsyncClient, local_oscar: LocalOscar
) -> None:
    runner = _runner(http, local_oscar.url)
    admin = _admin(local_oscar)
    oscar = runner.client
    name = await _async_service(oscar, admin, '#!/bin/sh\necho "got $(cat "$INPUT_FILE_PATH")"\n')
    try:
        token = (await oscar.get_service(name, auth=admin)).token
        # /job answers 201 with no job id (oscar-api.md §2): the job shows up in the list.
        await oscar.submit_job(name, base64.b64encode(b"direct"), auth=f"Bearer {token}")
        await _wait_for_status(oscar, name, admin, "Succeeded")
        [job] = (await oscar.list_jobs(name, auth=admin)).jobs
        assert job.name.startswith(f"{name}-") and job.finished
        assert "got direct" in await oscar.job_log(name, job.name, auth=admin)
        await oscar.delete_jobs(name, auth=admin)
        assert (await oscar.list_jobs(name, auth=admin)).jobs == []
        with pytest.raises(NotFound):
            await oscar.job_log(name, job.name, auth=admin)
    finally:
        await oscar.delete_service(name, auth=admin)


@pytest.mark.anyio
async def test_failed_job_raises_with_the_supervisor_log(
    http: httpx.AsyncClient, local_oscar: LocalOscar
) -> None:
    runner = _runner(http, local_oscar.url)
    admin = _admin(local_oscar)
    # oscar-local kills a job at its service's limit and marks it Failed.
    name = await _async_service(
        runner.client,
        admin,
        "#!/bin/sh\nsleep 10\n",
        annotations={"oscar-local/timeout-seconds": "1"},
    )
    try:
        with pytest.raises(UpstreamError) as caught:
            await runner.run(name, b"data", filename="doomed.txt", auth=admin)
        assert "failed" in caught.value.message
        assert "doomed.txt" in (caught.value.detail or "")
    finally:
        await runner.client.delete_service(name, auth=admin)


@pytest.mark.anyio
async def test_service_without_folders_cannot_run_asynchronously(
    http: httpx.AsyncClient, local_oscar: LocalOscar, jwt_issuer: JwtIssuer
) -> None:
    runner = _runner(http, local_oscar.url)
    auth = f"Bearer {jwt_issuer.sign({'sub': 'alice'})}"
    with pytest.raises(InvalidInput):
        await runner.run("cowsay", b"moo", filename="moo.txt", auth=auth)

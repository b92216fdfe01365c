"""oscar.storage against a real S3 server (moto in server mode on 127.0.0.1)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.errors import Forbidden, NotFound, PayloadTooLarge, Unavailable
from devstack.processes import free_port
from oscar.models import MinioProvider
from oscar.storage import Storage
from tests.fixtures.client import S3Server

MIB = 1024 * 1024


async def _stream(total: int, chunk: int) -> AsyncIterator[bytes]:
    """Deterministic bytes in uneven chunks, produced lazily."""
    sent = 0
    while sent < total:
        size = min(chunk, total - sent)
        yield bytes((sent + i) % 251 for i in range(size))
        sent += size


def _expected(total: int) -> bytes:
    return bytes(i % 251 for i in range(total))


@pytest.mark.anyio
async def test_small_bytes_round_trip_with_list_head_and_delete(s3_server: S3Server) -> None:
    storage = Storage()
    provider, bucket = s3_server.provider, s3_server.bucket
    size = await storage.upload(provider, bucket, "in/a b.txt", b"hello", content_type="text/plain")
    assert size == 5
    assert await storage.download(provider, bucket, "in/a b.txt") == b"hello"
    assert [(o.key, o.size) for o in await storage.list_objects(provider, bucket, "in/")] == [
        ("in/a b.txt", 5)
    ]
    assert (await storage.head(provider, bucket, "in/a b.txt")).size == 5
    await storage.delete(provider, bucket, "in/a b.txt")
    assert await storage.list_objects(provider, bucket) == []


@pytest.mark.anyio
async def test_async_stream_upload_uses_parts_and_downloads_in_chunks(s3_server: S3Server) -> None:
    storage = Storage()
    provider, bucket = s3_server.provider, s3_server.bucket
    total = 11 * MIB + 123  # three 5 MiB parts: two full, one short
    size = await storage.upload(
        provider, bucket, "big.bin", _stream(total, 300_000), part_size=5 * MIB
    )
    assert size == total
    chunks = [c async for c in storage.iter_download(provider, bucket, "big.bin", chunk_size=MIB)]
    assert max(len(c) for c in chunks) <= MIB
    assert b"".join(chunks) == _expected(total)


@pytest.mark.anyio
async def test_file_upload_and_download_to_file(s3_server: S3Server, tmp_path: Path) -> None:
    storage = Storage()
    provider, bucket = s3_server.provider, s3_server.bucket
    source = tmp_path / "in.bin"
    data = os.urandom(6 * MIB)
    source.write_bytes(data)
    assert await storage.upload(provider, bucket, "f.bin", source, part_size=5 * MIB) == len(data)
    target = tmp_path / "out.bin"
    assert await storage.download_to(provider, bucket, "f.bin", target) == len(data)
    assert target.read_bytes() == data


@pytest.mark.anyio
async def test_failed_stream_leaves_no_object(s3_server: S3Server) -> None:
    storage = Storage()

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (5 * MIB)
        raise OSError("client went away")

    with pytest.raises(OSError, match="client went away"):
        await storage.upload(
            s3_server.provider, s3_server.bucket, "half.bin", broken(), part_size=5 * MIB
        )
    assert await storage.list_objects(s3_server.provider, s3_server.bucket) == []


@pytest.mark.anyio
async def test_missing_key_is_not_found(s3_server: S3Server) -> None:
    with pytest.raises(NotFound):
        await Storage().download(s3_server.provider, s3_server.bucket, "nope")


@pytest.mark.anyio
async def test_missing_bucket_is_not_found(s3_server: S3Server) -> None:
    with pytest.raises(NotFound):
        await Storage().list_objects(s3_server.provider, "no-such-bucket-here")


@pytest.mark.anyio
async def test_download_over_the_limit_is_payload_too_large(s3_server: S3Server) -> None:
    storage = Storage()
    await storage.upload(s3_server.provider, s3_server.bucket, "k", b"0123456789")
    with pytest.raises(PayloadTooLarge):
        await storage.download(s3_server.provider, s3_server.bucket, "k", max_bytes=4)


@pytest.mark.anyio
async def test_unreachable_endpoint_is_unavailable() -> None:
    provider = MinioProvider(
        endpoint=f"http://127.0.0.1:{free_port()}", access_key="a", secret_key="b"
    )
    with pytest.raises(Unavailable):
        await Storage(connect_timeout=1).list_objects(provider, "any")


def test_forbidden_codes_are_mapped() -> None:
    # moto accepts any key, so AccessDenied is checked against the code table directly.
    from botocore.exceptions import ClientError

    from oscar.storage import s3_errors

    async def attempt() -> None:
        async with s3_errors("object b/k"):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, "GetObject")

    import anyio

    with pytest.raises(Forbidden):
        anyio.run(attempt)


@pytest.mark.anyio
async def test_endpoint_override_replaces_the_reported_endpoint(s3_server: S3Server) -> None:
    # OSCAR may report an in-cluster MinIO name the gateway cannot reach.
    reported = s3_server.provider.model_copy(update={"endpoint": "http://minio.oscar.svc:9000"})
    storage = Storage(endpoint_override=s3_server.provider.endpoint)
    await storage.upload(reported, s3_server.bucket, "via-override", b"ok")
    assert await storage.download(reported, s3_server.bucket, "via-override") == b"ok"

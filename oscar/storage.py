"""``Storage``: the S3 (MinIO) side of OSCAR, with the caller's own keys.

Credentials are per user: ``/system/config`` gives each caller a
``minio_provider`` with their keys (oscar-api.md §5), so every call takes that
``MinioProvider``.  One ``aioboto3.Session`` serves the whole app.  MinIO wants
path-style addressing.  Uploads and downloads stream: nothing is held whole
in memory (multipart upload in ``part_size`` pieces).

botocore errors become domain errors here: NoSuchKey/NoSuchBucket → NotFound,
AccessDenied/bad keys → Forbidden, cannot connect → Unavailable, read timeout
→ UpstreamTimeout, anything else → UpstreamError.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import aioboto3
import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ReadTimeoutError,
)
from botocore.exceptions import (
    ConnectionError as BotoConnectionError,
)

from core.errors import (
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)
from oscar.models import MinioProvider

# S3 multipart parts must be >= 5 MiB except the last one.
PART_SIZE = 8 * 1024 * 1024
CHUNK_SIZE = 1024 * 1024
_NOT_FOUND = {"NoSuchKey", "NoSuchBucket", "NotFound", "404"}
_FORBIDDEN = {"AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch", "403"}

Source = bytes | Path | AsyncIterable[bytes]


@dataclass(frozen=True)
class StoredObject:
    """One object of a bucket listing."""

    key: str
    size: int
    last_modified: datetime | None = None


@asynccontextmanager
async def s3_errors(what: str) -> AsyncIterator[None]:
    """Translate botocore errors raised inside the block into domain errors."""
    try:
        yield
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        detail = f"{what}: {code} {exc}"
        if code in _NOT_FOUND:
            raise NotFound(f"Storage has no {what}.", detail=detail) from exc
        if code in _FORBIDDEN:
            raise Forbidden("Storage refused access.", detail=detail) from exc
        raise UpstreamError("Storage answered with an error.", detail=detail) from exc
    except BotoConnectionError as exc:
        raise Unavailable("Storage (MinIO) cannot be reached.", detail=f"{what}: {exc}") from exc
    except ReadTimeoutError as exc:
        raise UpstreamTimeout("Storage took too long to answer.", detail=f"{what}: {exc}") from exc
    except BotoCoreError as exc:
        raise UpstreamError("Talking to storage failed.", detail=f"{what}: {exc}") from exc


class Storage:
    """S3 operations against OSCAR's MinIO, each with the caller's ``MinioProvider``."""

    def __init__(
        self,
        session: aioboto3.Session | None = None,
        *,
        endpoint_override: str = "",
        connect_timeout: float = 5.0,
        read_timeout: float = 60.0,
    ) -> None:
        self._session = session or aioboto3.Session()
        # When OSCAR reports an endpoint the gateway cannot reach (in-cluster name).
        self._endpoint_override = endpoint_override
        self._config = AioConfig(
            s3={"addressing_style": "path"},
            signature_version="s3v4",
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"max_attempts": 2, "mode": "standard"},
        )

    @asynccontextmanager
    async def client(self, provider: MinioProvider) -> AsyncIterator[Any]:
        """An aiobotocore S3 client for ``provider`` (path-style, its own keys)."""
        endpoint = self._endpoint_override or provider.endpoint
        async with self._session.client(
            "s3",
            endpoint_url=endpoint,
            aws_access_key_id=provider.access_key,
            aws_secret_access_key=provider.secret_key,
            region_name=provider.region,
            verify=provider.verify,
            config=self._config,
        ) as s3:
            yield s3

    async def upload(
        self,
        provider: MinioProvider,
        bucket: str,
        key: str,
        source: Source,
        *,
        content_type: str | None = None,
        part_size: int = PART_SIZE,
    ) -> int:
        """Stream ``source`` (bytes, a file path or async chunks) to ``bucket/key``; return size."""
        extra = {"ContentType": content_type} if content_type else {}
        async with s3_errors(f"object {bucket}/{key}"), self.client(provider) as s3:
            parts = _Parts(_chunks(source).__aiter__(), part_size)
            first = await parts.next()
            if len(first) < part_size:
                # Small enough for one PUT: S3 atomically creates the object (one MinIO event).
                await s3.put_object(Bucket=bucket, Key=key, Body=first, **extra)
                return len(first)
            return await _multipart(s3, bucket, key, first, parts, extra)

    async def iter_download(
        self, provider: MinioProvider, bucket: str, key: str, *, chunk_size: int = CHUNK_SIZE
    ) -> AsyncIterator[bytes]:
        """The object's bytes in chunks, read from S3 as they are consumed."""
        async with s3_errors(f"object {bucket}/{key}"), self.client(provider) as s3:
            response = await s3.get_object(Bucket=bucket, Key=key)
            body = response["Body"]
            async with body:
                while chunk := await body.read(chunk_size):
                    yield chunk

    async def download(
        self, provider: MinioProvider, bucket: str, key: str, *, max_bytes: int | None = None
    ) -> bytes:
        """The whole object; PayloadTooLarge when it exceeds ``max_bytes``."""
        parts: list[bytes] = []
        size = 0
        async for chunk in self.iter_download(provider, bucket, key):
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise PayloadTooLarge(f"{key} is larger than {max_bytes} bytes.")
            parts.append(chunk)
        return b"".join(parts)

    async def download_to(self, provider: MinioProvider, bucket: str, key: str, path: Path) -> int:
        """Stream the object into the file ``path``; return its size."""
        size = 0
        async with await anyio.open_file(path, "wb") as out:
            async for chunk in self.iter_download(provider, bucket, key):
                await out.write(chunk)
                size += len(chunk)
        return size

    async def list_objects(
        self, provider: MinioProvider, bucket: str, prefix: str = ""
    ) -> list[StoredObject]:
        """Every object under ``prefix`` (all pages)."""
        found: list[StoredObject] = []
        async with s3_errors(f"bucket {bucket}"), self.client(provider) as s3:
            paginator = s3.get_paginator("list_objects_v2")
            async for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
                found.extend(
                    StoredObject(item["Key"], int(item.get("Size", 0)), item.get("LastModified"))
                    for item in page.get("Contents", [])
                )
        return found

    async def head(self, provider: MinioProvider, bucket: str, key: str) -> StoredObject:
        """Size and date of one object; NotFound when it does not exist."""
        async with s3_errors(f"object {bucket}/{key}"), self.client(provider) as s3:
            meta = await s3.head_object(Bucket=bucket, Key=key)
        return StoredObject(key, int(meta.get("ContentLength", 0)), meta.get("LastModified"))

    async def delete(self, provider: MinioProvider, bucket: str, key: str) -> None:
        """Delete one object (S3 deletes of a missing key succeed silently)."""
        async with s3_errors(f"object {bucket}/{key}"), self.client(provider) as s3:
            await s3.delete_object(Bucket=bucket, Key=key)


async def _chunks(source: Source) -> AsyncIterator[bytes]:
    if isinstance(source, bytes | bytearray | memoryview):
        yield bytes(source)
    elif isinstance(source, Path):
        async with await anyio.open_file(source, "rb") as handle:
            while chunk := await handle.read(CHUNK_SIZE):
                yield chunk
    else:
        async for chunk in source:
            if chunk:
                yield bytes(chunk)


class _Parts:
    """Regroups arbitrary chunks into parts of exactly ``size`` bytes (the last may be less)."""

    def __init__(self, chunks: AsyncIterator[bytes], size: int) -> None:
        self._chunks = chunks
        self._size = size
        self._carry = b""

    async def next(self) -> bytes:
        buffer = bytearray(self._carry)
        while len(buffer) < self._size:
            try:
                buffer.extend(await self._chunks.__anext__())
            except StopAsyncIteration:
                break
        self._carry = bytes(buffer[self._size :])
        return bytes(buffer[: self._size])


async def _multipart(
    s3: Any,
    bucket: str,
    key: str,
    first: bytes,
    rest: _Parts,
    extra: dict[str, str],
) -> int:
    upload = await s3.create_multipart_upload(Bucket=bucket, Key=key, **extra)
    upload_id = upload["UploadId"]
    done: list[dict[str, Any]] = []
    size = 0
    try:
        part = first
        while part:
            number = len(done) + 1
            answer = await s3.upload_part(
                Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=part
            )
            done.append({"ETag": answer["ETag"], "PartNumber": number})
            size += len(part)
            part = await rest.next()
        await s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": done}
        )
    except BaseException:
        # No half-written object: abort, even when cancelled, then re-raise.
        with anyio.CancelScope(shield=True):
            await s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return size

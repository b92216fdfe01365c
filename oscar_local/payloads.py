"""Request bodies into input files, output folders into response bodies (oscar-api.md §4)."""

from __future__ import annotations

import base64
import binascii
import io
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

from oscar_local.errors import SupervisorError

_WHITESPACE = re.compile(rb"\s+")


@dataclass(frozen=True)
class EventObject:
    """An S3 event body in MinIO's form: the supervisor downloads this object as the input."""

    bucket: str
    key: str
    principal: str | None


@dataclass(frozen=True)
class DecodedBody:
    data: bytes | None = None
    event: EventObject | None = None


def decode_body(body: bytes) -> DecodedBody:
    """JSON object -> its ``json.dumps`` form; MinIO event -> the object; else lenient base64."""
    try:
        document: Any = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError):
        return DecodedBody(data=_base64(body))
    if not isinstance(document, dict):
        # the supervisor only accepts JSON objects; arrays and scalars make it fail
        raise SupervisorError(
            "exit status 1\nthe request body is a JSON value that is not an object\n"
        )
    event = minio_event(document)
    if event is not None:
        return DecodedBody(event=event)
    # the supervisor re-serialises with Python's json.dumps: not byte-identical to the body
    return DecodedBody(data=json.dumps(document).encode())


def _base64(body: bytes) -> bytes:
    try:
        return base64.b64decode(_WHITESPACE.sub(b"", body), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise SupervisorError(
            f"exit status 1\nthe request body is not valid base64: {exc}\n"
        ) from exc


def minio_event(document: dict[str, Any]) -> EventObject | None:
    records = document.get("Records")
    if not isinstance(records, list) or not records or not isinstance(records[0], dict):
        return None
    record = records[0]
    if record.get("eventSource") != "minio:s3":
        return None
    s3 = record.get("s3") or {}
    bucket = (s3.get("bucket") or {}).get("name")
    key = (s3.get("object") or {}).get("key")
    if not isinstance(bucket, str) or not isinstance(key, str):
        return None
    principal = (record.get("requestParameters") or {}).get("principalId")
    # MinIO URL-encodes object keys in its events; STORAGE_OBJECT_KEY is the decoded key
    return EventObject(bucket=bucket, key=unquote_plus(key), principal=principal)


def minio_event_body(bucket: str, key: str, *, principal: str) -> bytes:
    """The event body MinIO would POST for a new object (what the bucket watcher sends itself)."""
    record = {
        "eventVersion": "2.0",
        "eventSource": "minio:s3",
        "eventName": "s3:ObjectCreated:Put",
        "requestParameters": {"principalId": principal},
        "s3": {"bucket": {"name": bucket}, "object": {"key": key}},
    }
    return json.dumps(
        {"EventName": "s3:ObjectCreated:Put", "Key": f"{bucket}/{key}", "Records": [record]}
    ).encode()


def output_files(output_dir: Path) -> list[Path]:
    return sorted(p for p in output_dir.rglob("*") if p.is_file())


def encode_output(output_dir: Path, console: bytes) -> bytes:
    """One file -> base64; several -> base64 zip; none -> stdout+stderr; then a newline."""
    files = output_files(output_dir)
    if len(files) == 1:
        body = base64.b64encode(files[0].read_bytes())
    elif files:
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
            for file in files:
                archive.write(file, file.relative_to(output_dir).as_posix())
        body = base64.b64encode(buffer.getvalue())
    else:
        body = console
    return body + b"\n"

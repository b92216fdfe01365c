"""Request bodies for ``/run`` and ``/job``, and decoding of what ``/run`` returns.

Encoding (oscar-api.md §4): a JSON object is sent as JSON (the script gets its
``json.dumps`` form); bytes and text are base64-encoded, because OSCAR
base64-decodes every other body and fails on raw bytes.

Decoding: ``/run`` answers 200 even when the script fails and echoes our
Content-Type, so only the body tells what came back.  The rule:

1. Supervisor log lines (``<date> <time>,<ms> - <logger> - <LEVEL> - ...``, mixed
   in at ``log_level: INFO``) are moved to ``Output.log``; the trailing newline
   OSCAR always adds is stripped.
2. What is left is text unless it is strict base64 (standard alphabet, padded,
   no spaces; line breaks ignored).
3. Base64 that decodes to a zip → ``kind="zip"`` with the archive's files.
4. Base64 that decodes to a recognised type (magic bytes: png, jpeg, gif, webp,
   wav, mp3, ogg, mp4, webm, pdf) or to printable UTF-8 (text, JSON) → one file.
5. Otherwise it is text if it is short (under 64 characters: plain words like
   ``cafe`` or ``done`` are valid base64 of garbage), else one
   ``application/octet-stream`` file (a long token with no space is not prose).
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import mimetypes
import re
import zipfile
from dataclasses import dataclass, field
from typing import Any, Literal

OutputKind = Literal["file", "zip", "text"]

_LOG_LINE = re.compile(
    r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} - [\w.\-]+ - "
    r"(?:DEBUG|INFO|WARNING|ERROR|CRITICAL) - "
)
_BASE64 = re.compile(r"^[A-Za-z0-9+/]*={0,2}$")
# Shorter undecodable base64 is taken for words, longer for an unknown binary file.
_MIN_OPAQUE_BASE64 = 64
# Refuse to unpack archives larger than this (a zip bomb); they stay one zip file.
MAX_UNZIPPED_BYTES = 512 * 1024 * 1024

_EXTENSIONS = {
    "image/png": ".png",
    "image/jpeg": ".jpg",
    "image/gif": ".gif",
    "image/webp": ".webp",
    "audio/wav": ".wav",
    "audio/mpeg": ".mp3",
    "audio/ogg": ".ogg",
    "video/mp4": ".mp4",
    "video/webm": ".webm",
    "application/zip": ".zip",
    "application/pdf": ".pdf",
    "application/json": ".json",
    "text/plain": ".txt",
    "application/octet-stream": ".bin",
}


@dataclass(frozen=True)
class OutputFile:
    """One file of a service's output, with its type sniffed from its bytes."""

    name: str
    content_type: str
    data: bytes = field(repr=False)

    @property
    def text(self) -> str:
        """The content as text (invalid UTF-8 replaced)."""
        return self.data.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.data)


@dataclass(frozen=True)
class Output:
    """A decoded ``/run`` answer: ``kind`` says whether ``files`` or ``text`` holds it."""

    kind: OutputKind
    files: list[OutputFile] = field(default_factory=list)
    text: str = ""
    log: list[str] = field(default_factory=list)
    # The raw archive when kind == "zip", for a "download all" link.
    archive: bytes | None = field(default=None, repr=False)


def encode_body(data: bytes | str | dict[str, Any]) -> bytes:
    """The ``/run``/``/job`` body for ``data``: JSON for a dict, base64 for bytes and text."""
    if isinstance(data, dict):
        return json.dumps(data).encode()
    raw = data.encode() if isinstance(data, str) else bytes(data)
    return base64.b64encode(raw)


def sniff(data: bytes) -> str:
    """The content type of ``data`` from its magic bytes (or text/JSON/octet-stream)."""
    head = data[:16]
    signatures: tuple[tuple[bool, str], ...] = (
        (head.startswith(b"\x89PNG\r\n\x1a\n"), "image/png"),
        (head.startswith(b"\xff\xd8\xff"), "image/jpeg"),
        (head.startswith((b"GIF87a", b"GIF89a")), "image/gif"),
        (head[:4] == b"RIFF" and head[8:12] == b"WEBP", "image/webp"),
        (head[:4] == b"RIFF" and head[8:12] == b"WAVE", "audio/wav"),
        (head.startswith(b"ID3") or _mpeg_frame(head), "audio/mpeg"),
        (head.startswith(b"OggS"), "audio/ogg"),
        (head[4:8] == b"ftyp", "video/mp4"),
        (head.startswith(b"\x1a\x45\xdf\xa3"), "video/webm"),
        (head.startswith((b"PK\x03\x04", b"PK\x05\x06")), "application/zip"),
        (head.startswith(b"%PDF-"), "application/pdf"),
    )
    for matched, content_type in signatures:
        if matched:
            return content_type
    text = _printable_text(data)
    if text is None:
        return "application/octet-stream"
    return "application/json" if _is_json_document(text) else "text/plain"


def extension_for(content_type: str) -> str:
    """A file extension for ``content_type`` ('.bin' when unknown)."""
    return _EXTENSIONS.get(content_type) or mimetypes.guess_extension(content_type) or ".bin"


def decode_output(raw: bytes, *, name: str = "output") -> Output:
    """Decode a ``/run`` body by the rule in this module's docstring."""
    body, log = _split_log(raw.decode("utf-8", errors="replace"))
    candidate = "".join(body.split("\n")).strip()
    decoded = _strict_b64decode(candidate)
    if decoded is None:
        return Output(kind="text", text=body, log=log)
    content_type = sniff(decoded)
    if content_type == "application/zip":
        files = unzip(decoded)
        if files is not None:
            return Output(kind="zip", files=files, log=log, archive=decoded)
    if content_type == "application/octet-stream" and len(candidate) < _MIN_OPAQUE_BASE64:
        return Output(kind="text", text=body, log=log)
    filename = name + extension_for(content_type)
    return Output(kind="file", files=[OutputFile(filename, content_type, decoded)], log=log)


def unzip(archive: bytes, *, max_bytes: int = MAX_UNZIPPED_BYTES) -> list[OutputFile] | None:
    """The regular files of a zip, types sniffed; None if unreadable or too large."""
    try:
        with zipfile.ZipFile(io.BytesIO(archive)) as zf:
            members = [info for info in zf.infolist() if not info.is_dir()]
            if sum(info.file_size for info in members) > max_bytes:
                return None
            return [_zip_member(zf, info) for info in members]
    except (zipfile.BadZipFile, zipfile.LargeZipFile, EOFError, ValueError, OSError):
        return None


def _zip_member(zf: zipfile.ZipFile, info: zipfile.ZipInfo) -> OutputFile:
    data = zf.read(info)
    content_type = sniff(data)
    if content_type in {"application/octet-stream", "text/plain"}:
        # The name says more than the bytes for e.g. .csv or .svg.
        content_type = mimetypes.guess_type(info.filename)[0] or content_type
    # Archive names are used as display and download names only: drop any path.
    name = info.filename.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1] or "file"
    return OutputFile(name, content_type, data)


def _split_log(text: str) -> tuple[str, list[str]]:
    """(the body without supervisor log lines and trailing newline, the log lines)."""
    lines = text.split("\n")
    log = [line for line in lines if _LOG_LINE.match(line)]
    if not log:
        return _strip_final_newline(text), []
    kept = "\n".join(line for line in lines if not _LOG_LINE.match(line))
    return _strip_final_newline(kept), log


def _strip_final_newline(text: str) -> str:
    # OSCAR always appends one newline (oscar-api.md §4); keep the script's own.
    return text[:-1] if text.endswith("\n") else text


def _strict_b64decode(candidate: str) -> bytes | None:
    if not candidate or len(candidate) % 4 or not _BASE64.match(candidate):
        return None
    try:
        return base64.b64decode(candidate, validate=True)
    except (binascii.Error, ValueError):
        return None


def _mpeg_frame(head: bytes) -> bool:
    # MPEG audio frame sync: 11 set bits, layer bits not 00.
    return len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0 and head[1] & 0x06 != 0


def _printable_text(data: bytes) -> str | None:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(ch) < 32 and ch not in "\t\n\r\f" for ch in text):
        return None
    return text


def _is_json_document(text: str) -> bool:
    stripped = text.strip()
    if not stripped.startswith(("{", "[")):
        return False
    try:
        json.loads(stripped)
    except ValueError:
        return False
    return True

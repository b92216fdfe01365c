"""A tool call's ``arguments`` turned into what the service receives.

Text is sent as text, JSON and forms as a JSON object, files as their bytes.
A file argument is ``{"data": base64, "media_type", "filename"}`` or
``{"url": "https://..."}``: the gateway downloads the URL itself, over https
only, never from a loopback, private or link-local address, and never more
than the size limit (``limits.max_body_bytes``, as on ``POST .../run``).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.errors import InvalidInput, PayloadTooLarge, UpstreamError
from gateway.limits import too_large_message
from gateway.webhooks import system_resolve
from oscar.payloads import extension_for, sniff
from uis.spec import UISpec


@dataclass(frozen=True)
class FileInput:
    data: bytes
    media_type: str
    filename: str


@dataclass(frozen=True)
class Invocation:
    """What to send: ``data`` for ``/run``, or uploaded as ``filename`` for a job."""

    data: bytes | str | dict[str, Any]
    filename: str
    content_type: str | None = None


class Files:
    """Reads file arguments (base64 or an https URL) within ``limit`` bytes."""

    def __init__(self, http: httpx.AsyncClient, limit: int) -> None:
        self.http = http
        self.limit = limit

    async def read(self, value: Any, name: str) -> FileInput:
        if not isinstance(value, dict):
            raise InvalidInput(f"'{name}' must be an object with 'data' (base64) or 'url'.")
        if value.get("url"):
            data = await self._download(str(value["url"]), name)
        elif isinstance(value.get("data"), str):
            data = _base64(value["data"], name)
        else:
            raise InvalidInput(f"'{name}' needs 'data' (base64) or an https 'url'.")
        self._check_size(len(data))
        media = str(value.get("media_type") or sniff(data))
        filename = str(value.get("filename") or f"{name}{extension_for(media)}")
        return FileInput(data, media, filename.replace("/", "_"))

    def _check_size(self, size: int) -> None:
        if size > self.limit:
            raise PayloadTooLarge(too_large_message(self.limit))

    async def _download(self, url: str, name: str) -> bytes:
        await _check_url(url, name)
        chunks: list[bytes] = []
        size = 0
        try:
            async with self.http.stream("GET", url) as response:
                if response.status_code != 200:
                    raise InvalidInput(
                        f"Fetching '{name}' from {url} answered {response.status_code}, not 200."
                    )
                async for chunk in response.aiter_bytes():
                    size += len(chunk)
                    self._check_size(size)
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise UpstreamError(
                f"Could not fetch '{name}' from {url}: {type(exc).__name__}."
            ) from exc
        return b"".join(chunks)


async def _check_url(url: str, name: str) -> None:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.hostname:
        raise InvalidInput(f"'{name}' url must be an https URL, not {url!r}.")
    try:
        addresses = await system_resolve(parts.hostname, parts.port or 443)
    except OSError as exc:
        raise InvalidInput(
            f"The host of '{name}' url ({parts.hostname}) does not resolve."
        ) from exc
    for address in addresses:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
        if not ip.is_global or ip.is_multicast:
            raise InvalidInput(
                f"The host of '{name}' url resolves to {address}, a loopback, private or "
                "reserved address, which this gateway does not fetch from."
            )


def _base64(text: str, name: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise InvalidInput(f"'{name}' data is not valid base64.") from exc


async def invocation(spec: UISpec, arguments: dict[str, Any], files: Files) -> Invocation:
    """The input of a generic (non-DEEPaaS) service from the tool's arguments."""
    if spec.fields:
        return Invocation(dict(arguments), "input.json", "application/json")
    if spec.input == "text":
        text = arguments.get("text")
        if not isinstance(text, str):
            raise InvalidInput("Give the text to send as 'text'.")
        files._check_size(len(text.encode()))
        return Invocation(text, "input.txt", "text/plain")
    if spec.input == "json":
        doc = arguments.get("input")
        if not isinstance(doc, dict):
            raise InvalidInput("Give the JSON object to send as 'input'.")
        return Invocation(doc, "input.json", "application/json")
    file = await files.read(arguments, "input")
    return Invocation(file.data, file.filename, file.media_type)

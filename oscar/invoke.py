"""Synchronous invocation: encode the input, ``POST /run``, decode the answer."""

from __future__ import annotations

from typing import Any

from oscar.client import OscarClient
from oscar.payloads import Output, decode_output, encode_body


async def invoke_sync(
    client: OscarClient,
    service_name: str,
    data: bytes | str | dict[str, Any],
    auth: str,
    *,
    timeout_seconds: float | None = None,
) -> Output:
    """Run ``service_name`` on ``data`` and return its decoded output (file, zip or text).

    A failing script is not an error here: OSCAR answers 200 with its stderr,
    which comes back as ``kind="text"`` (oscar-api.md §4).
    """
    raw = await client.run(
        service_name, encode_body(data), auth=auth, timeout_seconds=timeout_seconds
    )
    return decode_output(raw)

"""``POST /api/v1/services/{name}/run``: synchronous invocation, decoded output out."""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request, Response

from core.errors import GatewayError, NotFound, UpstreamTimeout
from gateway.deps import AppMetrics, InvokingUser, Oscar
from oscar.invoke import invoke_sync
from oscar.payloads import Output, sniff

router = APIRouter(tags=["run"])
# The service label of runs of services that do not exist: never the name a client sent,
# or anyone could add metric series without end.
UNKNOWN_SERVICE = "<unknown>"

_RUN_DOC = {
    "requestBody": {
        "description": "The input: raw bytes (a file), text, or a JSON object.",
        "content": {
            "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
            "text/plain": {"schema": {"type": "string"}},
            "application/json": {"schema": {"type": "object"}},
        },
    },
    "responses": {
        "200": {
            "description": "The output: JSON, an image or other file, a zip of several files, "
            "or the script's text output.",
            "content": {
                "application/json": {},
                "image/*": {},
                "application/zip": {},
                "text/plain": {},
                "application/octet-stream": {},
            },
        }
    },
}


def input_of(body: bytes, content_type: str) -> bytes | str | dict[str, Any]:
    """A JSON object when the body is one (sent as JSON), text for text/*, else raw bytes."""
    media = content_type.split(";", 1)[0].strip().lower()
    if media == "application/json" or media.endswith("+json"):
        try:
            parsed = json.loads(body)
        except ValueError:
            parsed = None
        if isinstance(parsed, dict):
            return parsed
    if media.startswith("text/"):
        return body.decode("utf-8", errors="replace")
    return body


def response_of(output: Output) -> Response:
    """The decoded output with its own Content-Type; nothing left to base64-decode."""
    if output.kind == "zip" and output.archive is not None:
        headers = {"Content-Disposition": 'attachment; filename="output.zip"'}
        return Response(output.archive, media_type="application/zip", headers=headers)
    if output.kind == "file" and output.files:
        file = output.files[0]
        headers = {"Content-Disposition": f'inline; filename="{file.name}"'}
        return Response(file.data, media_type=file.content_type, headers=headers)
    text = output.text.encode()
    # A script printing JSON on stdout comes back as text (oscar-api.md §4): serve it as JSON.
    if sniff(text) == "application/json":
        return Response(text, media_type="application/json")
    return Response(text, media_type="text/plain; charset=utf-8")


@router.post("/services/{name}/run", openapi_extra=_RUN_DOC)
async def run_service(
    name: str, request: Request, user: InvokingUser, oscar: Oscar, metrics: AppMetrics
) -> Response:
    """Run the service synchronously on the request body and return its decoded output."""
    body = await request.body()
    data = input_of(body, request.headers.get("content-type", ""))
    try:
        output = await invoke_sync(oscar, name, data, user.authorization)
    except UpstreamTimeout:
        metrics.invocation(name, "sync", "timeout")
        raise
    except NotFound:
        metrics.invocation(UNKNOWN_SERVICE, "sync", "error")
        raise
    except GatewayError:
        metrics.invocation(name, "sync", "error")
        raise
    metrics.invocation(name, "sync", "ok")
    return response_of(output)

"""A service's output as MCP content, and domain errors as tool errors.

Text stays text (JSON too); images become image content, audio audio content;
any other file, and a zip of several files, an embedded resource with its
bytes (``oscar://<service>/<file name>``).  A ``GatewayError`` becomes a tool
result with ``isError`` and the same message users see in the UIs and the API.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import mcp_types as types

from core.errors import GatewayError
from oscar.payloads import Output, OutputFile

Content = types.TextContent | types.ImageContent | types.AudioContent | types.EmbeddedResource
_TEXT_TYPES = ("text/plain", "application/json")


def file_content(service: str, file: OutputFile) -> Content:
    """One output file as the MCP content of its type."""
    media = file.content_type
    encoded = base64.b64encode(file.data).decode()
    if media.startswith("image/"):
        return types.ImageContent(data=encoded, mime_type=media)
    if media.startswith("audio/"):
        return types.AudioContent(data=encoded, mime_type=media)
    if media in _TEXT_TYPES or media.startswith("text/"):
        return types.TextContent(text=file.text)
    blob = types.BlobResourceContents(
        uri=f"oscar://{service}/{file.name}", mime_type=media, blob=encoded
    )
    return types.EmbeddedResource(resource=blob)


def output_content(service: str, output: Output) -> list[Content]:
    """A decoded ``/run`` answer (or a job's output files) as MCP content."""
    if output.kind == "zip" and output.archive is not None:
        archive = OutputFile("output.zip", "application/zip", output.archive)
        return [file_content(service, archive)]
    if output.kind == "file":
        return [file_content(service, f) for f in output.files]
    return [types.TextContent(text=output.text)]


def json_result(value: Any, *, log: str = "") -> types.CallToolResult:
    """A JSON value (a DEEPaaS prediction) as text and structured content, the log after it."""
    content: list[Content] = [types.TextContent(text=json.dumps(value, indent=2, default=str))]
    if log:
        resource = types.TextResourceContents(uri="oscar://log", mime_type="text/plain", text=log)
        content.append(types.EmbeddedResource(resource=resource))
    structured = value if isinstance(value, dict) else {"result": value}
    return types.CallToolResult(content=list(content), structured_content=structured)


def tool_error(exc: GatewayError) -> types.CallToolResult:
    """A domain error as a tool error the model can read (and tell the user)."""
    return error_result(exc.message)


def error_result(message: str) -> types.CallToolResult:
    return types.CallToolResult(content=[types.TextContent(text=message)], is_error=True)

"""A service as an MCP tool: its name, description and ``inputSchema``.

The schema follows the annotation vocabulary (``uis/spec.py``):
``oscar-gateway/input-schema`` is used as given; ``text`` is ``{"text": string}``
and ``json`` is ``{"input": object}``; file, image, audio and video inputs are
``{"data": base64, "media_type": ..., "filename": ...}`` or ``{"url": https URL}``
(the gateway fetches it).  A DEEPaaS service's schema is its model's predict
arguments (``uis/deepaas``), its file arguments shaped like a file input.
"""

from __future__ import annotations

import json
from typing import Any

import mcp_types as types

from oscar.models import Service
from uis.deepaas import PredictArg, arg_schema
from uis.spec import PREFIX, UISpec

FILE_KINDS = ("image", "audio", "video", "file")
_MEDIA_HINT = {"image": "image/png", "audio": "audio/wav", "video": "video/mp4", "file": ""}


def file_schema(kind: str, description: str = "") -> dict[str, Any]:
    """A file argument: base64 ``data`` with a media type, or an https ``url``."""
    hint = _MEDIA_HINT.get(kind, "")
    return {
        "type": "object",
        "description": description
        or f"The {kind}: base64 'data' with its 'media_type', or an https 'url'.",
        "properties": {
            "data": {
                "type": "string",
                "contentEncoding": "base64",
                "description": f"The {kind}'s bytes, base64-encoded.",
            },
            "media_type": {
                "type": "string",
                "description": f"Its media type{f', e.g. {hint}' if hint else ''}.",
            },
            "filename": {"type": "string", "description": "A file name (optional)."},
            "url": {
                "type": "string",
                "format": "uri",
                "description": "An https URL the gateway downloads instead of 'data'.",
            },
        },
    }


def input_schema(service: Service, spec: UISpec, args: tuple[PredictArg, ...] | None) -> Any:
    """The tool's ``inputSchema`` (always a JSON Schema object)."""
    if args is not None:
        return predict_schema(args)
    if spec.fields:
        given = _given_schema(service)
        if given is not None:
            return given
    if spec.input == "text":
        text = {"type": "string", "description": "The text to send to the service."}
        return {"type": "object", "properties": {"text": text}, "required": ["text"]}
    if spec.input == "json":
        doc = {"type": "object", "description": "The JSON object to send to the service."}
        return {"type": "object", "properties": {"input": doc}, "required": ["input"]}
    return file_schema(spec.input)


def predict_schema(args: tuple[PredictArg, ...]) -> dict[str, Any]:
    """The JSON Schema of a DEEPaaS model's predict arguments."""
    properties = {
        a.name: file_schema(a.kind, a.description) if a.kind in FILE_KINDS else arg_schema(a)
        for a in args
    }
    required = [a.name for a in args if a.required]
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    return schema


def _given_schema(service: Service) -> dict[str, Any] | None:
    raw = service.annotations.get(f"{PREFIX}input-schema", "")
    try:
        schema = json.loads(raw)
    except ValueError:
        return None
    if not isinstance(schema, dict) or not isinstance(schema.get("properties"), dict):
        return None
    return {**schema, "type": "object"}


def description(spec: UISpec) -> str:
    """The tool description: the service's title and description annotations, and its mode."""
    text = spec.title if spec.title == spec.service else f"{spec.title}."
    if spec.description:
        text = f"{text}\n\n{spec.description}"
    if spec.mode == "async":
        text += "\n\nRuns as an asynchronous OSCAR job (progress is reported)."
    return text


def tool_of(service: Service, spec: UISpec, args: tuple[PredictArg, ...] | None) -> types.Tool:
    """The MCP tool of one service."""
    return types.Tool(
        name=service.name,
        title=spec.title,
        description=description(spec),
        input_schema=input_schema(service, spec, args),
    )

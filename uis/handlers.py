"""What a UI's buttons do: turn inputs into an OSCAR call with the caller's own token.

The caller is the ``User`` the dispatcher (``gateway.mounts``) authenticated
and put in the request's scope state before Gradio saw the request; Gradio
keeps that request on ``gr.Request.request`` for queued calls too.  Every
failure becomes a ``gr.Error`` with a message the user can act on.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import (
    Forbidden,
    GatewayError,
    InvalidInput,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UpstreamTimeout,
)
from core.identity import User
from core.settings import Settings
from oscar.client import OscarClient
from oscar.payloads import Output, decode_output, encode_body, sniff
from uis.deepaas import PredictArg, PredictArgsCache
from uis.files import in_gradio_cache
from uis.spec import FormField, UISpec

if TYPE_CHECKING:
    import gradio as gr

    from core.metrics import Metrics
    from oscar.runner import JobEvent, JobRunner

# Where the dispatcher leaves the authenticated caller (``scope["state"]``).
USER_STATE_KEY = "gateway_user"
Payload = bytes | str | dict[str, Any]

_TITLES: dict[type[GatewayError], str] = {
    Unauthorized: "Login expired",
    Forbidden: "Access denied",
    NotFound: "Service gone",
    Unavailable: "OSCAR unavailable",
    UpstreamTimeout: "Timed out",
    PayloadTooLarge: "Too large",
    InvalidInput: "Wrong input",
}
_HINTS: dict[type[GatewayError], str] = {
    Unauthorized: "Reload the page to log in again.",
    Forbidden: "OSCAR refused this service to your account; ask its owner for access.",
    NotFound: "OSCAR no longer has this service; go back to the portal.",
}


@dataclass
class ServiceContext:
    """The collaborators a UI builder receives for one service."""

    spec: UISpec
    oscar: OscarClient
    settings: Settings
    metrics: Metrics | None = None
    # ``oscar.runner.JobRunner`` for async invocation (None: async calls are refused).
    jobs: JobRunner | None = None
    # DEEPaaS predict arguments by definition hash (``uis.deepaas``); None: asked every build.
    deepaas: PredictArgsCache | None = None
    # A DEEPaaS model's predict arguments, set by ``uis.custom.deepaas.prepare`` before build.
    predict_args: tuple[PredictArg, ...] | None = None

    def record(self, outcome: str) -> None:
        if self.metrics is not None:
            self.metrics.invocation(self.spec.service, self.spec.mode, outcome)


def ui_error(exc: GatewayError) -> gr.Error:
    """The ``gr.Error`` shown for a domain error: its message plus what to do."""
    import gradio as gr

    kind = next((cls for cls in type(exc).__mro__ if cls in _TITLES), None)
    title = _TITLES[kind] if kind else "Service error"
    hint = _HINTS.get(kind) if kind else None
    message = exc.message if hint is None or hint in exc.message else f"{exc.message} {hint}"
    return gr.Error(message, title=title, print_exception=False)


def user_of(request: gr.Request | None) -> User:
    """The caller of this event, as the dispatcher authenticated it."""
    starlette_request = getattr(request, "request", None) if request is not None else None
    state = getattr(starlette_request, "scope", {}).get("state") or {}
    user = state.get(USER_STATE_KEY)
    if not isinstance(user, User):
        raise ui_error(Unauthorized())
    return user


async def call_sync(ctx: ServiceContext, request: gr.Request | None, payload: Payload) -> Output:
    """``POST /run`` with the caller's token; too-large outputs and errors become gr.Error."""
    user = user_of(request)
    try:
        raw = await ctx.oscar.run(ctx.spec.service, encode_body(payload), auth=user.authorization)
    except UpstreamTimeout as exc:
        ctx.record("timeout")
        raise ui_error(exc) from exc
    except GatewayError as exc:
        ctx.record("error")
        raise ui_error(exc) from exc
    limit = ctx.settings.ui.max_output_bytes
    if len(raw) > limit:
        ctx.record("error")
        message = (
            f"The result is {len(raw) // 1024:,} KiB, more than this page shows "
            f"({limit // 1024:,} KiB). Use the asynchronous mode or the REST API to fetch it."
        )
        raise ui_error(PayloadTooLarge(message))
    ctx.record("ok")
    return decode_output(raw)


def payload_from(spec: UISpec, values: list[Any]) -> Payload:
    """The request data for the input values, validated; raises ``gr.Error`` on wrong input."""
    try:
        if spec.fields:
            return form_payload(spec.fields, values)
        return single_payload(spec, values[0])
    except InvalidInput as exc:
        raise ui_error(exc) from exc


def form_payload(fields: tuple[FormField, ...], values: list[Any]) -> dict[str, Any]:
    """A JSON object from form values, typed as the schema says."""
    body: dict[str, Any] = {}
    for field, value in zip(fields, values, strict=True):
        if value in (None, "") and field.required:
            raise InvalidInput(f"'{field.label}' is required: fill it in and run again.")
        if value in (None, ""):
            continue
        body[field.name] = int(value) if field.kind == "integer" else value
    return body


def single_payload(spec: UISpec, value: Any) -> Payload:
    kind = spec.input
    if kind == "text":
        if not isinstance(value, str) or not value.strip():
            raise InvalidInput("Type some text first.")
        return value
    if kind == "json":
        return json_object(value)
    return file_bytes(kind, value)


def json_object(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return value
    try:
        parsed = json.loads(value or "")
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            'The input is not valid JSON. Enter an object such as {"x": 1}.'
        ) from exc
    if not isinstance(parsed, dict):
        raise InvalidInput('The input must be a JSON object such as {"x": 1}, not a list or value.')
    return parsed


def file_bytes(kind: str, value: Any) -> bytes:
    """The bytes of an uploaded file, checked against the expected media kind."""
    path = value.get("path") if isinstance(value, dict) else value
    if not path:
        raise InvalidInput(f"Upload {'an' if kind in ('image', 'audio') else 'a'} {kind} first.")
    if not in_gradio_cache(str(path)):
        # Only files Gradio stored for an upload to this app (the dispatcher checked whose).
        raise InvalidInput("Upload the file with the page's upload box (or gradio_client).")
    data = Path(str(path)).read_bytes()
    found = sniff(data)
    # Unknown binary formats pass (sniffing knows few video containers); known other types do not.
    media = kind in ("image", "audio", "video") and found != "application/octet-stream"
    if media and not found.startswith(f"{kind}/"):
        raise InvalidInput(f"This service takes {kind} input; the uploaded file is {found}.")
    return data


# Progress fractions of the named stages of an asynchronous invocation.
STAGES: dict[str, tuple[float, str]] = {
    "uploading": (0.1, "Uploading"),
    "queued": (0.3, "Queued"),
    "running": (0.6, "Running"),
    "fetching": (0.9, "Fetching the result"),
    "done": (1.0, "Done"),
}


async def job_events(
    ctx: ServiceContext, request: gr.Request | None, data: bytes, filename: str
) -> AsyncIterator[JobEvent]:
    """Run the service through its input bucket; domain errors become ``gr.Error``."""
    user = user_of(request)
    if ctx.jobs is None:
        raise ui_error(Unavailable("Asynchronous invocation is not available on this gateway."))
    gauge = ctx.metrics.jobs_in_flight if ctx.metrics is not None else None
    if gauge is not None:
        gauge.inc()
    outcome = "error"
    try:
        events = ctx.jobs.invoke(
            ctx.spec.service,
            data,
            filename=filename,
            auth=user.authorization,
            max_output_bytes=ctx.settings.ui.max_output_bytes,
        )
        async for event in events:
            yield event
        outcome = "ok"
    except UpstreamTimeout as exc:
        outcome = "timeout"
        raise ui_error(exc) from exc
    except GatewayError as exc:
        raise ui_error(exc) from exc
    except BaseException:
        outcome = "cancelled"
        raise
    finally:
        ctx.record(outcome)
        if gauge is not None:
            gauge.dec()


def upload_of(spec: UISpec, payload: Payload, values: list[Any]) -> tuple[bytes, str]:
    """(bytes, file name) to upload for an async invocation of ``payload``."""
    if isinstance(payload, dict):
        return json.dumps(payload).encode(), "input.json"
    if isinstance(payload, str):
        return payload.encode(), "input.txt"
    value = values[0] if values else None
    path = value.get("path") if isinstance(value, dict) else value
    return payload, Path(str(path or "input")).name

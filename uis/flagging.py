"""Flagging (``ui.flagging``, off by default): keep an input/output pair for review.

A flag is a JSON document written with the caller's own MinIO keys (from
``/system/config``, oscar-api.md §5) to ``flagged/`` in the service's output
bucket (else its input bucket): a bucket the user can already read, so flags
never land anywhere the user could not see.
"""

from __future__ import annotations

import json
import time
import uuid
from typing import TYPE_CHECKING, Any

from core.errors import GatewayError
from uis import handlers
from uis.handlers import ServiceContext

if TYPE_CHECKING:
    import gradio as gr


def describe(value: Any) -> Any:
    """A JSON-friendly summary of a component value (files by name, not content)."""
    if isinstance(value, dict) and "path" in value:
        return {"file": str(value.get("orig_name") or value["path"]).rsplit("/", 1)[-1]}
    if isinstance(value, str | int | float | bool) or value is None:
        return value
    if isinstance(value, list | tuple):
        return [describe(v) for v in value]
    if isinstance(value, dict):
        return {str(k): describe(v) for k, v in value.items()}
    return str(value)


async def flag(ctx: ServiceContext, request: gr.Request | None, values: list[Any]) -> str:
    """Write one flag; returns ``bucket/key``.  Errors become ``gr.Error``."""
    user = handlers.user_of(request)
    service = await ctx.oscar.get_service(ctx.spec.service, auth=user.authorization)
    buckets = service.output or service.input
    target = buckets[0] if buckets else None
    if target is None or ctx.jobs is None:
        raise handlers.ui_error(
            GatewayError("This service has no bucket to keep flags in; flagging is not possible.")
        )
    key = f"flagged/{ctx.spec.service}/{int(time.time())}-{uuid.uuid4().hex[:8]}.json"
    record = {"service": ctx.spec.service, "user": user.sub, "values": describe(values)}
    try:
        provider = (await ctx.oscar.system_config(auth=user.authorization)).minio_provider
        await ctx.jobs.storage.upload(
            provider,
            target.bucket,
            key,
            json.dumps(record).encode(),
            content_type="application/json",
        )
    except GatewayError as exc:
        raise handlers.ui_error(exc) from exc
    return f"{target.bucket}/{key}"


def add_flag_button(ctx: ServiceContext, components: list[Any]) -> None:
    """A Flag button sending the current inputs and outputs to ``flag`` (when enabled)."""
    import gradio as gr

    if not ctx.settings.ui.flagging:
        return
    button = gr.Button("Flag", size="sm")

    async def on_flag(request: gr.Request, *values: Any) -> None:
        where = await flag(ctx, request, list(values))
        gr.Info(f"Flagged: saved to {where}")

    on_flag.__annotations__ = {"request": gr.Request}
    button.click(on_flag, components, None, api_name="flag", api_visibility="undocumented")

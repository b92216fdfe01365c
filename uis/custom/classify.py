"""classify: an image (or text) in, the service's scores shown as a ``gr.Label``.

Accepted score shapes: ``{"cat": 0.9, ...}``, ``[{"label": "cat", "score": 0.9}, ...]``,
or either wrapped as ``{"predictions": ...}`` / ``{"labels": ...}``.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from oscar.payloads import Output
from uis import handlers
from uis.components import input_component
from uis.generated import concurrency, header, queued, with_request
from uis.handlers import ServiceContext

if TYPE_CHECKING:
    import gradio as gr

API_NAME = "classify"
_WRAPPERS = ("predictions", "labels", "scores", "results")


def build(ctx: ServiceContext) -> gr.Blocks:
    """Input (``oscar-gateway/input``, INPUT_TYPE, else image), Classify, a Label of scores."""
    import gradio as gr

    spec = ctx.spec
    if "input" not in spec.declared and spec.input == "text":
        # A classifier without a declared input takes images (text is only the generic fallback).
        spec = replace(spec, input="image")
    with gr.Blocks(title=spec.title, analytics_enabled=False) as blocks:
        header(spec)
        with gr.Row():
            source = input_component(spec)
            label = gr.Label(label="Classes", num_top_classes=5)
        go = gr.Button("Classify", variant="primary")

        async def classify(value: Any, request: gr.Request) -> dict[str, float]:
            payload = handlers.payload_from(spec, [value])
            return confidences(await handlers.call_sync(ctx, request, payload))

        go.click(
            with_request(classify),
            [source],
            [label],
            api_name=API_NAME,
            concurrency_limit=concurrency(ctx),
            concurrency_id=spec.service,
        )
    return queued(blocks, ctx)


def confidences(output: Output) -> dict[str, float]:
    """The label -> score map of a classifier's JSON output; gr.Error if there is none."""
    import gradio as gr

    text = output.text if output.kind == "text" else output.files[0].text
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise gr.Error(
            f"The classifier did not return JSON scores. It said: {text[:300]}",
            title="Unexpected output",
            print_exception=False,
        ) from exc
    scores = _scores(value)
    if not scores:
        raise gr.Error("The classifier returned no scores.", print_exception=False)
    return scores


def _scores(value: Any) -> dict[str, float]:
    if isinstance(value, dict):
        for key in _WRAPPERS:
            if key in value:
                return _scores(value[key])
        return {str(k): float(v) for k, v in value.items() if isinstance(v, int | float)}
    if isinstance(value, list):
        pairs = (
            (item.get("label") or item.get("class") or item.get("name"), item.get("score"))
            for item in value
            if isinstance(item, dict)
        )
        return {str(k): float(v) for k, v in pairs if k is not None and isinstance(v, int | float)}
    return {}

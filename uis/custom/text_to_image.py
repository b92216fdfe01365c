"""text-to-image: prompt, negative prompt, steps, seed -> a gallery of images.

Works with two kinds of service:
- sends ``{"prompt", "negative_prompt", "steps", "seed"}`` to sync services (the
  demo stand-in) and to any annotated ``oscar-gateway/input: json``;
- sends the bare prompt text to async services (the Stable Diffusion service of
  the OSCAR+Gradio blog reads the prompt from ``$INPUT_FILE_PATH``) and to any
  annotated ``oscar-gateway/input: text``.
Sync services go through ``/run``; async ones upload the prompt to the input bucket.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput, UpstreamError
from oscar.payloads import Output
from uis import handlers
from uis.generated import concurrency, header, queued, with_request
from uis.handlers import ServiceContext
from uis.outputs import write_file
from uis.spec import UISpec

if TYPE_CHECKING:
    import gradio as gr

API_NAME = "generate"
# The portal's example of a Gradio call: prompt, negative prompt, steps, seed.
EXAMPLE_DATA = ["a red fox in the snow", "blurry", 25, 42]
_MAX_SEED = 2**31 - 1


def build(ctx: ServiceContext) -> gr.Blocks:
    """Prompt form on the left, gallery (and job log when async) on the right."""
    import gradio as gr

    spec = ctx.spec
    with gr.Blocks(title=spec.title, analytics_enabled=False) as blocks:
        header(spec)
        with gr.Row():
            with gr.Column():
                prompt = gr.Textbox(label="Prompt", lines=2, placeholder="a red fox in the snow")
                negative = gr.Textbox(label="Negative prompt", placeholder="blurry, low quality")
                with gr.Row():
                    steps = gr.Slider(1, 100, value=25, step=1, label="Steps")
                    seed = gr.Number(value=-1, precision=0, label="Seed (-1: random)")
                go = gr.Button("Generate", variant="primary")
                cancel = gr.Button("Cancel", variant="stop", visible=spec.mode == "async")
            with gr.Column():
                gallery = gr.Gallery(label="Images", columns=2, height="auto")
                log = gr.Textbox(label="Job log", lines=4, visible=spec.mode == "async")
        event = go.click(
            with_request(_generator(ctx)),
            [prompt, negative, steps, seed],
            [gallery, log],
            api_name=API_NAME,
            concurrency_limit=concurrency(ctx),
            concurrency_id=spec.service,
        )
        cancel.click(None, None, None, cancels=[event])
    return queued(blocks, ctx)


def request_data(ctx: ServiceContext, prompt: str, negative: str, steps: Any, seed: Any) -> Any:
    """What the service receives: a JSON object, or the bare prompt text."""
    if not (prompt or "").strip():
        raise handlers.ui_error(InvalidInput("Write a prompt first."))
    chosen = int(seed) if seed is not None and int(seed) >= 0 else random.randint(0, _MAX_SEED)  # noqa: S311
    if not wants_json(ctx.spec):
        return prompt
    return {
        "prompt": prompt,
        "negative_prompt": negative or "",
        "steps": int(steps),
        "seed": chosen,
    }


def wants_json(spec: UISpec) -> bool:
    """JSON unless the input is declared ``text``, or undeclared on an async service."""
    if "input" in spec.declared:
        return spec.input == "json"
    return spec.mode == "sync"


def images(output: Output) -> list[str]:
    """Paths of the image files in ``output``; gr.Error when there are none."""
    found = [write_file(f) for f in output.files if f.content_type.startswith("image/")]
    if not found:
        said = output.text[:300] if output.kind == "text" else "no image"
        raise handlers.ui_error(UpstreamError(f"The service returned no image. It said: {said}"))
    return found


def _generator(ctx: ServiceContext) -> Any:
    import gradio as gr

    async def generate(
        prompt: str, negative: str, steps: Any, seed: Any, request: gr.Request
    ) -> AsyncIterator[tuple[Any, Any]]:
        data = request_data(ctx, prompt, negative, steps, seed)
        if ctx.spec.mode == "sync":
            yield images(await handlers.call_sync(ctx, request, data)), gr.update()
            return
        body, filename = handlers.upload_of(ctx.spec, data, [])
        lines: list[str] = []
        async for event in handlers.job_events(ctx, request, body, filename):
            lines.append(
                event.message if event.stage == "log" else f"[{event.stage}] {event.message}"
            )
            update = gr.update(value="\n".join(lines[-100:]))
            result = event.result
            yield (images(result.output) if result else gr.update()), update

    return generate

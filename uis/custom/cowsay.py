"""cowsay: a line of text in, the cow's ASCII art out (monospace, never wrapped)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from uis import handlers
from uis.generated import concurrency, header, queued, with_request
from uis.handlers import ServiceContext

if TYPE_CHECKING:
    import gradio as gr

API_NAME = "cowsay"


def build(ctx: ServiceContext) -> gr.Blocks:
    """Text box, Moo button, the art in a code block."""
    import gradio as gr

    with gr.Blocks(title=ctx.spec.title, analytics_enabled=False) as blocks:
        header(ctx.spec)
        text = gr.Textbox(label="What should the cow say?", placeholder="Hello from OSCAR")
        moo = gr.Button("Moo", variant="primary")
        art = gr.Code(label="The cow says", language=None, interactive=False)
        examples = [e for e in ctx.spec.examples if isinstance(e, str)] or ["Hello from OSCAR"]
        gr.Examples([[e] for e in examples], [text], cache_examples=False)

        async def say(message: Any, request: gr.Request) -> str:
            payload = handlers.payload_from(ctx.spec, [message])
            output = await handlers.call_sync(ctx, request, payload)
            return output.text if output.kind == "text" else output.files[0].text

        limits: dict[str, Any] = {
            "concurrency_limit": concurrency(ctx),
            "concurrency_id": ctx.spec.service,
        }
        moo.click(with_request(say), [text], [art], api_name=API_NAME, **limits)
        text.submit(with_request(say), [text], [art], api_visibility="private", **limits)
    return queued(blocks, ctx)

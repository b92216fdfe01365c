"""The generic builder: any OSCAR service -> a Gradio app, from its ``UISpec`` alone."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from uis import handlers
from uis.components import PANEL_KINDS, OutputPanel, input_components
from uis.flagging import add_flag_button
from uis.handlers import ServiceContext
from uis.outputs import Rendered, panel_values, render
from uis.spec import UISpec

if TYPE_CHECKING:
    import gradio as gr

API_NAME = "predict"
# Text results are streamed in this many steps, so long output appears as it is shown.
_TEXT_STEPS = 8


def build(ctx: ServiceContext) -> gr.Blocks:
    """The Gradio app of ``ctx.spec``: inputs, run (and cancel), job log, output panel."""
    import gradio as gr

    spec = ctx.spec
    with gr.Blocks(title=spec.title, analytics_enabled=False) as blocks:
        header(spec)
        with gr.Row():
            with gr.Column():
                inputs = input_components(spec)
                run = gr.Button("Run", variant="primary")
                cancel = gr.Button("Cancel", variant="stop", visible=spec.mode == "async")
            with gr.Column():
                log = gr.Textbox(
                    label="Job log", lines=6, max_lines=12, visible=spec.mode == "async"
                )
                panel = OutputPanel.create(spec)
        add_examples(spec, inputs)
        footer(spec)
        fn = sync_handler(ctx) if spec.mode == "sync" else async_handler(ctx)
        event = run.click(
            fn,
            inputs,
            [log, *panel.outputs],
            api_name=API_NAME,
            concurrency_limit=concurrency(ctx),
            concurrency_id=spec.service,
        )
        cancel.click(None, None, None, cancels=[event])
        add_flag_button(ctx, [*inputs, *panel.outputs])
    return queued(blocks, ctx)


def header(spec: UISpec) -> None:
    """Title, description, and any annotation problems the admin should fix."""
    import gradio as gr

    mode = "asynchronous (runs as a job)" if spec.mode == "async" else "synchronous"
    text = f"# {spec.title}\n\n{spec.description}\n\n*Service `{spec.service}` · {mode}*"
    gr.Markdown(text)
    if spec.problems:
        items = "\n".join(f"- {p}" for p in spec.problems)
        gr.Markdown(f"**This service's annotations need fixing** (defaults used):\n{items}")


def footer(spec: UISpec) -> None:
    import gradio as gr

    if spec.article:
        gr.Markdown(spec.article)


def add_examples(spec: UISpec, inputs: list[Any]) -> None:
    """``oscar-gateway/examples``: a value per example, or a list (one per form field)."""
    import gradio as gr

    if not spec.examples or spec.input in ("image", "audio", "video", "file"):
        return
    rows = [example_row(spec, example) for example in spec.examples]
    rows = [row for row in rows if len(row) == len(inputs)]
    if rows:
        gr.Examples(rows, inputs, cache_examples=False)


def example_row(spec: UISpec, example: Any) -> list[Any]:
    import json

    if spec.fields and isinstance(example, dict):
        return [example.get(f.name, f.default) for f in spec.fields]
    if isinstance(example, list):
        return example
    if spec.input == "json" and isinstance(example, dict):
        return [json.dumps(example, indent=2)]
    return [example]


def concurrency(ctx: ServiceContext) -> int:
    """Per-service limit: the ``oscar-gateway/concurrency`` annotation, else the setting."""
    return ctx.spec.concurrency or ctx.settings.ui.concurrency_limit


def queued(blocks: gr.Blocks, ctx: ServiceContext) -> gr.Blocks:
    return blocks.queue(max_size=ctx.settings.ui.max_queue)


def with_request(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Let Gradio see the ``request: gr.Request`` parameter (it resolves real annotations only).

    Gradio injects special parameters only among the positional ones, so
    handlers taking ``*values`` put ``request`` (and ``progress``) first.
    """
    import gradio as gr

    fn.__annotations__ = {"request": gr.Request}
    return fn


def sync_handler(ctx: ServiceContext) -> Callable[..., AsyncIterator[list[Any]]]:
    import gradio as gr

    async def run_sync(request: gr.Request, *values: Any) -> AsyncIterator[list[Any]]:
        payload = handlers.payload_from(ctx.spec, list(values))
        output = await handlers.call_sync(ctx, request, payload)
        rendered = render(output, ctx.spec.output)
        if rendered.warning:
            gr.Warning(rendered.warning)
        async for update in stream(rendered):
            yield [gr.update(), *update]

    return with_request(run_sync)


def async_handler(ctx: ServiceContext) -> Callable[..., AsyncIterator[list[Any]]]:
    import gradio as gr

    async def run_async(
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (how Gradio injects it)
        *values: Any,
    ) -> AsyncIterator[list[Any]]:
        payload = handlers.payload_from(ctx.spec, list(values))
        data, filename = handlers.upload_of(ctx.spec, payload, list(values))
        lines: list[str] = []
        idle = [gr.update()] * len(PANEL_KINDS)
        async for event in handlers.job_events(ctx, request, data, filename):
            if event.stage == "log":
                lines.append(event.message)
                yield [gr.update(value="\n".join(lines[-200:])), *idle]
                continue
            fraction, label = handlers.STAGES[event.stage]
            progress(fraction, desc=f"{label}: {event.message}")
            if event.stage == "queued":
                gr.Info("Input uploaded: OSCAR runs it as a job. Cancel stops waiting for it.")
            lines.append(f"[{event.stage}] {event.message}")
            yield [gr.update(value="\n".join(lines[-200:])), *idle]
            if event.result is not None:
                rendered = render(event.result.output, ctx.spec.output)
                if rendered.warning:
                    gr.Warning(rendered.warning)
                yield [gr.update(value="\n".join(lines[-200:])), *panel_values(rendered)]

    return with_request(run_async)


async def stream(rendered: Rendered) -> AsyncIterator[list[Any]]:
    """Text is shown in growing pieces (Gradio streams each yield); other kinds at once."""
    if rendered.kind != "text" or len(rendered.value) < 200:
        yield panel_values(rendered)
        return
    text: str = rendered.value
    step = max(1, len(text) // _TEXT_STEPS)
    for end in range(step, len(text) + step, step):
        yield panel_values(Rendered("text", text[:end]))

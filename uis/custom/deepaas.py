"""deepaas: a DEEPaaS model (AI4EOSC) — its predict arguments as a form, its prediction as JSON.

Chosen by ``oscar-gateway/ui: deepaas`` or a script running ``deepaas-cli``
(``uis/registry.py``).  Submitting sends the JSON object of the arguments, file
arguments as base64 ``oscar-files`` entries (``uis.deepaas.request_body``); the
answer shows the prediction (``gr.JSON``), the full log in a closed accordion,
and the model's own error line as a ``gr.Error`` when it refuses an argument.
Sync services are called on ``/run``; async ones run as a job through the input
bucket, and their ``<name>.json`` and ``<name>.log`` outputs are read.

Where the arguments come from: the ``oscar-gateway/deepaas-schema`` annotation
when present, else the model's ``--help``.  Asking the model needs a caller's
token, and Blocks are built without one (on the builder's private thread), so
``prepare`` asks *before* the build: the gateway's builder awaits
``registry.prepare`` with the first admitted caller's credential (uis never
imports gateway; gateway calls uis).  The answer is kept per definition hash in
the gateway's ``PredictArgsCache``, so the next build (another replica's user,
a rebuild after eviction) does not ask again, and a redeployed model is asked
anew.  The form is then static: its event keeps a fixed ``api_name`` with
named parameters, usable from ``gradio_client`` and the REST API.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput, Unavailable
from oscar.models import Service
from oscar.payloads import Output
from uis import handlers
from uis.deepaas import PredictArg, PredictArgsCache, model_error, prediction
from uis.deepaas.answer import job_answer
from uis.deepaas.form import body_of, field_for
from uis.generated import concurrency, footer, header, queued, with_request
from uis.handlers import ServiceContext

if TYPE_CHECKING:
    import gradio as gr

API_NAME = "predict"
_LOG_LINES = 400


async def prepare(ctx: ServiceContext, service: Service, *, auth: str) -> None:
    """Find the model's predict arguments (schema annotation, else its ``--help`` as ``auth``)."""
    cache = ctx.deepaas if ctx.deepaas is not None else PredictArgsCache()
    ctx.predict_args = await cache.arguments(ctx.oscar, service, auth=auth)


def build(ctx: ServiceContext) -> gr.Blocks:
    """The argument form, Predict, the prediction as JSON and the log behind a toggle."""
    import gradio as gr

    spec = ctx.spec
    args = _arguments(ctx)
    with gr.Blocks(title=spec.title, analytics_enabled=False) as blocks:
        header(spec)
        with gr.Row():
            with gr.Column():
                inputs = [field_for(arg) for arg in args]
                run = gr.Button("Predict", variant="primary")
            with gr.Column():
                result = gr.JSON(label="Prediction", elem_id="deepaas-prediction")
                with gr.Accordion("Full log", open=False):
                    log = gr.Textbox(
                        label="Log", elem_id="deepaas-log", lines=12, max_lines=30, buttons=["copy"]
                    )
        footer(spec)
        fn = _sync(ctx, args) if spec.mode == "sync" else _async(ctx, args)
        run.click(
            fn,
            inputs,
            [result, log],
            api_name=API_NAME,
            concurrency_limit=concurrency(ctx),
            concurrency_id=spec.service,
        )
    return queued(blocks, ctx)


def _arguments(ctx: ServiceContext) -> tuple[PredictArg, ...]:
    if ctx.predict_args is None:
        raise Unavailable(
            f"The predict arguments of {ctx.spec.service!r} were not asked before its UI was "
            "built (uis.custom.deepaas.prepare)."
        )
    return ctx.predict_args


def _body(args: tuple[PredictArg, ...], values: list[Any]) -> dict[str, Any]:
    try:
        return body_of(args, values)
    except InvalidInput as exc:
        raise handlers.ui_error(exc) from exc


def _refused(log: str) -> gr.Error:
    import gradio as gr

    return gr.Error(model_error(log), title="The model refused the input", print_exception=False)


def _text(output: Output) -> str:
    if output.kind == "text":
        return output.text
    return "\n".join(f.text for f in output.files if f.content_type.startswith(("text/", "app")))


def _sync(
    ctx: ServiceContext, args: tuple[PredictArg, ...]
) -> Callable[..., AsyncIterator[list[Any]]]:
    async def predict(request: gr.Request, *values: Any) -> AsyncIterator[list[Any]]:
        output = await handlers.call_sync(ctx, request, _body(args, list(values)))
        log = _text(output)
        value = prediction(log)
        yield [value, log]
        if value is None:
            raise _refused(log)

    return with_request(predict)


def _async(
    ctx: ServiceContext, args: tuple[PredictArg, ...]
) -> Callable[..., AsyncIterator[list[Any]]]:
    import json

    import gradio as gr

    async def predict_job(
        request: gr.Request,
        progress: gr.Progress = gr.Progress(),  # noqa: B008 (how Gradio injects it)
        *values: Any,
    ) -> AsyncIterator[list[Any]]:
        data = json.dumps(_body(args, list(values))).encode()
        lines: list[str] = []
        async for event in handlers.job_events(ctx, request, data, "input.json"):
            if event.stage != "log":
                fraction, label = handlers.STAGES[event.stage]
                progress(fraction, desc=f"{label}: {event.message}")
            lines.append(
                event.message if event.stage == "log" else f"[{event.stage}] {event.message}"
            )
            if event.result is None:
                yield [gr.update(), "\n".join(lines[-_LOG_LINES:])]
                continue
            files = [(f.name, f.text) for f in event.result.output.files]
            value, log = job_answer(files, event.result.output.log)
            yield [value, log]
            if value is None:
                raise _refused(log)

    return with_request(predict_job)

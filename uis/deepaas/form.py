"""The Gradio form of a DEEPaaS model: one input per predict argument, and its values as a body.

number/integer -> ``gr.Number``, a choice -> ``gr.Dropdown``, bool ->
``gr.Checkbox``, string -> ``gr.Textbox``, file/image/audio/video -> the
matching upload input.  gradio is imported lazily (its import takes seconds).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from core.errors import InvalidInput
from uis.deepaas.answer import FileValue, request_body
from uis.deepaas.arguments import PredictArg
from uis.handlers import file_bytes

if TYPE_CHECKING:
    import gradio as gr


def field_for(arg: PredictArg) -> gr.components.Component:
    """The input component of one predict argument, labelled by its name."""
    import gradio as gr

    label = f"{arg.name} (required)" if arg.required else arg.name
    info = arg.description or None
    if arg.kind == "enum":
        value = arg.default if arg.default in arg.choices else arg.choices[0]
        return gr.Dropdown(list(arg.choices), value=value, label=label, info=info)
    if arg.kind in ("number", "integer"):
        precision = 0 if arg.kind == "integer" else None
        return gr.Number(value=arg.default, label=label, info=info, precision=precision)
    if arg.kind == "boolean":
        return gr.Checkbox(value=bool(arg.default), label=label, info=info)
    if arg.kind == "image":
        return gr.Image(type="filepath", label=label)
    if arg.kind == "audio":
        return gr.Audio(type="filepath", label=label)
    if arg.kind == "video":
        return gr.Video(label=label)
    if arg.kind == "file":
        return gr.File(type="filepath", label=label)
    default = "" if arg.default is None else str(arg.default)
    return gr.Textbox(value=default, label=label, info=info)


def body_of(args: tuple[PredictArg, ...], values: list[Any]) -> dict[str, Any]:
    """The JSON object for ``deepaas-cli predict``; InvalidInput when a required one is empty."""
    plain: dict[str, Any] = {}
    files: dict[str, FileValue] = {}
    for arg, value in zip(args, values, strict=True):
        empty = value is None or value == ""
        if empty and arg.required:
            what = f"Upload the {arg.name}" if arg.is_file else f"Fill in {arg.name!r}"
            raise InvalidInput(f"{what} first: the model requires it.")
        if empty:
            continue
        if arg.is_file:
            path = value.get("path") if isinstance(value, dict) else value
            files[arg.name] = (file_bytes(arg.kind, value), Path(str(path)).name)
        else:
            plain[arg.name] = value
    return request_body(args, plain, files)

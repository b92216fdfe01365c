"""``UISpec`` -> gradio components: the inputs, and one output panel per UI.

Called only from builders, inside a ``gr.Blocks`` context; gradio is imported
lazily so that nothing on the gateway's start-up path pays for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from uis.spec import FormField, OutputKind, UISpec

if TYPE_CHECKING:
    from gradio.components import Component

# The components an output panel has, in the order handlers return updates for them.
PANEL_KINDS: tuple[OutputKind, ...] = ("text", "json", "image", "audio", "video", "file", "zip")


def input_components(spec: UISpec) -> list[Component]:
    """The input components of ``spec``: form fields, or one component of its input kind."""
    if spec.fields:
        return [field_component(f) for f in spec.fields]
    return [input_component(spec)]


def input_component(spec: UISpec) -> Component:
    import gradio as gr

    label = "Input"
    kind = spec.input
    if kind == "text":
        return gr.Textbox(label=label, lines=3, placeholder="Type the input text")
    if kind == "json":
        return gr.Code(label=f"{label} (JSON object)", language="json", value="{}")
    if kind == "image":
        return gr.Image(label=label, type="filepath", sources=["upload", "clipboard"])
    if kind == "audio":
        return gr.Audio(label=label, type="filepath", sources=["upload", "microphone"])
    if kind == "video":
        return gr.Video(label=label, sources=["upload"])
    return gr.File(label=label, type="filepath")


def field_component(field: FormField) -> Component:
    """The component of one ``input-schema`` property (string, number, boolean, enum)."""
    import gradio as gr

    common: dict[str, Any] = {"label": field.label, "info": field.description or None}
    if field.kind == "enum":
        default = field.default if field.default in field.choices else field.choices[0]
        return gr.Dropdown(choices=list(field.choices), value=default, **common)
    if field.kind == "boolean":
        return gr.Checkbox(value=bool(field.default), **common)
    if field.kind in ("number", "integer"):
        return _number(field, common)
    return gr.Textbox(value=str(field.default or ""), **common)


def _number(field: FormField, common: dict[str, Any]) -> Component:
    import gradio as gr

    step = 1 if field.kind == "integer" else None
    if field.minimum is not None and field.maximum is not None:
        value = field.default if field.default is not None else field.minimum
        return gr.Slider(
            minimum=field.minimum, maximum=field.maximum, value=value, step=step or 0.01, **common
        )
    precision = 0 if field.kind == "integer" else None
    return gr.Number(
        value=field.default,
        minimum=field.minimum,
        maximum=field.maximum,
        precision=precision,
        **common,
    )


@dataclass
class OutputPanel:
    """One component per output kind; only the one matching a result is visible."""

    components: dict[OutputKind, Component]

    @classmethod
    def create(cls, spec: UISpec) -> OutputPanel:
        """Make the panel inside the current Blocks; the declared kind starts visible."""
        import gradio as gr

        shown = "text" if spec.output == "auto" else spec.output
        visible = {kind: kind == shown for kind in PANEL_KINDS}
        label = "Result"
        return cls(
            {
                "text": gr.Textbox(label=label, lines=8, buttons=["copy"], visible=visible["text"]),
                "json": gr.JSON(label=label, visible=visible["json"]),
                "image": gr.Image(label=label, type="filepath", visible=visible["image"]),
                "audio": gr.Audio(label=label, type="filepath", visible=visible["audio"]),
                "video": gr.Video(label=label, visible=visible["video"]),
                "file": gr.File(label=label, file_count="multiple", visible=visible["file"]),
                "zip": gr.Markdown(visible=visible["zip"]),
            }
        )

    @property
    def outputs(self) -> list[Component]:
        return [self.components[kind] for kind in PANEL_KINDS]

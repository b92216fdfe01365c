"""A decoded OSCAR output -> what the output panel shows.

``render`` picks the component kind from the declared ``oscar-gateway/output``
and the sniffed bytes, writes files where Gradio may serve them, and returns
one value per panel component (``uis.components.PANEL_KINDS`` order) plus a
warning when the service answered with something else than declared.
"""

from __future__ import annotations

import contextlib
import html
import json
import shutil
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from oscar.payloads import Output, OutputFile
from uis.components import PANEL_KINDS
from uis.spec import OutputKind

_MEDIA = {"image": "image", "audio": "audio", "video": "video"}


@dataclass
class Rendered:
    """What to show: the chosen kind, its value, and a warning for the user if any."""

    kind: OutputKind
    value: Any
    warning: str = ""
    files: list[str] = field(default_factory=list)


def render(output: Output, declared: OutputKind) -> Rendered:
    """Choose how to show ``output``; a mismatch with ``declared`` gives a warning."""
    if output.kind == "text":
        rendered = _text(output.text, declared)
    elif output.kind == "zip" or len(output.files) > 1:
        rendered = _zip(output.files)
    else:
        rendered = _file(output.files[0], declared)
    if declared not in ("auto", rendered.kind) and not _compatible(declared, rendered.kind):
        rendered.warning = (
            f"The service was expected to return {declared}, but returned {rendered.kind}. "
            "It is shown as it is; if this looks like an error message, check your input."
        )
    return rendered


def panel_values(rendered: Rendered) -> list[Any]:
    """One ``gr.update`` per panel component: the chosen one visible with its value."""
    import gradio as gr

    return [
        gr.update(visible=True, value=rendered.value)
        if kind == rendered.kind
        else gr.update(
            visible=kind == "file" and rendered.kind == "zip", value=_zip_files(rendered, kind)
        )
        for kind in PANEL_KINDS
    ]


def _zip_files(rendered: Rendered, kind: OutputKind) -> Any:
    # A zip shows its listing (markdown) and its files (the file component) together.
    return rendered.files if kind == "file" and rendered.kind == "zip" else None


def _compatible(declared: OutputKind, got: OutputKind) -> bool:
    # JSON is text, and every file can be offered for download.
    return (declared, got) in {
        ("text", "json"),
        ("json", "text"),
        ("file", "image"),
        ("file", "audio"),
        ("file", "video"),
        ("file", "json"),
    }


def _text(text: str, declared: OutputKind) -> Rendered:
    if declared in ("json", "auto"):
        parsed = _json(text)
        if parsed is not None:
            return Rendered("json", parsed)
    return Rendered("text", text)


def _file(item: OutputFile, declared: OutputKind) -> Rendered:
    major = item.content_type.split("/", 1)[0]
    if major in _MEDIA and declared != "file":
        return Rendered(_MEDIA[major], write_file(item))  # type: ignore[arg-type]
    if item.content_type == "application/json" and declared != "file":
        return Rendered("json", _json(item.text))
    if item.content_type.startswith("text/") and declared in ("text", "auto", "json"):
        return _text(item.text, declared)
    return Rendered("file", [write_file(item)])


def _zip(files: list[OutputFile]) -> Rendered:
    paths = [write_file(f) for f in files]
    rows = "\n".join(
        f"| {html.escape(f.name)} | {html.escape(f.content_type)} | {len(f.data):,} |"
        for f in files
    )
    listing = (
        f"**{len(files)} files in the result**\n\n| file | type | bytes |\n|---|---|---|\n{rows}"
    )
    return Rendered("zip", listing, files=paths)


def _json(text: str) -> Any:
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict | list) else None


def output_root() -> Path:
    return Path(tempfile.gettempdir()) / "oscar-gateway-out"


def prune_written(max_age_seconds: float) -> None:
    """Delete result files older than ``max_age_seconds`` (Gradio has copied them to its cache)."""
    cutoff = time.time() - max_age_seconds
    root = output_root()
    if not root.is_dir():
        return
    for folder in root.iterdir():
        with contextlib.suppress(OSError):
            if folder.stat().st_mtime < cutoff:
                shutil.rmtree(folder, ignore_errors=True)


def write_file(item: OutputFile) -> str:
    """Write ``item`` to a fresh folder under the system temp dir (Gradio serves from there)."""
    folder = output_root() / uuid.uuid4().hex
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / (Path(item.name).name or "output")
    path.write_bytes(item.data)
    return str(path)

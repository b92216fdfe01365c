"""The annotation vocabulary -> UISpec -> real gradio components (no server needed).

Tests that build Blocks are async: Gradio binds its locks to the running loop.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.settings import Settings
from oscar.client import OscarClient
from oscar.models import Service
from oscar.payloads import Output, OutputFile
from uis import registry
from uis.handlers import ServiceContext, form_payload, json_object, single_payload
from uis.outputs import render
from uis.spec import parse_spec

P = "oscar-gateway/"


def service(name: str = "svc", **fields: Any) -> Service:
    return Service.from_api({"name": name, "image": "img", "script": "x", **fields})


@pytest.fixture
def ctx_for() -> Iterator[Any]:
    settings = Settings(demo=True)
    http = httpx.AsyncClient()
    oscar = OscarClient(http, settings.oscar)

    def make(svc: Service) -> ServiceContext:
        return ServiceContext(spec=parse_spec(svc), oscar=oscar, settings=settings)

    yield make


def components(blocks: Any) -> list[Any]:
    return list(blocks.blocks.values())


def of_type(blocks: Any, name: str) -> list[Any]:
    return [c for c in components(blocks) if type(c).__name__ == name]


BUCKETS = {"input": [{"path": "svc/in"}], "output": [{"path": "svc/out"}]}


def test_service_without_buckets_defaults_to_sync_text_auto_output() -> None:
    spec = parse_spec(service())
    assert (spec.mode, spec.input, spec.output, spec.title) == ("sync", "text", "auto", "svc")
    assert spec.problems == ()


def test_service_with_input_and_output_buckets_defaults_to_async_file() -> None:
    spec = parse_spec(service(**BUCKETS))
    assert (spec.mode, spec.input) == ("async", "file")


def test_warm_sync_deployment_makes_a_bucket_service_sync() -> None:
    spec = parse_spec(service(**BUCKETS, synchronous={"min_scale": 1, "max_scale": 0}))
    assert spec.mode == "sync"


def test_input_type_variable_sets_the_input_kind() -> None:
    spec = parse_spec(service(**BUCKETS, environment={"variables": {"INPUT_TYPE": "image"}}))
    assert spec.input == "image"


def test_annotations_override_every_default() -> None:
    notes = {
        f"{P}mode": "sync",
        f"{P}input": "audio",
        f"{P}output": "zip",
        f"{P}title": "Nice title",
        f"{P}description": "What it does",
        f"{P}article": "More text",
        f"{P}concurrency": "4",
        f"{P}examples": '["a", "b"]',
        f"{P}ui": "cowsay",
    }
    spec = parse_spec(service(**BUCKETS, annotations=notes))
    assert (spec.mode, spec.input, spec.output) == ("sync", "audio", "zip")
    assert (spec.title, spec.description, spec.article) == (
        "Nice title",
        "What it does",
        "More text",
    )
    assert (spec.concurrency, spec.examples, spec.custom_ui) == (4, ("a", "b"), "cowsay")
    assert spec.problems == ()


def test_wrong_annotation_values_fall_back_and_are_reported() -> None:
    notes = {
        f"{P}mode": "sometimes",
        f"{P}output": "hologram",
        f"{P}examples": "{not json",
        f"{P}concurrency": "-3",
        f"{P}input-schema": '{"type": "object"}',
    }
    spec = parse_spec(service(annotations=notes))
    assert (spec.mode, spec.output, spec.examples, spec.concurrency) == ("sync", "auto", (), None)
    assert len(spec.problems) == 5
    assert any("hologram" in p for p in spec.problems)


def test_definition_hash_changes_with_the_definition_not_the_token() -> None:
    a = parse_spec(service(token="a" * 64)).definition_hash
    b = parse_spec(service(token="b" * 64)).definition_hash
    c = parse_spec(service(annotations={f"{P}title": "new"})).definition_hash
    assert a == b != c


SCHEMA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": {"type": "string", "default": "Ada", "description": "Who"},
        "count": {"type": "integer", "minimum": 1, "maximum": 10, "default": 3},
        "ratio": {"type": "number"},
        "loud": {"type": "boolean", "default": True},
        "colour": {"enum": ["red", "green"], "default": "green"},
    },
}


@pytest.mark.anyio
async def test_input_schema_becomes_form_fields_of_the_right_components(ctx_for: Any) -> None:
    svc = service(annotations={f"{P}input-schema": json.dumps(SCHEMA)})
    spec = parse_spec(svc)
    assert spec.input == "json"
    assert [f.kind for f in spec.fields] == ["string", "integer", "number", "boolean", "enum"]
    blocks = registry.build(ctx_for(svc))
    (name_box,) = [c for c in of_type(blocks, "Textbox") if c.label == "name"]
    assert (name_box.value, name_box.info) == ("Ada", "Who")
    (slider,) = of_type(blocks, "Slider")
    assert (slider.minimum, slider.maximum, slider.value, slider.step) == (1, 10, 3, 1)
    (number,) = of_type(blocks, "Number")
    assert number.label == "ratio"
    (checkbox,) = of_type(blocks, "Checkbox")
    assert checkbox.value is True
    (dropdown,) = of_type(blocks, "Dropdown")
    assert dropdown.value == "green"
    assert [choice[0] for choice in dropdown.choices] == ["red", "green"]


@pytest.mark.parametrize(
    ("kind", "component"),
    [
        ("text", "Textbox"),
        ("json", "Code"),
        ("image", "Image"),
        ("audio", "Audio"),
        ("video", "Video"),
        ("file", "File"),
    ],
)
@pytest.mark.anyio
async def test_input_kind_annotation_picks_the_input_component(
    ctx_for: Any, kind: str, component: str
) -> None:
    blocks = registry.build(ctx_for(service(annotations={f"{P}input": kind})))
    first_input = next(c for c in components(blocks) if type(c).__name__ not in _LAYOUT)
    assert type(first_input).__name__ == component


_LAYOUT = {"Markdown", "Row", "Column", "Form", "Group"}


@pytest.mark.parametrize(
    ("kind", "component"),
    [
        ("text", "Textbox"),
        ("json", "JSON"),
        ("image", "Image"),
        ("audio", "Audio"),
        ("video", "Video"),
        ("file", "File"),
    ],
)
@pytest.mark.anyio
async def test_output_kind_annotation_makes_that_output_visible(
    ctx_for: Any, kind: str, component: str
) -> None:
    blocks = registry.build(ctx_for(service(annotations={f"{P}output": kind})))
    visible = [c for c in components(blocks) if getattr(c, "label", None) == "Result" and c.visible]
    assert [type(c).__name__ for c in visible] == [component]


@pytest.mark.anyio
async def test_async_service_gets_job_log_and_cancel_button(ctx_for: Any) -> None:
    blocks = registry.build(ctx_for(service(**BUCKETS)))
    (log,) = [c for c in of_type(blocks, "Textbox") if c.label == "Job log"]
    (cancel,) = [c for c in of_type(blocks, "Button") if c.value == "Cancel"]
    assert log.visible and cancel.visible
    run_event = next(fn for fn in blocks.fns.values() if fn.api_name == "predict")
    assert any(fn.cancels for fn in blocks.fns.values())
    assert run_event.concurrency_limit == 2


@pytest.mark.anyio
async def test_concurrency_annotation_and_queue_settings_reach_the_queue(ctx_for: Any) -> None:
    blocks = registry.build(ctx_for(service(annotations={f"{P}concurrency": "5"})))
    run_event = next(fn for fn in blocks.fns.values() if fn.api_name == "predict")
    assert run_event.concurrency_limit == 5
    assert blocks._queue.max_size == Settings(demo=True).ui.max_queue


@pytest.mark.anyio
async def test_title_description_article_and_examples_are_shown(ctx_for: Any) -> None:
    notes = {
        f"{P}title": "Echo",
        f"{P}description": "Says it back",
        f"{P}article": "Footnote here",
        f"{P}examples": '["hello", "bye"]',
    }
    blocks = registry.build(ctx_for(service(annotations=notes)))
    texts = " ".join(str(c.value) for c in of_type(blocks, "Markdown"))
    assert "# Echo" in texts and "Says it back" in texts and "Footnote here" in texts
    assert blocks.title == "Echo"
    (dataset,) = of_type(blocks, "Dataset")
    assert [row[0] for row in dataset.raw_samples] == ["hello", "bye"]


@pytest.mark.parametrize(
    ("name", "api_name", "component"),
    [
        ("cowsay", "cowsay", "Code"),
        ("classify", "classify", "Label"),
        ("text-to-image", "generate", "Gallery"),
    ],
)
@pytest.mark.anyio
async def test_custom_ui_found_by_service_name(
    ctx_for: Any, name: str, api_name: str, component: str
) -> None:
    svc = service(name)
    assert registry.api_name(parse_spec(svc)) == api_name
    blocks = registry.build(ctx_for(svc))
    assert of_type(blocks, component)
    assert any(fn.api_name == api_name for fn in blocks.fns.values())


@pytest.mark.anyio
async def test_text_to_image_has_prompt_negative_steps_seed(ctx_for: Any) -> None:
    svc = service("sd", annotations={f"{P}ui": "text-to-image"})
    blocks = registry.build(ctx_for(svc))
    labels = {getattr(c, "label", None) for c in components(blocks)}
    assert {"Prompt", "Negative prompt", "Steps", "Seed (-1: random)", "Images"} <= labels


@pytest.mark.anyio
async def test_unknown_custom_ui_falls_back_to_generic_and_says_so(ctx_for: Any) -> None:
    ctx = ctx_for(service(annotations={f"{P}ui": "no-such-ui"}))
    blocks = registry.build(ctx)
    assert any("no-such-ui" in p for p in ctx.spec.problems)
    assert any("no-such-ui" in str(c.value) for c in of_type(blocks, "Markdown"))


def test_payloads_are_typed_and_wrong_input_is_refused() -> None:
    spec = parse_spec(service(annotations={f"{P}input-schema": json.dumps(SCHEMA)}))
    assert form_payload(spec.fields, ["Bo", 4.0, None, False, "red"]) == {
        "name": "Bo",
        "count": 4,
        "loud": False,
        "colour": "red",
    }
    with pytest.raises(Exception, match="'name' is required"):
        form_payload(spec.fields, ["", 4, None, False, "red"])
    with pytest.raises(Exception, match="JSON object"):
        json_object("[1, 2]")
    with pytest.raises(Exception, match="Type some text"):
        single_payload(parse_spec(service()), "  ")


def test_render_picks_the_component_from_the_bytes() -> None:
    png = OutputFile("out.png", "image/png", b"\x89PNG\r\n\x1a\n....")
    assert render(Output(kind="file", files=[png]), "auto").kind == "image"
    assert render(Output(kind="text", text='{"a": 1}'), "auto").value == {"a": 1}
    listing = render(Output(kind="zip", files=[png, png]), "auto")
    assert listing.kind == "zip" and "2 files" in listing.value and len(listing.files) == 2
    mismatch = render(Output(kind="text", text="oops"), "image")
    assert mismatch.kind == "text" and "expected to return image" in mismatch.warning


def test_text_to_image_sends_json_to_the_stand_in_and_the_prompt_to_the_blog_service(
    ctx_for: Any,
) -> None:
    from uis.custom.text_to_image import request_data

    stand_in = ctx_for(service("text-to-image"))
    sent = request_data(stand_in, "a fox", "blurry", 30, 7)
    assert sent == {"prompt": "a fox", "negative_prompt": "blurry", "steps": 30, "seed": 7}
    blog = ctx_for(
        service(
            "stable-diffusion-tf",
            input=[{"path": "stablediff/input"}],
            output=[{"path": "stablediff/output"}],
            annotations={f"{P}ui": "text-to-image"},
        )
    )
    assert blog.spec.mode == "async"
    assert request_data(blog, "a fox", "blurry", 30, 7) == "a fox"

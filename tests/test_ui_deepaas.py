"""DEEPaaS models get the deepaas UI: recognised by annotation or script, its form from the schema.

Real ``Service`` objects (one of them the deepaas-demo example's definition)
and real Blocks; the help-probe path runs against OSCAR in
tests/test_ui_deepaas_browser.py.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from core.errors import InvalidInput, Unavailable
from core.settings import Settings
from oscar.client import OscarClient
from oscar.models import Service
from uis import registry
from uis.custom import deepaas as deepaas_ui
from uis.deepaas import PredictArgsCache, from_schema
from uis.deepaas.form import body_of
from uis.handlers import ServiceContext
from uis.spec import parse_spec

P = "oscar-gateway/"
DEMO = Path(__file__).parent.parent / "examples" / "services" / "deepaas-demo.yaml"
SCHEMA = {
    "properties": {
        "image": {"type": "string", "format": "binary", "contentMediaType": "image/png"},
        "top_k": {"type": "integer", "default": 3, "description": "How many labels"},
        "model": {"type": "string", "enum": ["mean-colour", "dominant-colour"]},
        "verbose": {"type": "boolean"},
        "note": {"type": "string", "default": "hi"},
        "weights": {"type": "string", "format": "binary"},
    },
    "required": ["image"],
}


def service(name: str = "svc", script: str = "echo hi", **fields: Any) -> Service:
    return Service.from_api({"name": name, "image": "img", "script": script, **fields})


def demo_service() -> Service:
    definition = yaml.safe_load(DEMO.read_text())["functions"]["oscar"][0]["oscar-local"]
    return Service.from_api(definition)


@pytest.fixture
def ctx_for() -> Iterator[Any]:
    settings = Settings(demo=True)
    oscar = OscarClient(httpx.AsyncClient(), settings.oscar)

    def make(svc: Service) -> ServiceContext:
        return ServiceContext(parse_spec(svc), oscar, settings, deepaas=PredictArgsCache())

    yield make


def test_a_script_running_deepaas_cli_gets_the_deepaas_ui() -> None:
    spec = parse_spec(demo_service())
    assert spec.deepaas and spec.custom_ui is None
    module, _ = registry.resolve(spec)
    assert module is deepaas_ui
    assert registry.api_name(spec) == deepaas_ui.API_NAME


def test_the_ui_annotation_picks_deepaas_for_any_script() -> None:
    spec = parse_spec(service("model", annotations={f"{P}ui": "deepaas"}))
    assert not spec.deepaas
    assert registry.resolve(spec)[0] is deepaas_ui


def test_other_services_and_an_explicit_other_ui_are_not_deepaas() -> None:
    plain = parse_spec(service("svc", script="python3 predict.py"))
    assert not plain.deepaas
    assert registry.resolve(plain)[0].__name__ == "uis.generated"
    chosen = parse_spec(
        service("m", script="deepaas-cli predict", annotations={f"{P}ui": "classify"})
    )
    assert registry.resolve(chosen)[0].__name__ == "uis.custom.classify"


@pytest.mark.anyio
async def test_schema_annotation_gives_one_field_per_argument_without_asking_oscar(
    ctx_for: Any,
) -> None:
    notes = {f"{P}ui": "deepaas", f"{P}deepaas-schema": json.dumps(SCHEMA)}
    svc = service("model", annotations=notes)
    ctx = ctx_for(svc)
    # OSCAR is not running: the schema is read from the annotation, no --help is asked.
    await registry.prepare(ctx, svc, auth="Bearer unused")
    blocks = registry.build(ctx)
    by_label = {getattr(c, "label", None): type(c).__name__ for c in blocks.blocks.values()}
    assert by_label["image (required)"] == "Image"
    assert by_label["top_k"] == "Number"
    assert by_label["model"] == "Dropdown"
    assert by_label["verbose"] == "Checkbox"
    assert by_label["note"] == "Textbox"
    assert by_label["weights"] == "File"
    assert by_label["Prediction"] == "JSON"
    (accordion,) = [c for c in blocks.blocks.values() if type(c).__name__ == "Accordion"]
    assert (accordion.label, accordion.open) == ("Full log", False)
    assert any(fn.api_name == "predict" for fn in blocks.fns.values())


@pytest.mark.anyio
async def test_building_without_prepare_says_the_arguments_were_not_asked(ctx_for: Any) -> None:
    with pytest.raises(Unavailable, match="predict arguments of 'deepaas-demo' were not asked"):
        registry.build(ctx_for(demo_service()))


def test_body_types_the_values_and_refuses_a_missing_required_file() -> None:
    parsed = from_schema(json.dumps(SCHEMA))
    values = [None, 2.0, "dominant-colour", False, "", None]
    with pytest.raises(InvalidInput, match="Upload the image first"):
        body_of(parsed, values)
    optional = tuple(a for a in parsed if a.name != "image")
    assert body_of(optional, values[1:]) == {
        "top_k": 2,
        "model": "dominant-colour",
        "verbose": False,
    }

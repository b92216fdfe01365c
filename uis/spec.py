"""The annotation vocabulary: how an OSCAR service definition becomes a ``UISpec``.

An OSCAR admin shapes a service's UI with ``annotations`` on the service
(OSCAR copies them verbatim, oscar-api.md §3); nothing here imports gradio:

    oscar-gateway/ui            name of a custom UI in ``uis/custom/``
    oscar-gateway/mode          sync | async
    oscar-gateway/input         text | json | image | audio | video | file
    oscar-gateway/input-schema  JSON Schema object -> form fields (sent as a JSON object)
    oscar-gateway/output        text | json | image | audio | video | file | zip
    oscar-gateway/title, oscar-gateway/description, oscar-gateway/article
    oscar-gateway/examples      JSON list of examples (one value, or a list per example)
    oscar-gateway/concurrency   queue concurrency limit of this service's UI

A wrong value never breaks the UI: it falls back to the default and is
listed in ``UISpec.problems`` (shown to the user, so the admin can fix it).
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Literal

from oscar.models import Service

PREFIX = "oscar-gateway/"
InputKind = Literal["text", "json", "image", "audio", "video", "file"]
OutputKind = Literal["auto", "text", "json", "image", "audio", "video", "file", "zip"]
Mode = Literal["sync", "async"]
FieldKind = Literal["string", "number", "integer", "boolean", "enum"]

INPUT_KINDS: tuple[InputKind, ...] = ("text", "json", "image", "audio", "video", "file")
OUTPUT_KINDS: tuple[OutputKind, ...] = ("text", "json", "image", "audio", "video", "file", "zip")
MODES: tuple[Mode, ...] = ("sync", "async")
# Fields of the definition that change on every read and say nothing about the UI.
_VOLATILE = ("token", "storage_providers", "creation_time", "clusterID")


@dataclass(frozen=True)
class FormField:
    """One input of a schema-driven form (a property of ``input-schema``)."""

    name: str
    kind: FieldKind
    label: str
    default: Any = None
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[Any, ...] = ()
    required: bool = False


@dataclass(frozen=True)
class UISpec:
    """Everything a builder needs to know about one service's UI."""

    service: str
    mode: Mode
    input: InputKind
    output: OutputKind
    title: str
    description: str = ""
    article: str = ""
    custom_ui: str | None = None
    # The script runs ``deepaas-cli``: a DEEPaaS model (``uis/custom/deepaas.py``).
    deepaas: bool = False
    fields: tuple[FormField, ...] = ()
    examples: tuple[Any, ...] = ()
    concurrency: int | None = None
    definition_hash: str = ""
    problems: tuple[str, ...] = field(default=())
    # The vocabulary keys the service's annotations set (the rest are defaults).
    declared: frozenset[str] = frozenset()

    @property
    def is_form(self) -> bool:
        return bool(self.fields)


def parse_spec(service: Service) -> UISpec:
    """The UI spec of ``service``: its annotations, with defaults taken from the definition."""
    notes = {k[len(PREFIX) :]: v for k, v in service.annotations.items() if k.startswith(PREFIX)}
    problems: list[str] = []
    fields = _schema_fields(notes.get("input-schema"), problems)
    mode = _choice(notes, "mode", MODES, default_mode(service), problems)
    input_default: InputKind = "json" if fields else default_input(service, mode)
    return UISpec(
        service=service.name,
        mode=mode,
        input=_choice(notes, "input", INPUT_KINDS, input_default, problems),
        output=_choice(notes, "output", OUTPUT_KINDS, "auto", problems),
        title=notes.get("title", "").strip() or service.name,
        description=notes.get("description", "").strip(),
        article=notes.get("article", "").strip(),
        custom_ui=notes.get("ui", "").strip() or None,
        deepaas=calls_deepaas_cli(service),
        fields=fields,
        examples=_examples(notes.get("examples"), problems),
        concurrency=_concurrency(notes.get("concurrency"), problems),
        definition_hash=definition_hash(service),
        problems=tuple(problems),
        declared=frozenset(notes),
    )


def calls_deepaas_cli(service: Service) -> bool:
    """True when the service's script runs ``deepaas-cli`` (AI4EOSC's DEEPaaS models)."""
    return "deepaas-cli" in str(service.raw.get("script") or "")


def default_mode(service: Service) -> Mode:
    """Async when input and output buckets exist and no warm sync path does, else sync.

    OSCAR triggers a job for each upload to an input folder (oscar-api.md §5);
    ``synchronous.min_scale > 0`` keeps a Knative pod warm for ``/run``, which makes
    the sync path the usable one even for a bucket-triggered service.
    """
    if not (service.input and service.output):
        return "sync"
    sync = service.raw.get("synchronous") or {}
    warm = isinstance(sync, dict) and _as_int(sync.get("min_scale")) > 0
    return "sync" if warm else "async"


def default_input(service: Service, mode: Mode) -> InputKind:
    """``INPUT_TYPE`` from the service's variables when it names a kind, else text/file."""
    declared = service.environment.variables.get("INPUT_TYPE", "").strip().lower()
    if declared in INPUT_KINDS:
        return declared
    return "file" if mode == "async" else "text"


def definition_hash(service: Service) -> str:
    """A short hash of the definition; a new one means the UI must be rebuilt."""
    data = service.raw or service.model_dump()
    stable = {k: v for k, v in data.items() if k not in _VOLATILE}
    digest = hashlib.sha256(json.dumps(stable, sort_keys=True, default=str).encode())
    return digest.hexdigest()[:16]


def _choice(
    notes: dict[str, str], key: str, allowed: tuple[Any, ...], default: Any, problems: list[str]
) -> Any:
    value = notes.get(key, "").strip().lower()
    if not value:
        return default
    if value not in allowed:
        problems.append(f"{PREFIX}{key}: {value!r} is not one of {', '.join(allowed)}")
        return default
    return value


def _examples(raw: str | None, problems: list[str]) -> tuple[Any, ...]:
    if not raw:
        return ()
    try:
        value = json.loads(raw)
    except json.JSONDecodeError as exc:
        problems.append(f"{PREFIX}examples is not valid JSON ({exc.msg})")
        return ()
    if not isinstance(value, list):
        problems.append(f"{PREFIX}examples must be a JSON list")
        return ()
    return tuple(value)


def _concurrency(raw: str | None, problems: list[str]) -> int | None:
    if not raw:
        return None
    value = _as_int(raw)
    if value < 1:
        problems.append(f"{PREFIX}concurrency must be a positive integer, not {raw!r}")
        return None
    return value


def _schema_fields(raw: str | None, problems: list[str]) -> tuple[FormField, ...]:
    if not raw:
        return ()
    try:
        schema = json.loads(raw)
    except json.JSONDecodeError as exc:
        problems.append(f"{PREFIX}input-schema is not valid JSON ({exc.msg})")
        return ()
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict) or not props:
        problems.append(f"{PREFIX}input-schema needs an object with 'properties'")
        return ()
    required = set(schema.get("required") or [])
    fields = [_field(name, prop, name in required, problems) for name, prop in props.items()]
    return tuple(f for f in fields if f is not None)


def _field(name: str, prop: Any, required: bool, problems: list[str]) -> FormField | None:
    if not isinstance(prop, dict):
        problems.append(f"{PREFIX}input-schema: property {name!r} is not an object")
        return None
    kind = _field_kind(prop)
    if kind is None:
        problems.append(f"{PREFIX}input-schema: property {name!r} has unsupported type")
        return None
    return FormField(
        name=name,
        kind=kind,
        label=str(prop.get("title") or name),
        default=prop.get("default"),
        description=str(prop.get("description") or ""),
        minimum=_as_float(prop.get("minimum")),
        maximum=_as_float(prop.get("maximum")),
        choices=tuple(prop.get("enum") or ()),
        required=required,
    )


def _field_kind(prop: dict[str, Any]) -> FieldKind | None:
    if isinstance(prop.get("enum"), list) and prop["enum"]:
        return "enum"
    kind = prop.get("type", "string")
    if kind in ("string", "number", "integer", "boolean"):
        return kind
    return None


def _as_int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _as_float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None

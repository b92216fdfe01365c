"""A DEEPaaS model's predict arguments, from a schema annotation or from its ``--help``.

``oscar-gateway/deepaas-schema``: a JSON Schema object of the arguments
(``properties``, ``required``); a file argument is ``{"type": "string", "format":
"binary"}`` as in DEEPaaS's OpenAPI, with ``contentMediaType`` ``image/*``,
``audio/*`` or ``video/*`` to get an image, audio or video input.

The help is argparse's (``deepaas-cli predict --help``): per option its name,
its metavar (``{a,b}`` lists the choices), and in the help text ``Type: <t>``
(int, float, bool, str, file, image, audio, video), ``(default: <v>)`` and
``(required)``.
"""

from __future__ import annotations

import ast
import json
import re
from dataclasses import dataclass
from typing import Any, Literal

ArgKind = Literal[
    "string", "number", "integer", "boolean", "enum", "file", "image", "audio", "video"
]
FILE_KINDS = ("file", "image", "audio", "video")
_TYPES: dict[str, ArgKind] = {
    "int": "integer",
    "integer": "integer",
    "float": "number",
    "number": "number",
    "bool": "boolean",
    "boolean": "boolean",
    "str": "string",
    "string": "string",
    "file": "file",
    "image": "image",
    "audio": "audio",
    "video": "video",
}
_OPTION = re.compile(
    r"^\s{2}(?:-\w, )?--(?P<name>\w[\w-]*)(?: (?P<metavar>\S+))?(?:\s{2,}(?P<help>.*))?$"
)
_TYPE = re.compile(r"Type: (\w+)")
_DEFAULT = re.compile(r"\(default: (.*?)\)(?!.*\(default:)")
_SKIP = {"help", "deepaas_method_output"}


@dataclass(frozen=True)
class PredictArg:
    """One predict argument of a DEEPaaS model."""

    name: str
    kind: ArgKind
    default: Any = None
    choices: tuple[Any, ...] = ()
    description: str = ""
    required: bool = False

    @property
    def is_file(self) -> bool:
        return self.kind in FILE_KINDS


def arg_schema(arg: PredictArg) -> dict[str, Any]:
    """The JSON Schema of a non-file argument."""
    kind: str = "string" if arg.kind == "enum" else arg.kind
    if arg.kind == "enum" and arg.choices:
        kind = _json_type(arg.choices[0])
    schema: dict[str, Any] = {"type": kind}
    if arg.choices:
        schema["enum"] = list(arg.choices)
    if arg.default is not None:
        schema["default"] = arg.default
    if arg.description:
        schema["description"] = arg.description
    return schema


def _json_type(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return "number" if isinstance(value, float) else "string"


def from_schema(raw: str) -> tuple[PredictArg, ...]:
    """The arguments of a ``deepaas-schema`` annotation; ValueError when it is not one."""
    schema = json.loads(raw)
    props = schema.get("properties") if isinstance(schema, dict) else None
    if not isinstance(props, dict) or not props:
        raise ValueError("the schema needs an object with 'properties'")
    required = set(schema.get("required") or [])
    return tuple(_schema_arg(name, p, name in required) for name, p in props.items())


def _schema_arg(name: str, prop: Any, required: bool) -> PredictArg:
    if not isinstance(prop, dict):
        raise ValueError(f"property {name!r} is not an object")
    kind: ArgKind = _TYPES.get(str(prop.get("type", "string")), "string")
    if prop.get("format") == "binary":
        media = str(prop.get("contentMediaType", ""))
        kind = next((k for k in ("image", "audio", "video") if media.startswith(k)), "file")
    choices = tuple(prop.get("enum") or ())
    return PredictArg(
        name=name,
        kind="enum" if choices else kind,
        default=prop.get("default"),
        choices=choices,
        description=str(prop.get("description") or prop.get("title") or ""),
        required=required,
    )


def from_help(text: str) -> tuple[PredictArg, ...]:
    """The options of argparse's help output (continuation lines joined)."""
    options: list[tuple[str, str, str]] = []
    for line in text.splitlines():
        match = _OPTION.match(line)
        if match:
            options.append((match["name"], match["metavar"] or "", match["help"] or ""))
        elif options and line.startswith("    ") and line.strip():
            name, metavar, help_text = options[-1]
            options[-1] = (name, metavar, f"{help_text} {line.strip()}".strip())
        elif options and not line.strip():
            continue
    return tuple(_help_arg(*o) for o in options if o[0] not in _SKIP)


def _help_arg(name: str, metavar: str, help_text: str) -> PredictArg:
    typed = _TYPE.search(help_text)
    kind: ArgKind = _TYPES.get(typed.group(1).lower(), "string") if typed else "string"
    default_match = _DEFAULT.search(help_text)
    default = _literal(default_match.group(1)) if default_match else None
    choices: tuple[Any, ...] = ()
    if metavar.startswith("{") and metavar.endswith("}"):
        choices = tuple(_typed(c, kind) for c in metavar[1:-1].split(","))
    description = _TYPE.sub("", _DEFAULT.sub("", help_text)).replace("(required)", "")
    return PredictArg(
        name=name,
        kind="enum" if choices else kind,
        default=None if default == "None" else default,
        choices=choices,
        description=" ".join(description.split()).rstrip(". ") if description.strip() else "",
        required="(required)" in help_text,
    )


def _literal(text: str) -> Any:
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def _typed(text: str, kind: ArgKind) -> Any:
    if kind == "integer":
        return int(text) if text.lstrip("-").isdigit() else text
    if kind == "number":
        try:
            return float(text)
        except ValueError:
            return text
    return text

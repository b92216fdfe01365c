"""Service definitions: FDL (YAML) and JSON files, validation and OSCAR's normalisation.

FDL wraps service definitions as ``functions: oscar: - <cluster-id>: {...}``;
the API takes one definition as JSON.  Normalisation follows oscar-api.md §3.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml

from oscar_local.errors import BadRequest

# Kubernetes names services after ``name``: a DNS label of at most 39 characters in OSCAR.
_NAME = re.compile(r"^[a-z0-9]([-a-z0-9]{0,37}[a-z0-9])?$")
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
VISIBILITIES = ("private", "restricted", "public")
_DEFAULTS = {"memory": "256Mi", "cpu": "0.2", "visibility": "private", "log_level": "INFO"}
_FILE_SUFFIXES = (".yaml", ".yml", ".json")


def load_paths(paths: list[Path]) -> list[dict[str, Any]]:
    """Every definition in the given FDL/JSON files or folders of them, in name order."""
    definitions: list[dict[str, Any]] = []
    for path in paths:
        files = (
            sorted(p for p in path.iterdir() if p.suffix in _FILE_SUFFIXES)
            if path.is_dir()
            else [path]
        )
        for file in files:
            definitions.extend(load_file(file))
    return definitions


def load_file(path: Path) -> list[dict[str, Any]]:
    document = yaml.safe_load(path.read_text(encoding="utf-8"))
    definitions = unwrap(document)
    for definition in definitions:
        _inline_script(definition, path.parent)
    return definitions


def unwrap(document: Any) -> list[dict[str, Any]]:
    """The service definitions in an FDL document, or the document itself when it is one."""
    if isinstance(document, list):
        return [d for item in document for d in unwrap(item)]
    if not isinstance(document, dict):
        raise BadRequest("a service definition must be a JSON/YAML object")
    functions = document.get("functions")
    if not isinstance(functions, dict):
        return [document]
    definitions: list[dict[str, Any]] = []
    for entry in functions.get("oscar") or []:
        # each entry maps a cluster id to a service definition
        definitions.extend(v for v in (entry or {}).values() if isinstance(v, dict))
    return definitions


def _inline_script(definition: dict[str, Any], base: Path) -> None:
    # oscar-cli reads ``script`` as a path next to the FDL; our demo FDLs inline it.
    script = definition.get("script")
    if isinstance(script, str) and "\n" not in script and (base / script).is_file():
        definition["script"] = (base / script).read_text(encoding="utf-8")


def parse_json_body(body: bytes) -> dict[str, Any]:
    try:
        document = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BadRequest(f"the service definition is not valid JSON: {exc}") from exc
    if not isinstance(document, dict):
        raise BadRequest("the service definition must be a JSON object")
    return document


def validate(definition: dict[str, Any]) -> None:
    for field in ("name", "image", "script"):
        value = definition.get(field)
        if not isinstance(value, str) or not value.strip():
            raise BadRequest(f"missing required field '{field}'")
    if not _NAME.match(definition["name"]):
        raise BadRequest(
            f"invalid service name '{definition['name']}': use 1-39 lowercase letters, digits"
            " and '-', starting and ending with a letter or digit"
        )
    visibility = definition.get("visibility") or "private"
    if visibility not in VISIBILITIES:
        raise BadRequest(f"invalid visibility '{visibility}': one of {', '.join(VISIBILITIES)}")
    for field in ("input", "output"):
        if not isinstance(definition.get(field) or [], list):
            raise BadRequest(f"'{field}' must be a list of storage paths")


def normalise(definition: dict[str, Any], *, cluster_minio: dict[str, Any]) -> dict[str, Any]:
    """A validated copy with OSCAR's defaults filled in (oscar-api.md §3)."""
    validate(definition)
    service = dict(definition)
    name = service["name"]
    for key, default in _DEFAULTS.items():
        service[key] = str(service.get(key) or default)
    service["input"] = [_storage_path(p, name) for p in service.get("input") or []]
    service["output"] = [_storage_path(p, name) for p in service.get("output") or []]
    service["environment"] = _environment(service.get("environment"))
    service["annotations"] = _string_map(service.get("annotations"))
    service["labels"] = {**_string_map(service.get("labels")), "oscar_service": name}
    service["allowed_users"] = [str(u) for u in service.get("allowed_users") or []]
    service["synchronous"] = service.get("synchronous") or {"min_scale": 0, "max_scale": 0}
    providers = dict(service.get("storage_providers") or {})
    # minio.default is always overwritten with the cluster's MinIO, keys hidden
    providers["minio"] = {**(providers.get("minio") or {}), "default": cluster_minio}
    service["storage_providers"] = providers
    return service


def _storage_path(entry: Any, name: str) -> dict[str, Any]:
    if not isinstance(entry, dict) or not isinstance(entry.get("path"), str):
        raise BadRequest("each input/output entry needs a 'path' string")
    path = entry["path"].strip().strip("/").strip()
    if not path:
        raise BadRequest("an input/output path is empty")
    if "/" not in path:
        # OSCAR: a path without '/' gets the service name as bucket ("in" -> "<name>/in")
        path = f"{name}/{path}"
    bucket = path.split("/", 1)[0]
    if not _BUCKET.match(bucket):
        raise BadRequest(
            f"invalid bucket name '{bucket}' in path '{path}': S3 bucket names have 3-63"
            " lowercase letters, digits, '.' and '-'"
        )
    normalised = {
        **entry,
        "storage_provider": entry.get("storage_provider") or "minio.default",
        "path": path,
    }
    for key in ("suffix", "prefix"):
        if key in entry:
            normalised[key] = [str(v) for v in entry[key] or []]
    return normalised


def _environment(value: Any) -> dict[str, Any]:
    # before v3.4 the keys were capitalised; OSCAR matches them case-insensitively
    found = {str(k).lower(): v for k, v in (value or {}).items()} if isinstance(value, dict) else {}
    variables = _string_map(found.get("variables"))
    secrets = _string_map(found.get("secrets"))
    return {"variables": variables, "secrets": secrets or None}


def _string_map(value: Any) -> dict[str, str]:
    if not isinstance(value, dict):
        return {}
    return {str(k): "" if v is None else str(v) for k, v in value.items()}


def split_path(path: str) -> tuple[str, str]:
    """``bucket/folder/sub`` -> (``bucket``, ``folder/sub``)."""
    bucket, _, folder = path.partition("/")
    return bucket, folder

"""What a DEEPaaS service is sent, and what its log says back.

The request is the JSON object its script expects: the predict arguments by
name, and ``"oscar-files"`` entries ``{"key", "file_format", "data"}`` for the
file arguments.  The answer is the script's log; the prediction is the last
line holding a JSON or Python-literal object (DEEPaaS prints the latter), and
a failed run is told by the model's own last error line.
"""

from __future__ import annotations

import ast
import base64
import json
from typing import Any

from uis.deepaas.arguments import PredictArg

FileValue = tuple[bytes, str]  # (bytes, file name)


def request_body(
    args: tuple[PredictArg, ...], values: dict[str, Any], files: dict[str, FileValue]
) -> dict[str, Any]:
    """The JSON object the DEEPaaS script turns into ``deepaas-cli predict`` options."""
    body: dict[str, Any] = {}
    for arg in args:
        value = values.get(arg.name)
        if arg.is_file or value is None or value == "":
            continue
        body[arg.name] = int(value) if arg.kind == "integer" and _is_integral(value) else value
    entries = [
        {"key": name, "file_format": _extension(filename), "data": base64.b64encode(data).decode()}
        for name, (data, filename) in files.items()
    ]
    if entries:
        body["oscar-files"] = entries
    return body


def _is_integral(value: Any) -> bool:
    return (
        isinstance(value, int | float) and not isinstance(value, bool) and float(value).is_integer()
    )


def _extension(filename: str) -> str:
    return filename.rsplit(".", 1)[-1].lower() if "." in filename else ""


def prediction(log: str) -> Any | None:
    """The last JSON / Python-literal object or list in the log, or None."""
    for line in reversed(log.splitlines()):
        text = line.strip()
        if not text.startswith(("{", "[")):
            continue
        for parse in (json.loads, ast.literal_eval):
            try:
                value = parse(text)
            except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
                continue
            if isinstance(value, dict | list):
                return value
    return None


def model_error(log: str) -> str:
    """The model's own error: its last ``error:`` line, else the log's last line."""
    lines = [line.strip() for line in log.splitlines() if line.strip()]
    for line in reversed(lines):
        lowered = line.lower()
        if "error:" in lowered or lowered.startswith(("error", "traceback")):
            return line
    return lines[-1] if lines else "The model answered nothing."


def job_answer(files: list[tuple[str, str]], job_log: list[str]) -> tuple[Any | None, str]:
    """(prediction, log) of an async run: its ``<name>.json`` and ``<name>.log`` outputs.

    ``files`` are (name, text) pairs of the output folder's objects for this input;
    without a ``.log`` file the job's own log stands in.
    """
    texts = dict(files)
    log = next((t for n, t in texts.items() if n.endswith(".log")), "\n".join(job_log))
    for name, text in texts.items():
        if name.endswith(".json"):
            try:
                return json.loads(text), log
            except ValueError:
                continue
    return prediction(log), log

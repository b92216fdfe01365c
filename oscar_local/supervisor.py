"""One invocation as faas-supervisor performs it: input, script, output (oscar-api.md §4-5)."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import anyio

from oscar_local.errors import GatewayTimeout, StorageError, SupervisorError
from oscar_local.fdl import split_path
from oscar_local.payloads import DecodedBody, decode_body, encode_output, output_files
from oscar_local.runner import SupervisorLog, Workspace, run_script, script_environment, workspace
from oscar_local.storage import Storage


@dataclass(frozen=True)
class JobOutcome:
    failed: bool


async def run_sync(
    service: dict[str, Any], body: bytes, storage: Storage, *, limit_seconds: float
) -> bytes:
    """The body ``/run`` answers with; raises SupervisorError (500) when the supervisor fails."""
    decoded = decode_body(body)
    log = SupervisorLog(level=service.get("log_level", "INFO"))
    with workspace() as ws:
        try:
            env = await _prepare(service, decoded, ws, storage, log, raw_event=None)
        except StorageError as exc:
            raise SupervisorError(f"exit status 1\n{exc.message}\n") from exc
        log.info("Executing user script")
        result = await run_script(service, ws, env, limit_seconds=limit_seconds)
        if result.timed_out:
            raise GatewayTimeout(f"the service did not answer within {limit_seconds:g} s")
        log.info(f"Script finished with exit code {result.exit_code}")
        # supervisor log lines are mixed into the response unless log_level is CRITICAL
        return log.text().encode() + encode_output(ws.output_dir, result.console)


async def run_job(
    service: dict[str, Any],
    body: bytes,
    storage: Storage,
    *,
    limit_seconds: float,
    emit: Callable[[str], None],
) -> JobOutcome:
    """Run one batch job, ``emit``-ing its log as it goes.

    A failing script still succeeds; a download/upload failure or the time limit fails the job.
    """
    log = SupervisorLog(level="INFO", sink=emit)
    with workspace() as ws:
        try:
            decoded = decode_body(body)
            env = await _prepare(service, decoded, ws, storage, log, raw_event=body)
        except (SupervisorError, StorageError) as exc:
            log.error(exc.message.strip())
            return JobOutcome(failed=True)
        log.info("Executing user script")
        result = await run_script(
            service,
            ws,
            env,
            limit_seconds=limit_seconds,
            on_output=lambda chunk: emit(chunk.decode("utf-8", errors="replace")),
        )
        if result.timed_out:
            log.error(f"Job killed: it exceeded its time limit of {limit_seconds:g} s")
            return JobOutcome(failed=True)
        log.info(f"Script finished with exit code {result.exit_code}")
        try:
            await _upload_outputs(service, ws.output_dir, storage, log)
        except StorageError as exc:
            log.error(exc.message)
            return JobOutcome(failed=True)
        return JobOutcome(failed=False)


async def _prepare(
    service: dict[str, Any],
    decoded: DecodedBody,
    ws: Workspace,
    storage: Storage,
    log: SupervisorLog,
    *,
    raw_event: bytes | None,
) -> dict[str, str]:
    """Write the input file and return the script's environment."""
    extra = {"JOB_UUID": str(uuid.uuid4())}
    if decoded.event is not None:
        event = decoded.event
        input_path = ws.input_dir / (PurePosixPath(event.key).name or "input")
        log.info(f"Downloading item from bucket '{event.bucket}' with key '{event.key}'")
        await anyio.to_thread.run_sync(storage.download, event.bucket, event.key, input_path)
        log.info(f"Successful download of file '{event.key}' in path '{input_path}'")
        extra["STORAGE_OBJECT_KEY"] = event.key
    else:
        # OSCAR: /run and direct /job inputs are $TMP_INPUT_DIR/event-file-<uuid>, no extension
        input_path = ws.input_dir / f"event-file-{uuid.uuid4()}"
        input_path.write_bytes(decoded.data or b"")
        log.info(f"Received a payload of {len(decoded.data or b'')} bytes")
    extra["INPUT_FILE_PATH"] = str(input_path)
    if raw_event is not None:
        extra["EVENT"] = raw_event.decode("utf-8", errors="replace")
    return script_environment(service, ws, extra)


def passes_filters(output: dict[str, Any], name: str) -> bool:
    suffixes = output.get("suffix") or []
    prefixes = output.get("prefix") or []
    base = PurePosixPath(name).name
    suffix_ok = not suffixes or any(base.endswith(s) for s in suffixes)
    prefix_ok = not prefixes or any(base.startswith(p) for p in prefixes)
    return suffix_ok and prefix_ok


async def _upload_outputs(
    service: dict[str, Any], output_dir: Path, storage: Storage, log: SupervisorLog
) -> None:
    """Each output file to every output whose filters it passes, at ``<folder>/<relative>``."""
    for file in output_files(output_dir):
        relative = file.relative_to(output_dir).as_posix()
        for output in service.get("output") or []:
            if not passes_filters(output, relative):
                continue
            bucket, folder = split_path(output["path"])
            key = f"{folder}/{relative}" if folder else relative
            log.info(f"Uploading file '{file}' to bucket '{bucket}' with key '{key}'")
            await anyio.to_thread.run_sync(storage.upload, file, bucket, key)
            log.info(
                f"Successful upload of file '{relative}' to bucket '{bucket}' with key '{key}'"
            )

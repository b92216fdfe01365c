"""Run a service's script as a real subprocess with the supervisor's environment (oscar-api.md §4).

The ``image`` of a service is recorded, never pulled: the script runs on this
machine, under ``/bin/sh`` or its own shebang, with the interpreter that runs
oscar-local first on ``PATH`` (so ``python3`` in a script has Pillow).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import stat
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

_LOG_LEVELS = {"DEBUG": 10, "INFO": 20, "WARNING": 30, "ERROR": 40, "CRITICAL": 50}


@dataclass
class SupervisorLog:
    """Lines in faas-supervisor's format (``time - supervisor - LEVEL - message``)."""

    level: str = "INFO"
    lines: list[str] = field(default_factory=list)
    sink: Callable[[str], None] | None = None  # gets each line as it is logged (job logs)

    def info(self, message: str) -> None:
        self._add("INFO", message)

    def error(self, message: str) -> None:
        self._add("ERROR", message)

    def _add(self, level: str, message: str) -> None:
        if _LOG_LEVELS[level] >= _LOG_LEVELS.get(self.level.upper(), 20):
            stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S,%f")[:-3]
            line = f"{stamp} - supervisor - {level} - {message}"
            self.lines.append(line)
            if self.sink is not None:
                self.sink(f"{line}\n")

    def text(self) -> str:
        return "".join(f"{line}\n" for line in self.lines)


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def input_dir(self) -> Path:
        return self.root / "input"

    @property
    def output_dir(self) -> Path:
        return self.root / "output"


@contextlib.contextmanager
def workspace() -> Iterator[Workspace]:
    """Fresh TMP_INPUT_DIR and TMP_OUTPUT_DIR, removed afterwards."""
    root = Path(tempfile.mkdtemp(prefix="oscar-local-"))
    try:
        ws = Workspace(root)
        ws.input_dir.mkdir()
        ws.output_dir.mkdir()
        yield ws
    finally:
        shutil.rmtree(root, ignore_errors=True)


@dataclass(frozen=True)
class ScriptResult:
    console: bytes
    exit_code: int | None
    timed_out: bool


def script_environment(
    service: dict[str, Any], ws: Workspace, extra: dict[str, str]
) -> dict[str, str]:
    env = dict(os.environ)
    env["PATH"] = os.pathsep.join(
        [str(Path(sys.executable).parent), env.get("PATH", "/usr/bin:/bin")]
    )
    environment = service.get("environment") or {}
    env.update(environment.get("variables") or {})
    env.update(environment.get("secrets") or {})
    env.update(
        TMP_INPUT_DIR=str(ws.input_dir),
        TMP_OUTPUT_DIR=str(ws.output_dir),
        OSCAR_SERVICE_NAME=service["name"],
        OSCAR_SERVICE_TOKEN=service.get("token", ""),
        **extra,
    )
    return env


async def run_script(
    service: dict[str, Any],
    ws: Workspace,
    env: dict[str, str],
    *,
    limit_seconds: float,
    on_output: Callable[[bytes], None] | None = None,
) -> ScriptResult:
    """Run the script; kill its process group after ``limit_seconds`` or on cancellation.

    ``on_output`` receives the combined stdout/stderr as it comes (job logs follow it live).
    """
    script = ws.root / "script.sh"
    script.write_text(service["script"], encoding="utf-8")
    argv = [str(script)] if service["script"].startswith("#!") else ["/bin/sh", str(script)]
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
        cwd=ws.root,
        env=env,
        start_new_session=True,  # its own process group, so a timeout kills children too
    )
    try:
        console = await asyncio.wait_for(_collect(proc, on_output), limit_seconds)
    except TimeoutError:
        await _kill(proc)
        return ScriptResult(console=b"", exit_code=None, timed_out=True)
    except asyncio.CancelledError:
        await _kill(proc)
        raise
    return ScriptResult(console=console, exit_code=proc.returncode, timed_out=False)


async def _collect(
    proc: asyncio.subprocess.Process, on_output: Callable[[bytes], None] | None
) -> bytes:
    assert proc.stdout is not None
    chunks: list[bytes] = []
    while chunk := await proc.stdout.read(65536):
        chunks.append(chunk)
        if on_output is not None:
            on_output(chunk)
    await proc.wait()
    return b"".join(chunks)


async def _kill(proc: asyncio.subprocess.Process) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    await proc.wait()

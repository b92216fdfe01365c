"""Start a child process, wait until it says it is ready, stop it cleanly."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import threading
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Self


def free_port() -> int:
    """An ephemeral TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(port: int, *, host: str = "127.0.0.1", timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout} s")


@dataclass
class ManagedProcess:
    """A child process whose output is collected and scanned for a ready line.

    ``ready`` is a regular expression; its first group (if any) is kept as
    ``ready_value`` (typically the URL the process printed).
    """

    name: str
    argv: Sequence[str]
    ready: str
    env: dict[str, str] | None = None
    cwd: Path | None = None
    timeout: float = 60.0
    echo: bool = False
    ready_value: str = ""
    lines: deque[str] = field(default_factory=lambda: deque(maxlen=2000))
    _proc: subprocess.Popen[str] | None = None
    _ready_event: threading.Event = field(default_factory=threading.Event)
    _pump_thread: threading.Thread | None = None

    def start(self) -> ManagedProcess:
        env = {**os.environ, **(self.env or {})}
        env.setdefault("PYTHONUNBUFFERED", "1")
        self._ready_event.clear()
        self._proc = subprocess.Popen(
            list(self.argv),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
            env=env,
            cwd=self.cwd,
            start_new_session=True,
        )
        self._pump_thread = threading.Thread(target=self._pump, daemon=True)
        self._pump_thread.start()
        if not self._ready_event.wait(self.timeout):
            output = self.output()
            self.stop()
            raise RuntimeError(f"{self.name} did not become ready:\n{output}")
        if self._proc.poll() is not None:
            raise RuntimeError(f"{self.name} exited early:\n{self.output()}")
        return self

    def _pump(self) -> None:
        assert self._proc is not None and self._proc.stdout is not None
        pattern = re.compile(self.ready)
        for line in self._proc.stdout:
            self.lines.append(line.rstrip("\n"))
            if self.echo:
                print(f"[{self.name}] {line}", end="", flush=True)
            if not self._ready_event.is_set():
                match = pattern.search(line)
                if match:
                    self.ready_value = match.group(1) if match.groups() else match.group(0)
                    self._ready_event.set()
        # EOF: the child is gone; close our end so no ResourceWarning fires later.
        self._proc.stdout.close()
        self._ready_event.set()  # exited: unblock start(), which then reports the output

    def output(self) -> str:
        return "\n".join(self.lines)

    @property
    def pid(self) -> int:
        assert self._proc is not None
        return self._proc.pid

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, *, timeout: float = 10.0) -> None:
        """SIGTERM the process group, then SIGKILL what is left after ``timeout``."""
        if self._proc is not None and self._proc.poll() is None:
            self._signal(signal.SIGTERM)
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._signal(signal.SIGKILL)
                self._proc.wait(5)
        self._drain()

    def kill(self) -> None:
        """SIGKILL at once: a crash, for fault tests."""
        if self._proc is not None and self._proc.poll() is None:
            self._signal(signal.SIGKILL)
            self._proc.wait(5)
        self._drain()

    def _drain(self) -> None:
        # The pump closes the pipe at EOF; wait for it so no ResourceWarning fires later.
        if self._pump_thread is not None:
            self._pump_thread.join(5)

    def _signal(self, sig: int) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self._proc.pid, sig)

    def __enter__(self) -> ManagedProcess:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


class LocalServer:
    """A server of the local stack run as one child process.

    Subclasses say how to launch it (``launch()``) and may react once it is
    ready (``ready()``); start, stop, crash and restart are shared.
    ``output()`` keeps what every run printed, across restarts.
    """

    _process: ManagedProcess | None = None
    _earlier_output: tuple[str, ...] = ()

    def launch(self) -> ManagedProcess:
        raise NotImplementedError

    def ready(self, process: ManagedProcess) -> None:
        """Called once the process printed its ready line."""

    def start(self) -> Self:
        if self._process is not None:
            self._earlier_output = (*self._earlier_output, self._process.output())
        self._process = self.launch().start()
        self.ready(self._process)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def kill(self) -> None:
        """SIGKILL at once: the server is gone (for fault tests)."""
        if self._process is not None:
            self._process.kill()

    def restart(self) -> Self:
        """Stop and start again with the same port and settings."""
        self.stop()
        return self.start()

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    @property
    def pid(self) -> int:
        """The process id of the running server."""
        if self._process is None:
            raise RuntimeError("the server has not been started")
        return self._process.pid

    def output(self) -> str:
        """All the process printed so far, across restarts."""
        current = self._process.output() if self._process is not None else ""
        return "\n".join([*self._earlier_output, current])

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

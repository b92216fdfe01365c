"""A throwaway ``redis-server`` (Debian's) on a free port, with no persistence."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from devstack.processes import ManagedProcess, free_port


def _redis_server() -> str:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")
    if found is None:
        raise RuntimeError(
            "redis-server is not installed: run `make install` (Debian redis-server)"
        )
    return found


class RedisServer:
    """``redis-server`` on 127.0.0.1: ``url``, ``start()``, ``stop()``, ``kill()``."""

    def __init__(self, *, port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = Path(tempfile.mkdtemp(prefix="oscar-gateway-redis-"))
        self._process: ManagedProcess | None = None

    def start(self) -> RedisServer:
        argv = [
            _redis_server(),
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            # No persistence: nothing written, nothing loaded at restart.
            "--save", "",
            "--appendonly", "no",
            "--dir", str(self._dir),
            "--protected-mode", "yes",
        ]  # fmt: skip
        self._process = ManagedProcess(
            name="redis", argv=argv, ready=r"Ready to accept connections"
        ).start()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def kill(self) -> None:
        """SIGKILL: Redis is gone at once (for "Redis down" tests)."""
        if self._process is not None:
            self._process.kill()

    def restart(self) -> RedisServer:
        self.stop()
        return self.start()

    def output(self) -> str:
        return self._process.output() if self._process else ""

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

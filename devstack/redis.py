"""A throwaway ``redis-server`` (Debian's) on a free port, with no persistence."""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

from devstack.processes import LocalServer, ManagedProcess, free_port


def _redis_server() -> str:
    found = shutil.which("redis-server") or shutil.which("redis-server", path="/usr/sbin:/usr/bin")
    if found is None:
        raise RuntimeError(
            "redis-server is not installed: run `make install` (Debian redis-server)"
        )
    return found


class RedisServer(LocalServer):
    """``redis-server`` on 127.0.0.1: ``url``, ``start()``, ``stop()``, ``kill()``."""

    def __init__(self, *, port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self._dir = Path(tempfile.mkdtemp(prefix="oscar-gateway-redis-"))

    def launch(self) -> ManagedProcess:
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
        return ManagedProcess(name="redis", argv=argv, ready=r"Ready to accept connections")

    def __exit__(self, *exc: object) -> None:
        super().__exit__(*exc)
        shutil.rmtree(self._dir, ignore_errors=True)

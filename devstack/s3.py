"""moto's S3 server as its own process, so a test can stop the storage under a cluster.

``oscar-local serve --s3-endpoint URL`` uses it instead of its embedded S3
(``S3Server.oscar_args()``); ``stop()``/``start()`` take it away and bring it
back on the same port.  moto keeps objects in memory: a restart starts empty.
"""

from __future__ import annotations

import sys

from devstack.processes import ManagedProcess, free_port

# moto checks no credentials; these only have to be consistent.
ACCESS_KEY = "devstack"
SECRET_KEY = "devstack-secret"  # noqa: S105 - moto accepts any key


class S3Server:
    def __init__(self, *, port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._process: ManagedProcess | None = None

    def oscar_args(self) -> list[str]:
        """The ``oscar-local serve`` flags that point the cluster at this server."""
        return [
            "--s3-endpoint", self.url,
            "--s3-access-key", ACCESS_KEY,
            "--s3-secret-key", SECRET_KEY,
        ]  # fmt: skip

    def start(self) -> S3Server:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        self._process = ManagedProcess(
            name="s3", argv=argv, ready=r"Running on (http://\S+)", timeout=60
        ).start()
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()

    def kill(self) -> None:
        if self._process is not None:
            self._process.kill()

    def alive(self) -> bool:
        return self._process is not None and self._process.alive()

    def output(self) -> str:
        return self._process.output() if self._process else ""

    def __enter__(self) -> S3Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

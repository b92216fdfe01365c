"""moto's S3 server as its own process, so a test can stop the storage under a cluster.

``oscar-local serve --s3-endpoint URL`` uses it instead of its embedded S3
(``S3Server.oscar_args()``); ``stop()``/``start()`` take it away and bring it
back on the same port.  moto keeps objects in memory: a restart starts empty.
"""

from __future__ import annotations

import sys

from devstack.processes import LocalServer, ManagedProcess, free_port

# moto checks no credentials; these only have to be consistent.
ACCESS_KEY = "devstack"
SECRET_KEY = "devstack-secret"  # noqa: S105 - moto accepts any key


class S3Server(LocalServer):
    def __init__(self, *, port: int = 0) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"

    def oscar_args(self) -> list[str]:
        """The ``oscar-local serve`` flags that point the cluster at this server."""
        return [
            "--s3-endpoint", self.url,
            "--s3-access-key", ACCESS_KEY,
            "--s3-secret-key", SECRET_KEY,
        ]  # fmt: skip

    def launch(self) -> ManagedProcess:
        argv = [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)]
        return ManagedProcess(name="s3", argv=argv, ready=r"Running on (http://\S+)", timeout=60)

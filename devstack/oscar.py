"""``LocalOscar``: run ``oscar-local serve`` as a child process for the demo and the tests."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from devstack.processes import LocalServer, ManagedProcess, free_port

REPO = Path(__file__).resolve().parent.parent
DEMO_SERVICES = REPO / "examples" / "services"
READY = r"oscar-local ready at (http://\S+)"


class LocalOscar(LocalServer):
    """One oscar-local process; ``restart()`` keeps its data dir and port."""

    def __init__(
        self,
        *,
        data_dir: Path,
        services: Sequence[Path] | None = None,
        oidc_issuers: Sequence[str] = (),
        port: int = 0,
        extra_args: Sequence[str] = (),
        username: str = "oscar",
        password: str = "oscar",  # noqa: S107 - oscar-local's documented demo admin
        echo: bool = False,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.services = (
            list(services) if services is not None else sorted(DEMO_SERVICES.glob("*.yaml"))
        )
        self.oidc_issuers = list(oidc_issuers)
        self.port = port or free_port()
        self.extra_args = list(extra_args)
        self.username = username
        self.password = password
        self.url = f"http://127.0.0.1:{self.port}"
        self._echo = echo

    @property
    def admin_auth(self) -> tuple[str, str]:
        return (self.username, self.password)

    def argv(self) -> list[str]:
        argv = [sys.executable, "-m", "oscar_local", "serve", "--host", "127.0.0.1"]
        argv += ["--port", str(self.port), "--data-dir", str(self.data_dir)]
        argv += ["--username", self.username, "--password", self.password]
        if self.services:
            argv += ["--services", *map(str, self.services)]
        for issuer in self.oidc_issuers:
            argv += ["--oidc-issuer", issuer]
        return argv + self.extra_args

    def launch(self) -> ManagedProcess:
        return ManagedProcess(
            "oscar-local", self.argv(), READY, cwd=REPO, timeout=60.0, echo=self._echo
        )

    def ready(self, process: ManagedProcess) -> None:
        self.url = process.ready_value

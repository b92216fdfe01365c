"""The gateway as a real process: ``python -m gateway serve`` with GATEWAY_* settings.

``GatewayProcess(env={...})`` takes settings as environment variables, exactly
as a deployment gives them (``GATEWAY_OIDC__ISSUER`` ...).  ``url`` is where
it listens; ``public_url`` defaults to it.  ``output()`` is everything the
process printed (its logs), for tests that read them.
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from devstack.processes import LocalServer, ManagedProcess, free_port


def settings_env(settings: dict[str, Any]) -> dict[str, str]:
    """``{"oidc__issuer": "x"}`` → ``{"GATEWAY_OIDC__ISSUER": "x"}``."""
    env: dict[str, str] = {}
    for key, value in settings.items():
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list | dict):
            text = json.dumps(value)
        else:
            text = str(value)
        env[f"GATEWAY_{key.upper()}"] = text
    return env


_READY = r"Uvicorn running on (http://\S+)"


class GatewayProcess(LocalServer):
    def __init__(
        self,
        *,
        env: Mapping[str, str] | None = None,
        port: int = 0,
        echo: bool = False,
        timeout: float = 60.0,
        cwd: Path | None = None,
    ) -> None:
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Each process its own data dir (job store) unless told: never the user's real one.
        data_dir = str(cwd) if cwd else tempfile.mkdtemp(prefix="gateway-data-")
        self.env = {"GATEWAY_PUBLIC_URL": self.url, "GATEWAY_DATA_DIR": data_dir, **(env or {})}
        self.public_url = self.env["GATEWAY_PUBLIC_URL"]
        self.echo = echo
        self.timeout = timeout
        # The working directory: where a `.env` would be read and relative paths land.
        self.cwd = cwd

    def launch(self) -> ManagedProcess:
        argv = [sys.executable, "-m", "gateway", "serve", "--host", "127.0.0.1"]
        return ManagedProcess(
            name=f"gateway:{self.port}",
            argv=[*argv, "--port", str(self.port)],
            ready=_READY,
            env=dict(self.env),
            echo=self.echo,
            timeout=self.timeout,
            cwd=self.cwd,
        )

"""Debian's nginx in front of gateway processes, from ``deploy/nginx``'s template.

``Nginx(upstream_ports=[...])`` writes a complete configuration into a
temporary directory (pid file, logs and temp paths inside it), and runs
``nginx`` as a non-daemon child on a free port.  Tests, the demo and the
API stream use it; Docker Compose uses the same template through envsubst.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path

from devstack.processes import ManagedProcess, free_port, wait_for_port

TEMPLATE = (
    Path(__file__).resolve().parent.parent / "deploy" / "nginx" / "oscar-gateway.conf.template"
)
_PLACEHOLDER = re.compile(r"\$\{(NGINX_[A-Z_]+)\}")

_MAIN_CONF = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log stderr notice;
events {{ worker_connections 256; }}
http {{
    default_type application/octet-stream;
    access_log off;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    include {dir}/oscar-gateway.conf;
}}
"""


def nginx_binary() -> str:
    """Debian installs nginx in /usr/sbin, which is not on every PATH."""
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError("nginx is not installed (make install installs Debian's nginx)")
    return found


def render_template(values: Mapping[str, str], template: Path = TEMPLATE) -> str:
    """Fill ``${NGINX_...}`` placeholders as envsubst would; a missing one is an error."""

    def fill(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in values:
            raise KeyError(f"no value for {name} in {template.name}")
        return values[name]

    return _PLACEHOLDER.sub(fill, template.read_text())


def upstream_servers(ports: Sequence[int], *, host: str = "127.0.0.1") -> str:
    # max_fails=1/fail_timeout: a stopped replica is skipped quickly, which the
    # fault tests and a rolling restart rely on.
    return " ".join(f"server {host}:{port} max_fails=1 fail_timeout=5s;" for port in ports)


class Nginx:
    """One nginx serving ``prefix`` on ``url``, proxying to gateways on ``upstream_ports``."""

    def __init__(
        self,
        upstream_ports: Sequence[int],
        *,
        prefix: str = "/oscar-gateway",
        max_body_bytes: int = 100 * 1024 * 1024,
        session_cookie: str = "oscar_gateway_session",
        port: int = 0,
    ) -> None:
        if not upstream_ports:
            raise ValueError("nginx needs at least one upstream gateway port")
        self.prefix = "/" + prefix.strip("/") if prefix.strip("/") else ""
        self.port = port or free_port()
        self.upstream_ports = list(upstream_ports)
        self.values = {
            "NGINX_LISTEN": f"127.0.0.1:{self.port}",
            "NGINX_PREFIX": self.prefix,
            "NGINX_UPSTREAM_SERVERS": upstream_servers(self.upstream_ports),
            "NGINX_MAX_BODY": str(max_body_bytes),
            "NGINX_SESSION_COOKIE": session_cookie,
        }
        self._tmp: tempfile.TemporaryDirectory[str] | None = None
        self._process: ManagedProcess | None = None

    @property
    def base_url(self) -> str:
        """``http://127.0.0.1:PORT`` without the prefix."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The public URL of the gateway, prefix included (no trailing slash)."""
        return self.base_url + self.prefix

    @property
    def directory(self) -> Path:
        if self._tmp is None:
            raise RuntimeError("nginx has not been configured yet")
        return Path(self._tmp.name)

    def write_config(self) -> Path:
        """Write nginx.conf (and the rendered server config) into a fresh temp dir."""
        if self._tmp is None:
            self._tmp = tempfile.TemporaryDirectory(prefix="oscar-gateway-nginx-")
            # Workers drop to an unprivileged user when the master runs as root;
            # they must reach the temp paths nginx creates in here.
            os.chmod(self._tmp.name, 0o755)  # noqa: S103
        directory = self.directory
        values = {**self.values, "NGINX_ACCESS_LOG": str(directory / "access.log")}
        (directory / "oscar-gateway.conf").write_text(render_template(values))
        main = directory / "nginx.conf"
        main.write_text(_MAIN_CONF.format(dir=directory))
        return main

    def check(self) -> str:
        """``nginx -t`` on the generated config; returns its output, raises if invalid."""
        main = self.write_config()
        result = subprocess.run(
            [nginx_binary(), "-t", "-p", str(self.directory), "-c", str(main)],
            capture_output=True,
            text=True,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"nginx -t failed:\n{result.stderr}")
        return result.stderr

    def start(self) -> Nginx:
        main = self.write_config()
        self._process = ManagedProcess(
            name="nginx",
            argv=[nginx_binary(), "-p", str(self.directory), "-c", str(main)],
            ready=r"start worker process",
            timeout=20,
        ).start()
        wait_for_port(self.port)
        return self

    def stop(self) -> None:
        if self._process is not None:
            self._process.stop()
            self._process = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def output(self) -> str:
        return self._process.output() if self._process else ""

    def access_log(self) -> str:
        path = self.directory / "access.log"
        return path.read_text() if path.exists() else ""

    def __enter__(self) -> Nginx:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

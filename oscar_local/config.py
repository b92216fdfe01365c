"""Typed configuration of one local OSCAR process, filled from the command line."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

ADMIN_OWNER = "cluster_admin"  # OSCAR records the Basic-auth admin as this owner


@dataclass(frozen=True)
class S3Settings:
    """An external S3/MinIO; when absent an embedded moto server is started."""

    endpoint: str
    access_key: str
    secret_key: str
    region: str = "us-east-1"


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    services: tuple[Path, ...] = ()
    data_dir: Path = Path(".oscar-local")
    username: str = "oscar"
    password: str = "oscar"  # noqa: S105 - the documented demo admin of oscar-local
    oidc_issuers: tuple[str, ...] = ()
    s3: S3Settings | None = None
    workers: int = 4
    # OSCAR bounds synchronous calls by a 300 s server timeout (oscar-api.md §4)
    sync_timeout: float = 300.0
    job_timeout: float = 3600.0
    max_body_bytes: int = 100 * 1024 * 1024
    watch_interval: float = 0.5

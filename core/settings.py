"""Typed gateway configuration.

Read from ``GATEWAY_*`` environment variables (``__`` separates nested
sections: ``GATEWAY_OIDC__ISSUER``), then an optional ``.env`` file, then the
defaults below.  Defaults suit the embedded demo; the README lists the
production value of each.  Tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

import ipaddress
import os
import secrets
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict


def _readable_file(value: str) -> str:
    if value and not os.access(value, os.R_OK):
        raise ValueError(f"{value!r} is not a readable file")
    return value


def parse_allowed_host(entry: str) -> tuple[str, int | None]:
    """``host[:port]`` (``[v6]:port`` for IPv6) as (lower-case host, port or None)."""
    try:
        parts = urlsplit(f"//{entry.strip()}")
        port = parts.port
    except ValueError:
        parts, port = None, None
    if parts is None or not parts.hostname or parts.path or parts.username or parts.query:
        raise ValueError(f"{entry!r} is not a host[:port] entry")
    return parts.hostname, port


class OscarSettings(BaseModel):
    url: str = "http://127.0.0.1:8080"
    # OSCAR bounds synchronous calls at 300 s; wait a little longer than that.
    timeout_seconds: float = 310.0
    connect_timeout_seconds: float = 5.0
    # Certificate checks for OSCAR only (the identity provider has its own settings).
    verify_tls: bool = True
    # PEM file of the CAs to trust for OSCAR instead of the system's (e.g. a private CA).
    ca_bundle: str = ""
    # How long an async invocation waits for its output before it is reported failed.
    job_timeout_seconds: float = 900.0
    job_poll_seconds: float = 1.0
    # S3 endpoint to use instead of the one /system/config reports (e.g. an in-cluster
    # MinIO name the gateway cannot resolve); empty = use OSCAR's.
    s3_endpoint: str = ""

    _ca_bundle_exists = field_validator("ca_bundle")(_readable_file)


class OIDCSettings(BaseModel):
    issuer: str = ""
    client_id: str = "oscar-gateway"
    client_secret: SecretStr = SecretStr("")
    scopes: str = "openid profile email offline_access"
    # Accepted `aud` (or `azp`) values of bearer tokens; empty means the client id.
    audiences: list[str] = Field(default_factory=list)
    # The resource indicator asked for at the provider, so access tokens are JWTs OSCAR can verify.
    resource: str = ""
    algorithms: list[str] = Field(default_factory=lambda: ["RS256", "ES256", "PS256"])
    leeway_seconds: int = 30
    jwks_min_refresh_seconds: int = 60
    http_timeout_seconds: float = 10.0
    # Certificate checks for discovery, JWKS and token requests; off lets anyone forge tokens.
    verify_tls: bool = True
    # PEM file of the CAs to trust for the provider instead of the system's.
    ca_bundle: str = ""

    _ca_bundle_exists = field_validator("ca_bundle")(_readable_file)


class SessionSettings(BaseModel):
    backend: Literal["memory", "redis"] = "memory"
    redis_url: str = "redis://127.0.0.1:6379/0"
    secret: SecretStr = SecretStr("")
    cookie_name: str = "oscar_gateway_session"
    ttl_seconds: int = 8 * 3600
    # Refresh the access token this long before it expires.
    refresh_margin_seconds: int = 60
    # A pending login (state, nonce, PKCE verifier) lives this long.
    login_ttl_seconds: int = 600


class UISettings(BaseModel):
    # How many Gradio apps stay mounted at once (LRU).
    max_mounted: int = 32
    idle_seconds: float = 900.0
    concurrency_limit: int = 2
    max_queue: int = 32
    max_output_bytes: int = 50 * 1024 * 1024
    flagging: bool = False
    # How long "may this user use this service" (asked of OSCAR) is cached per user+service.
    access_cache_seconds: float = 3.0
    # Poll interval of each idle Gradio queue (Gradio's default 1 ms costs ~1 % CPU per app;
    # 10 ms adds ~5 ms to a call on average).
    queue_poll_seconds: float = 0.01
    # Gradio's per-session state of each app (issue 18): a session nothing is queued or
    # running for is dropped this long after its last use (a /call's at once once its
    # result was delivered), and at most max_sessions sessions are kept per app.
    session_idle_seconds: float = 900.0
    max_sessions: int = 1000


class LimitSettings(BaseModel):
    # Largest request body (sync runs, /oscar passthrough, UI uploads): 413 beyond it.
    max_body_bytes: int = 100 * 1024 * 1024
    # Largest async job upload (streamed to the input folder, never held in memory).
    max_job_upload_bytes: int = 5 * 1024 * 1024 * 1024
    # Per-user sync runs + job submissions a minute (in total over the replicas with Redis):
    # 429 beyond it.
    invocations_per_minute: int = 60
    # Where the per-user and per-IP counters live: redis (shared by every replica), memory
    # (this process only), or auto = redis when sessions or jobs use Redis, else memory.
    backend: Literal["auto", "memory", "redis"] = "auto"
    # Empty: the session Redis when sessions use Redis, else the jobs Redis.
    redis_url: str = ""
    # With the limits' Redis down: let requests through (true) or answer 503 (false).
    fail_open: bool = True


class EmbedSettings(BaseModel):
    # Origins allowed to frame the UIs and call the API with credentials.
    allowed_origins: list[str] = Field(default_factory=list)
    public_services: list[str] = Field(default_factory=list)
    public_per_ip_per_minute: int = 10
    public_max_body_bytes: int = 2 * 1024 * 1024
    # Service token per public service, set by the operator (copy `token` from the service JSON).
    public_tokens: dict[str, SecretStr] = Field(default_factory=dict)
    # Lifetime of a signed embed link minted by POST /api/v1/services/{name}/embed-links.
    link_ttl_seconds: int = 300
    # Lifetime of the embed session a signed link opens.
    link_session_seconds: int = 3600


def _default_data_dir() -> Path:
    """``$XDG_DATA_HOME/oscar-gateway`` (``~/.local/share/oscar-gateway``)."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "oscar-gateway"


class JobSettings(BaseModel):
    # Where gateway jobs are kept: sqlite (one gateway) or redis (several replicas).
    backend: Literal["sqlite", "redis"] = "sqlite"
    # Empty: ``<data_dir>/gateway-jobs.sqlite3``; a relative path is taken below ``data_dir``.
    sqlite_path: str = ""
    redis_url: str = "redis://127.0.0.1:6379/0"
    # host[:port] entries a job's webhook may point at (no port: 443, or 80 for http in demo
    # mode); empty = webhooks refused.
    webhook_allowed_hosts: list[str] = Field(default_factory=list)
    # Let webhooks reach loopback, private, link-local and reserved addresses (off: SSRF guard).
    webhook_allow_private_addresses: bool = False
    webhook_timeout_seconds: float = 10.0
    # HMAC-SHA256 key of webhook signatures; empty = derived from the session secret.
    webhook_secret: SecretStr = SecretStr("")
    # With the redis backend, one replica at a time follows a job under a lease this long,
    # renewed while it follows; a dead replica's jobs are taken over within about this time.
    lease_seconds: float = Field(default=30.0, gt=0)

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _hosts_parse(cls, value: list[str]) -> list[str]:
        for entry in value:
            parse_allowed_host(entry)
        return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="GATEWAY_",
        env_nested_delimiter="__",
        env_file=".env",
        extra="ignore",
    )

    # The external base URL, including Nginx's prefix: https://example.org/oscar-gateway
    public_url: str = "http://127.0.0.1:8000"
    # Demo mode allows generated secrets and non-https cookies.
    demo: bool = False
    # Addresses or CIDRs of the proxies whose X-Forwarded-For/-Proto uvicorn believes.
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    log_level: str = "INFO"
    # Where the gateway keeps files of its own (the sqlite job store): never the working dir.
    data_dir: Path = Field(default_factory=_default_data_dir)
    # Serve /metrics on this port only (a second listener; 404 on the main port); 0 = main port.
    metrics_port: int = Field(default=0, ge=0, le=65535)
    # When set, /metrics wants "Authorization: Bearer <token>".
    metrics_token: SecretStr = SecretStr("")

    oscar: OscarSettings = Field(default_factory=OscarSettings)
    oidc: OIDCSettings = Field(default_factory=OIDCSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    ui: UISettings = Field(default_factory=UISettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)

    @field_validator("trusted_proxies")
    @classmethod
    def _proxies_are_addresses(cls, value: list[str]) -> list[str]:
        # uvicorn silently treats anything else as a literal that never matches.
        if value == ["*"]:
            return value
        for entry in value:
            try:
                ipaddress.ip_network(entry) if "/" in entry else ipaddress.ip_address(entry)
            except ValueError:
                raise ValueError(
                    f'{entry!r} is not an IP address or CIDR (or use ["*"] alone)'
                ) from None
        return value

    @model_validator(mode="after")
    def _secrets_outside_demo(self) -> Settings:
        if not self.demo and not self.session.secret.get_secret_value():
            raise ValueError(
                "GATEWAY_SESSION__SECRET must be set (32+ random characters) outside demo mode"
            )
        return self

    @field_validator("data_dir")
    @classmethod
    def _absolute_data_dir(cls, value: Path) -> Path:
        value = value.expanduser()
        if not value.is_absolute():
            raise ValueError(
                "GATEWAY_DATA_DIR must be an absolute path, e.g. /var/lib/oscar-gateway"
            )
        return value

    @property
    def jobs_sqlite_path(self) -> Path:
        """The sqlite job store's file: ``jobs.sqlite_path``, below ``data_dir`` when relative."""
        return self.data_dir / (self.jobs.sqlite_path or "gateway-jobs.sqlite3")

    @staticmethod
    def explain(error: ValidationError) -> str:
        """One line naming each wrong variable: ``GATEWAY_OIDC__ISSUER: <what is wrong>``."""
        lines = []
        for item in error.errors():
            names = [str(part) for part in item["loc"] if isinstance(part, str)]
            message = str(item["msg"]).removeprefix("Value error, ")
            variable = "GATEWAY_" + "__".join(names).upper() if names else ""
            lines.append(f"{variable}: {message}" if variable else message)
        return "; ".join(lines)

    @property
    def limits_redis_url(self) -> str | None:
        """The Redis of the rate limiters, or None when they count in memory."""
        backend = self.limits.backend
        uses_redis = "redis" in (self.session.backend, self.jobs.backend)
        if backend == "memory" or (backend == "auto" and not uses_redis):
            return None
        if self.limits.redis_url:
            return self.limits.redis_url
        if self.session.backend == "redis" or self.jobs.backend != "redis":
            return self.session.redis_url
        return self.jobs.redis_url

    @property
    def root_path(self) -> str:
        """The path prefix of ``public_url`` ('' or '/oscar-gateway')."""
        return urlsplit(self.public_url).path.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"


def with_session_secret(settings: Settings) -> Settings:
    """``settings`` with a session secret: in demo mode without one, a random one for this run.

    Every key (sessions, embed links, job credentials, webhook signatures) derives from
    this one value, so it is resolved once, before anything derives a key from it.
    """
    if settings.session.secret.get_secret_value():
        return settings
    session = settings.session.model_copy(update={"secret": SecretStr(secrets.token_urlsafe(32))})
    return settings.model_copy(update={"session": session})

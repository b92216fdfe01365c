"""Typed gateway configuration.

Read from ``GATEWAY_*`` environment variables (``__`` separates nested
sections: ``GATEWAY_OIDC__ISSUER``), then an optional ``.env`` file, then the
defaults below.  Defaults suit the embedded demo; the README lists the
production value of each.  Tests build ``Settings(...)`` directly.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class OscarSettings(BaseModel):
    url: str = "http://127.0.0.1:8080"
    # OSCAR bounds synchronous calls at 300 s; wait a little longer than that.
    timeout_seconds: float = 310.0
    connect_timeout_seconds: float = 5.0
    verify_tls: bool = True
    # How long an async invocation waits for its output before it is reported failed.
    job_timeout_seconds: float = 900.0
    job_poll_seconds: float = 1.0
    # S3 endpoint to use instead of the one /system/config reports (e.g. an in-cluster
    # MinIO name the gateway cannot resolve); empty = use OSCAR's.
    s3_endpoint: str = ""


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
    # Per-user sync runs + job submissions a minute (per gateway process): 429 beyond it.
    invocations_per_minute: int = 60


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


class JobSettings(BaseModel):
    # Where gateway jobs are kept: sqlite (one gateway) or redis (several replicas).
    backend: Literal["sqlite", "redis"] = "sqlite"
    sqlite_path: str = "var/gateway-jobs.sqlite3"
    redis_url: str = "redis://127.0.0.1:6379/0"
    # Hosts a job's webhook may point at (exact host names); empty = webhooks refused.
    webhook_allowed_hosts: list[str] = Field(default_factory=list)
    webhook_timeout_seconds: float = 10.0
    # HMAC-SHA256 key of webhook signatures; empty = derived from the session secret.
    webhook_secret: SecretStr = SecretStr("")


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
    trusted_proxies: list[str] = Field(default_factory=lambda: ["127.0.0.1", "::1"])
    log_level: str = "INFO"

    oscar: OscarSettings = Field(default_factory=OscarSettings)
    oidc: OIDCSettings = Field(default_factory=OIDCSettings)
    session: SessionSettings = Field(default_factory=SessionSettings)
    ui: UISettings = Field(default_factory=UISettings)
    limits: LimitSettings = Field(default_factory=LimitSettings)
    embed: EmbedSettings = Field(default_factory=EmbedSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)

    @model_validator(mode="after")
    def _secrets_outside_demo(self) -> Settings:
        if not self.demo and not self.session.secret.get_secret_value():
            raise ValueError(
                "GATEWAY_SESSION__SECRET must be set (32+ random characters) outside demo mode"
            )
        return self

    @property
    def root_path(self) -> str:
        """The path prefix of ``public_url`` ('' or '/oscar-gateway')."""
        return urlsplit(self.public_url).path.rstrip("/")

    @property
    def secure_cookies(self) -> bool:
        return urlsplit(self.public_url).scheme == "https"

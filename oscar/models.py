"""Lenient pydantic models of what OSCAR's API returns.

OSCAR (Go) serialises empty lists and maps as ``null`` and adds fields from
release to release (oscar-api.md §3): every model ignores unknown fields and
turns ``null`` collections into empty ones.  Services keep their full JSON in
``raw`` so an update can send back what this model does not know about.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_LENIENT = ConfigDict(extra="ignore", populate_by_name=True)


def _none_to_empty_list(value: Any) -> Any:
    return [] if value is None else value


def _none_to_empty_dict(value: Any) -> Any:
    return {} if value is None else value


class StoragePath(BaseModel):
    """One entry of a service's ``input`` or ``output`` list: ``bucket/folder``."""

    model_config = _LENIENT

    storage_provider: str = "minio.default"
    path: str = ""
    suffix: list[str] = Field(default_factory=list)
    prefix: list[str] = Field(default_factory=list)

    _lists = field_validator("suffix", "prefix", mode="before")(_none_to_empty_list)

    @property
    def bucket(self) -> str:
        """The bucket part of ``path`` (OSCAR normalises ``in`` to ``<service>/in``)."""
        return self.path.strip("/ ").split("/", 1)[0]

    @property
    def folder(self) -> str:
        """The key prefix inside the bucket, without slashes ('' for the bucket root)."""
        parts = self.path.strip("/ ").split("/", 1)
        return parts[1].strip("/") if len(parts) == 2 else ""


class Environment(BaseModel):
    """``environment``: variables and secrets (``Variables`` before OSCAR v3.4)."""

    model_config = _LENIENT

    variables: dict[str, str] = Field(default_factory=dict)
    secrets: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="before")
    @classmethod
    def _case_insensitive_keys(cls, data: Any) -> Any:
        # OSCAR matches these keys case-insensitively (oscar-api.md §3).
        if isinstance(data, dict):
            return {str(k).lower(): v for k, v in data.items()}
        return {} if data is None else data

    _maps = field_validator("variables", "secrets", mode="before")(_none_to_empty_dict)


class Service(BaseModel):
    """An OSCAR service as ``GET /system/services[/{name}]`` returns it."""

    model_config = _LENIENT

    name: str
    image: str = ""
    script: str = ""
    memory: str = ""
    cpu: str = ""
    log_level: str = ""
    token: str = Field(default="", repr=False)
    input: list[StoragePath] = Field(default_factory=list)
    output: list[StoragePath] = Field(default_factory=list)
    environment: Environment = Field(default_factory=Environment)
    annotations: dict[str, str] = Field(default_factory=dict)
    labels: dict[str, str] = Field(default_factory=dict)
    visibility: str = "private"
    allowed_users: list[str] = Field(default_factory=list)
    owner: str = ""
    # The service's JSON exactly as OSCAR sent it, for round trips (PUT wants the whole service).
    raw: dict[str, Any] = Field(default_factory=dict, exclude=True, repr=False)

    _lists = field_validator("input", "output", "allowed_users", mode="before")(_none_to_empty_list)
    _maps = field_validator("annotations", "labels", mode="before")(_none_to_empty_dict)

    @field_validator("environment", mode="before")
    @classmethod
    def _env(cls, value: Any) -> Any:
        return {} if value is None else value

    @field_validator(
        "memory", "cpu", "log_level", "token", "owner", "image", "script", mode="before"
    )
    @classmethod
    def _none_to_blank(cls, value: Any) -> Any:
        return "" if value is None else value

    @classmethod
    def from_api(cls, data: dict[str, Any]) -> Service:
        """Parse one service object from OSCAR, keeping the original JSON in ``raw``."""
        service = cls.model_validate(data)
        service.raw = dict(data)
        return service

    @property
    def is_async(self) -> bool:
        """True when uploads to an input folder trigger it (it has a MinIO input)."""
        return bool(self.input)


class JobInfo(BaseModel):
    """One job of ``GET /system/logs/{service}``; times are RFC 3339 strings or ''."""

    model_config = _LENIENT

    name: str = ""
    status: str = "Unknown"
    creation_time: str = ""
    start_time: str = ""
    finish_time: str = ""

    @field_validator("status", "creation_time", "start_time", "finish_time", mode="before")
    @classmethod
    def _none_to_blank(cls, value: Any) -> Any:
        return "" if value is None else value

    @property
    def finished(self) -> bool:
        """True once the job will not change any more (Succeeded or Failed)."""
        return self.status in {"Succeeded", "Failed"}


class JobList(BaseModel):
    """A page of jobs: OSCAR >= 3.6.4 wraps them, older releases send the bare map."""

    model_config = _LENIENT

    jobs: list[JobInfo] = Field(default_factory=list)
    next_page: str = ""
    remaining_jobs: int = 0

    @classmethod
    def from_api(cls, data: Any) -> JobList:
        """Parse either shape: ``{"jobs": {...}, "next_page", ...}`` or ``{"<job>": {...}}``."""
        if not isinstance(data, dict):
            return cls()
        if "jobs" in data and (data["jobs"] is None or isinstance(data["jobs"], dict)):
            jobs_map = data.get("jobs") or {}
            next_page = data.get("next_page") or ""
            remaining = data.get("remaining_jobs") or 0
        else:
            jobs_map, next_page, remaining = data, "", 0
        jobs = [
            JobInfo.model_validate({**(info or {}), "name": name})
            for name, info in jobs_map.items()
            if isinstance(info, dict) or info is None
        ]
        jobs.sort(key=lambda job: job.creation_time)
        return cls(jobs=jobs, next_page=str(next_page), remaining_jobs=int(remaining))

    def get(self, name: str) -> JobInfo | None:
        """The job called ``name``, if it is on this page."""
        return next((job for job in self.jobs if job.name == name), None)


class MinioProvider(BaseModel):
    """S3 endpoint and keys from ``/system/config`` (the caller's own keys)."""

    model_config = _LENIENT

    endpoint: str = ""
    verify: bool = True
    access_key: str = Field(default="", repr=False)
    secret_key: str = Field(default="", repr=False)
    region: str = "us-east-1"

    @field_validator("region", mode="before")
    @classmethod
    def _default_region(cls, value: Any) -> Any:
        return value or "us-east-1"


class SystemConfig(BaseModel):
    """``GET /system/config``."""

    model_config = _LENIENT

    config: dict[str, Any] = Field(default_factory=dict)
    minio_provider: MinioProvider = Field(default_factory=MinioProvider)
    allowed_image_repositories: list[str] = Field(default_factory=list)

    _lists = field_validator("allowed_image_repositories", mode="before")(_none_to_empty_list)
    _maps = field_validator("config", mode="before")(_none_to_empty_dict)

    @field_validator("minio_provider", mode="before")
    @classmethod
    def _provider(cls, value: Any) -> Any:
        return {} if value is None else value


class SystemInfo(BaseModel):
    """``GET /system/info``."""

    model_config = _LENIENT

    version: str = ""
    git_commit: str = ""
    architecture: str = ""
    kubernetes_version: str = ""
    serverless_backend: dict[str, Any] = Field(default_factory=dict)

    _maps = field_validator("serverless_backend", mode="before")(_none_to_empty_dict)


class Presigned(BaseModel):
    """``POST /system/buckets/{bucket}/presign``: a URL usable without S3 credentials."""

    model_config = _LENIENT

    object_key: str = ""
    operation: str = ""
    method: str = "GET"
    url: str
    expires_at: str = ""
    headers: dict[str, str] = Field(default_factory=dict)

    _maps = field_validator("headers", mode="before")(_none_to_empty_dict)

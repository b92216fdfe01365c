"""The gateway job record and the interface every job store backend implements."""

from __future__ import annotations

import secrets
import time
from dataclasses import asdict, dataclass, field
from typing import Any, Literal, Protocol

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
FINISHED: frozenset[str] = frozenset({"succeeded", "failed", "cancelled"})


def new_job_id() -> str:
    """A URL-safe, unguessable gateway job id."""
    return secrets.token_urlsafe(16)


@dataclass
class JobRecord:
    id: str
    owner: str
    service: str
    input_key: str
    uuid: str
    status: JobStatus = "queued"
    oscar_job: str | None = None
    output_keys: list[str] = field(default_factory=list)
    error: str | None = None
    webhook: str | None = None
    # The output folder ("bucket/folder") the result is expected in, fixed at submission.
    output_path: str = ""
    # The submitter's Authorization value, Fernet-sealed, so the follower can resume after a
    # restart; cleared once the job finishes. Never returned by the API.
    credential: str | None = field(default=None, repr=False)
    created_at: float = field(default_factory=time.time)
    updated_at: float = field(default_factory=time.time)
    finished_at: float | None = None

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> JobRecord:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in data.items() if k in known})


class JobStore(Protocol):
    """Where gateway jobs live; every method is safe to call from any task."""

    async def create(self, job: JobRecord) -> None: ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def list_for(self, owner: str, *, limit: int = 100) -> list[JobRecord]:
        """The owner's jobs, newest first."""
        ...

    async def update(
        self, job_id: str, *, if_unfinished: bool = False, **changes: Any
    ) -> JobRecord | None:
        """Apply ``changes`` (field=value), stamp ``updated_at``; None if the job is gone.

        ``if_unfinished``: only while the job is unfinished (compare-and-set: of several
        replicas marking it finished, one wins), else None.
        """
        ...

    async def delete(self, job_id: str) -> bool: ...

    async def unfinished(self) -> list[JobRecord]:
        """Jobs still queued or running (resumed by the follower after a restart)."""
        ...

    async def close(self) -> None: ...


def apply_changes(job: JobRecord, changes: dict[str, Any]) -> JobRecord:
    """A copy of ``job`` with ``changes`` applied and its timestamps stamped."""
    data = job.to_dict()
    unknown = set(changes) - set(data)
    if unknown:
        raise ValueError(f"unknown job fields: {sorted(unknown)}")
    data.update(changes)
    now = time.time()
    data["updated_at"] = now
    if data["status"] in FINISHED and data.get("finished_at") is None:
        data["finished_at"] = now
    return JobRecord.from_dict(data)

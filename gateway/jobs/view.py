"""What the API shows of a job (never its credential)."""

from __future__ import annotations

from typing import Any

from core.settings import Settings
from gateway.jobs.models import JobRecord


def public_view(job: JobRecord, settings: Settings) -> dict[str, Any]:
    """What the API shows of a job (never its credential)."""
    base = f"{settings.public_url.rstrip('/')}/api/v1/jobs/{job.id}"
    return {
        "id": job.id,
        "service": job.service,
        "status": job.status,
        "oscar_job": job.oscar_job,
        "input_key": job.input_key,
        "output_keys": job.output_keys,
        "error": job.error,
        "webhook": job.webhook,
        "created_at": job.created_at,
        "updated_at": job.updated_at,
        "finished_at": job.finished_at,
        "links": {"self": base, "output": f"{base}/output", "logs": f"{base}/logs"},
    }

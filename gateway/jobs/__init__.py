"""Persisted gateway jobs: one record per asynchronous invocation made through ``/api/v1``.

OSCAR's ``POST /job`` returns no job id (oscar-api.md §2) and keeps no link
from an input object to its outputs (§5), so the gateway keeps its own record:
who submitted what, under which input key and uuid, and what came out.
``open_job_store(settings)`` picks the backend (sqlite by default, Redis by
setting); both implement ``JobStore``.
"""

from __future__ import annotations

from gateway.jobs.models import FINISHED, JobRecord, JobStatus, JobStore, new_job_id
from gateway.jobs.open import open_job_store

__all__ = ["FINISHED", "JobRecord", "JobStatus", "JobStore", "new_job_id", "open_job_store"]

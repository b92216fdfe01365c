"""The OSCAR asynchronous-job protocol: the one place its rules live.

OSCAR's ``/job`` answers 201 with no job id, bucket events return nothing,
and OSCAR keeps no link from an input object or a job to its outputs
(oscar-api.md §2, §5).  So an asynchronous invocation is tied together by a
fresh ``ident`` (a uuid) that the gateway chooses:

- the input is uploaded as ``<input folder>/<ident>-<safe name>``;
- its job is the one created since the upload (OSCAR's and our clocks may
  differ by ``CLOCK_SKEW_SECONDS``; jobs without a creation time count) whose
  log mentions the ident (the supervisor logs the key it downloads at INFO);
- its outputs are the objects whose key starts with ``<output folder>/<ident>``
  (scripts name their output after the input);
- it has ended when its status is ``Succeeded`` or ``Failed``.

Two drivers use these rules: ``oscar.runner.JobRunner`` (a UI following one
invocation live) and ``gateway.jobs.follower.JobFollower`` (REST jobs kept in
a store, resumed after a restart).
"""

from __future__ import annotations

import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from core.errors import NotFound
from oscar.client import OscarClient
from oscar.models import JobInfo, JobList, MinioProvider, StoragePath
from oscar.storage import Storage, StoredObject

TERMINAL = frozenset({"Succeeded", "Failed"})
CLOCK_SKEW_SECONDS = 30.0
# Logs read at most per look, while the job is not found yet.
MAX_LOGS_PER_LOOK = 8
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def new_ident() -> str:
    return uuid.uuid4().hex


def safe_name(filename: str) -> str:
    """``filename`` reduced to a safe object-key basename (letters, digits, ``._-``)."""
    base = filename.replace("\\", "/").rsplit("/", 1)[-1]
    cleaned = _UNSAFE.sub("_", base).strip("._") or "input"
    return cleaned[-100:]


def join(folder: str, name: str) -> str:
    return f"{folder}/{name}" if folder else name


def input_key(folder: str, ident: str, filename: str) -> str:
    """The unique key ``<folder>/<ident>-<safe name>`` (no folder: at the bucket root)."""
    return join(folder, f"{ident}-{safe_name(filename)}")


def output_prefix(folder: str, ident: str) -> str:
    """Every output of the invocation ``ident`` starts with this key."""
    return join(folder, ident)


def output_name(key: str, ident: str) -> str:
    """The file name an output is shown with: its basename without the ident."""
    return key.rsplit("/", 1)[-1].replace(f"{ident}-", "", 1)


def created_at(info: JobInfo) -> float | None:
    """The job's creation time in seconds since the epoch, None when OSCAR gave none."""
    try:
        return datetime.fromisoformat(info.creation_time).timestamp()
    except ValueError:
        return None


def is_terminal(status: str) -> bool:
    return status in TERMINAL


@dataclass
class Search:
    """What is known while looking for the job of one invocation."""

    service: str
    ident: str
    submitted_at: float = field(default_factory=time.time)
    job: str | None = None
    # Finished jobs whose log did not name the ident: never read again.
    ruled_out: set[str] = field(default_factory=set)

    def candidates(self, jobs: JobList) -> list[JobInfo]:
        """Jobs that may be ours, newest first (OSCAR lists pages in no useful order)."""
        since = self.submitted_at - CLOCK_SKEW_SECONDS
        fresh = [
            job
            for job in jobs.jobs
            if job.name not in self.ruled_out and (created_at(job) or since) >= since
        ]
        return sorted(fresh, key=lambda job: created_at(job) or 0.0, reverse=True)


async def find_job(
    client: OscarClient, search: Search, jobs: JobList, *, auth: str
) -> JobInfo | None:
    """Our job among ``jobs``, once its log names the ident (None while not found)."""
    if search.job is not None:
        return jobs.get(search.job)
    for job in search.candidates(jobs)[:MAX_LOGS_PER_LOOK]:
        if search.ident in await job_log(client, search.service, job.name, auth=auth):
            search.job = job.name
            return job
        if job.finished:
            search.ruled_out.add(job.name)
    return None


async def job_log(client: OscarClient, service: str, job: str, *, auth: str) -> str:
    """The job's log; empty while its pod does not exist yet (OSCAR answers 404)."""
    try:
        return await client.job_log(service, job, auth=auth)
    except NotFound:
        return ""


async def find_outputs(
    storage: Storage, provider: MinioProvider, outputs: list[StoragePath], ident: str
) -> list[tuple[StoragePath, StoredObject]]:
    """The output objects of the invocation ``ident``, in every output folder."""
    found: list[tuple[StoragePath, StoredObject]] = []
    for out in outputs:
        prefix = output_prefix(out.folder, ident)
        objects = await storage.list_objects(provider, out.bucket, prefix)
        found.extend((out, obj) for obj in objects if obj.key.startswith(prefix))
    return found

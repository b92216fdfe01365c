"""``Annotated`` dependencies of the ``/api/v1`` routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from auth.dependencies import require_user
from auth.models import User
from gateway.errors import Forbidden, NotFound
from gateway.jobstore import JobRecord, JobStore
from gateway.jobstore.follower import JobFollower
from gateway.limits import RateLimiter


def get_job_store(request: Request) -> JobStore:
    store: JobStore = request.app.state.job_store
    return store


def get_follower(request: Request) -> JobFollower:
    follower: JobFollower = request.app.state.job_follower
    return follower


async def invoking_user(request: Request, user: Annotated[User, Depends(require_user)]) -> User:
    """The caller, counted against the per-user invocation rate limit (429 beyond it)."""
    limiter: RateLimiter = request.app.state.invocation_limiter
    limiter.hit(user.sub)
    return user


async def job_user(user: Annotated[User, Depends(require_user)]) -> User:
    """A logged-in user (session or bearer): jobs need the caller's own storage keys."""
    if user.kind == "service_token":
        raise Forbidden(
            "Service tokens can only run services synchronously; "
            "jobs need a user's login (session or bearer)."
        )
    return user


JobUser = Annotated[User, Depends(job_user)]


async def owned_job(job_id: str, user: JobUser, request: Request) -> JobRecord:
    """The caller's job ``job_id``; another user's job is reported as not found."""
    store = get_job_store(request)
    job = await store.get(job_id)
    if job is None or job.owner != user.sub:
        raise NotFound(f"You have no job {job_id!r}.")
    return job


Follower = Annotated[JobFollower, Depends(get_follower)]
Store = Annotated[JobStore, Depends(get_job_store)]
InvokingUser = Annotated[User, Depends(invoking_user)]
OwnedJob = Annotated[JobRecord, Depends(owned_job)]

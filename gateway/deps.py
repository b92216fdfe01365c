"""``Annotated`` dependencies of the gateway's routes, read from the typed lifespan state.

Each collaborator is opened once in ``create_app``'s lifespan and yielded as
``gateway.state.GatewayState``; the dependencies here hand out what a route
needs by what you get (``Oscar``, ``Storage``, ``Follower``, ``InvokingUser``).
"""

from __future__ import annotations

from typing import Annotated

import httpx
from fastapi import Depends

from auth.dependencies import require_user
from core.errors import Forbidden, NotFound
from core.identity import User
from core.metrics import Metrics
from core.settings import Settings
from gateway.jobs import JobRecord, JobStore
from gateway.jobs.follower import JobFollower
from gateway.limits import Limiters
from gateway.state import GatewayState, gateway_state
from oscar.client import OscarClient
from oscar.storage import Storage as S3Storage

State = Annotated[GatewayState, Depends(gateway_state)]


def get_settings(state: State) -> Settings:
    return state.settings


def get_oscar(state: State) -> OscarClient:
    return state.oscar


def get_storage(state: State) -> S3Storage:
    return state.storage


def get_http(state: State) -> httpx.AsyncClient:
    return state.http


def get_metrics(state: State) -> Metrics:
    return state.metrics


def get_limiters(state: State) -> Limiters:
    return state.limiters


def get_job_store(state: State) -> JobStore:
    return state.job_store


def get_follower(state: State) -> JobFollower:
    return state.follower


AppSettings = Annotated[Settings, Depends(get_settings)]
Oscar = Annotated[OscarClient, Depends(get_oscar)]
Storage = Annotated[S3Storage, Depends(get_storage)]
Http = Annotated[httpx.AsyncClient, Depends(get_http)]
AppMetrics = Annotated[Metrics, Depends(get_metrics)]
AppLimiters = Annotated[Limiters, Depends(get_limiters)]
Store = Annotated[JobStore, Depends(get_job_store)]
Follower = Annotated[JobFollower, Depends(get_follower)]


async def person(user: Annotated[User, Depends(require_user)]) -> User:
    """A logged-in user (session or bearer): the one rule for routes service tokens may not use."""
    if user.kind == "service_token":
        raise Forbidden(
            "A service token can only run its own service synchronously (POST .../run); "
            "log in (session or bearer) for this."
        )
    return user


Person = Annotated[User, Depends(person)]


async def invoking_user(
    user: Annotated[User, Depends(require_user)], limiters: AppLimiters
) -> User:
    """The caller, counted against the per-user invocation rate limit (429 beyond it)."""
    await limiters.invocations.hit(user.sub)
    return user


async def invoking_person(user: Person, limiters: AppLimiters) -> User:
    """A logged-in user, counted against the per-user invocation rate limit."""
    await limiters.invocations.hit(user.sub)
    return user


InvokingUser = Annotated[User, Depends(invoking_user)]
InvokingPerson = Annotated[User, Depends(invoking_person)]


async def owned_job(job_id: str, user: Person, store: Store) -> JobRecord:
    """The caller's job ``job_id``; another user's job is reported as not found."""
    job = await store.get(job_id)
    if job is None or job.owner != user.sub:
        raise NotFound(f"You have no job {job_id!r}.")
    return job


OwnedJob = Annotated[JobRecord, Depends(owned_job)]

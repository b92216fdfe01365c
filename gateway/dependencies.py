"""``Annotated`` dependencies for routes: the settings and the OSCAR collaborators.

Each is created once in the lifespan of ``create_app`` and read from ``app.state``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from gateway.oscar.client import OscarClient
from gateway.oscar.jobs import JobRunner
from gateway.oscar.storage import Storage as S3Storage
from gateway.settings import Settings


def get_settings(request: Request) -> Settings:
    """The app's ``Settings``."""
    settings: Settings = request.app.state.settings
    return settings


def get_oscar(request: Request) -> OscarClient:
    """The app's ``OscarClient`` (opened in the lifespan)."""
    oscar: OscarClient = request.app.state.oscar
    return oscar


def get_storage(request: Request) -> S3Storage:
    """The app's S3 ``Storage`` (one aioboto3 session)."""
    storage: S3Storage = request.app.state.storage
    return storage


def get_jobs(request: Request) -> JobRunner:
    """The app's asynchronous invocation ``JobRunner``."""
    jobs: JobRunner = request.app.state.jobs
    return jobs


AppSettings = Annotated[Settings, Depends(get_settings)]
Oscar = Annotated[OscarClient, Depends(get_oscar)]
Storage = Annotated[S3Storage, Depends(get_storage)]
Jobs = Annotated[JobRunner, Depends(get_jobs)]

"""``GatewayState``: the app's collaborators, opened in the lifespan, read by dependencies.

``create_app``'s lifespan yields it into Starlette's lifespan state under
``"gateway"`` (and ``auth.state.AuthState`` under ``"auth"``), so every
request carries both in ``scope["state"]``; ``gateway.deps`` turns them into
``Annotated`` dependencies.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx
from starlette.requests import HTTPConnection

from core.lifespan import lifespan_value
from core.metrics import Metrics
from core.settings import Settings
from gateway.jobs import JobStore
from gateway.jobs.follower import JobFollower
from gateway.limits import Limiters
from gateway.mounts import UIMounts
from oscar.client import OscarClient
from oscar.runner import JobRunner
from oscar.storage import Storage
from uis.deepaas import PredictArgsCache

GATEWAY_STATE = "gateway"


@dataclass(frozen=True)
class GatewayState:
    settings: Settings
    metrics: Metrics
    limiters: Limiters
    uis: UIMounts
    http: httpx.AsyncClient
    oscar: OscarClient
    storage: Storage
    runner: JobRunner
    job_store: JobStore
    follower: JobFollower
    deepaas: PredictArgsCache


def gateway_state(connection: HTTPConnection) -> GatewayState:
    """The ``GatewayState`` of the app serving this request."""
    return lifespan_value(connection, GATEWAY_STATE, GatewayState)

"""``/healthz`` (the process is alive) and ``/readyz`` (it can serve: OSCAR and sessions).

Liveness never looks at dependencies: restarting a gateway does not bring
OSCAR back.  Readiness does, so a load balancer stops sending traffic to a
replica that cannot reach OSCAR (``GET /health``, OSCAR's unauthenticated
health endpoint) or its session store.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse

from auth.state import auth_state
from core.errors import GatewayError, Unavailable
from core.settings import Settings
from gateway.state import gateway_state

log = logging.getLogger("gateway.health")

# Each check gets this long; Kubernetes probes use timeoutSeconds above it.
CHECK_TIMEOUT_SECONDS = 4.0
# The session store is asked for a key that never exists: a round trip, nothing stored.
_PROBE_SESSION_ID = "readiness-probe"

router = APIRouter(include_in_schema=False)


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers."""
    return {"status": "ok"}


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    """Readiness: OSCAR and the session store answer; the rate limits' store is reported."""
    checks = {
        "oscar": await _run_check(lambda: _check_oscar(request)),
        "sessions": await _run_check(lambda: _check_sessions(request)),
    }
    state = gateway_state(request)
    limits = await state.limiters.check()
    checks["limits"] = limits or "ok"
    failed = {name: text for name, text in checks.items() if text != "ok"}
    if limits is not None and state.settings.limits.fail_open:
        # Failing open still serves (without limits): said here and in the log, not unready.
        log.warning("%s", failed.pop("limits"))
    if not failed:
        return JSONResponse({"status": "ready", "checks": checks})
    message = "; ".join(failed.values())
    log.warning("not ready: %s", message)
    body = {"status": "unready", "error": "unavailable", "message": message, "checks": checks}
    return JSONResponse(body, status_code=503)


async def _run_check(check: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(check(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return "no answer within the readiness timeout"
    except GatewayError as exc:
        return exc.message
    return "ok"


async def _check_oscar(request: Request) -> None:
    try:
        await gateway_state(request).oscar.health()
    except Unavailable as exc:
        # The generic Unavailable text is about the cluster; say it plainly for operators.
        raise Unavailable("OSCAR unavailable", detail=exc.detail) from exc


async def _check_sessions(request: Request) -> None:
    store = auth_state(request).sessions
    ping = getattr(store, "ping", None)
    if ping is not None:
        await ping()
    else:
        await store.get(_PROBE_SESSION_ID)


def install_health(app: FastAPI, settings: Settings) -> None:
    app.include_router(router)

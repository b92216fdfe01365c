"""``create_app(settings)``: builds the gateway; nothing happens at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from auth.setup import install_auth, open_auth
from gateway.api import api_lifespan, install_api
from gateway.csrf import install_csrf
from gateway.errorpages import install_error_handlers
from gateway.health import install_health
from gateway.httpclients import idp_http, oscar_http, webhook_http
from gateway.metrics import Metrics
from gateway.mounts import install_uis
from gateway.observability import forward_request_id, install_observability
from gateway.oscar.client import OscarClient
from gateway.oscar.jobs import JobRunner
from gateway.oscar.storage import Storage
from gateway.portal import install_portal
from gateway.settings import Settings, with_session_secret

log = logging.getLogger("gateway")


def create_app(settings: Settings) -> FastAPI:
    """The gateway ASGI app for ``settings``; clients are opened in its lifespan."""
    if not settings.session.secret.get_secret_value():
        # Only reachable in demo mode (Settings refuses an empty secret otherwise): sessions,
        # embed links and sealed job credentials then live as long as this process.
        log.warning("GATEWAY_SESSION__SECRET is empty (demo mode): using a random one")
    settings = with_session_secret(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            # One client per trust domain, each with its own TLS checks (gateway/httpclients.py).
            http = await stack.enter_async_context(oscar_http(settings))
            idp = await stack.enter_async_context(idp_http(settings))
            app.state.webhook_http = await stack.enter_async_context(webhook_http(settings))
            app.state.http = http
            forward_request_id(http, settings.oscar.url)
            # OSCAR: API client, S3 side (one aioboto3 session), async invoker (gateway/oscar/).
            app.state.oscar = OscarClient(http, settings.oscar)
            app.state.storage = Storage(endpoint_override=settings.oscar.s3_endpoint)
            app.state.jobs = JobRunner(app.state.oscar, app.state.storage, settings.oscar)
            # Auth: session store, bearer validator (JWKS cache), OIDC client (auth/setup.py).
            await open_auth(app, settings, idp, stack)
            # REST API: job store + follower resuming unfinished jobs (gateway/api/).
            await stack.enter_async_context(api_lifespan(app, settings))
            # UIs: lifespan tasks of the lazily mounted Gradio apps, closed at exit.
            await stack.enter_async_context(app.state.uis.running())
            yield

    app = FastAPI(
        title="oscar-gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    install_health(app, settings)
    install_auth(app, settings)
    install_api(app, settings)
    install_uis(app, settings)
    install_portal(app, settings)
    # Outside CORS and the routes: a forged cookie request is refused before anything runs.
    install_csrf(app, settings)
    # Last, so it is the outermost middleware: every request gets an id and a log line.
    install_observability(app, settings)
    return app

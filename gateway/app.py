"""``create_app(settings)``: builds the gateway; nothing happens at import time.

The lifespan opens the collaborators once and yields them, typed, into
Starlette's lifespan state (``gateway.state.GatewayState`` under
``"gateway"``, ``auth.state.AuthState`` under ``"auth"``); routes get them
through ``gateway.deps``, mounted UIs as plain arguments.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from fastapi import FastAPI

from auth.setup import install_auth, open_auth
from auth.state import AUTH_STATE
from core.errorpages import install_error_handlers
from core.httpclients import idp_http, oscar_http, webhook_http
from core.metrics import Metrics
from core.settings import Settings, with_session_secret
from gateway.api import install_api, open_jobs
from gateway.csrf import install_csrf
from gateway.health import install_health
from gateway.limits import Limiters
from gateway.mcp import install_mcp
from gateway.mounts import install_uis
from gateway.observability import forward_request_id, install_observability
from gateway.portal import install_portal
from gateway.state import GATEWAY_STATE, GatewayState
from oscar.client import OscarClient
from oscar.models import Service
from oscar.runner import JobRunner
from oscar.storage import Storage
from uis.deepaas import PredictArgsCache
from uis.handlers import ServiceContext
from uis.spec import parse_spec

log = logging.getLogger("gateway")


def create_app(settings: Settings, *, metrics: Metrics | None = None) -> FastAPI:
    """The gateway ASGI app for ``settings``; clients are opened in its lifespan.

    ``metrics``: the registry to count in, when the caller also serves it elsewhere
    (``oscar-gateway serve`` with ``GATEWAY_METRICS_PORT``).
    """
    if not settings.session.secret.get_secret_value():
        # Only reachable in demo mode (Settings refuses an empty secret otherwise): sessions,
        # embed links and sealed job credentials then live as long as this process.
        log.warning("GATEWAY_SESSION__SECRET is empty (demo mode): using a random one")
    settings = with_session_secret(settings)
    metrics = metrics or Metrics()
    limiters = Limiters.from_settings(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[dict[str, object]]:
        async with AsyncExitStack() as stack:
            stack.push_async_callback(limiters.close)
            # One client per trust domain, each with its own TLS checks (core/httpclients.py).
            http = await stack.enter_async_context(oscar_http(settings))
            idp = await stack.enter_async_context(idp_http(settings))
            hooks = await stack.enter_async_context(webhook_http(settings))
            forward_request_id(http, settings.oscar.url)
            # OSCAR: API client, S3 side (one aioboto3 session), async invoker (oscar/).
            oscar = OscarClient(http, settings.oscar)
            storage = Storage(endpoint_override=settings.oscar.s3_endpoint)
            runner = JobRunner(oscar, storage, settings.oscar)
            # DEEPaaS models' predict arguments, asked once per definition (uis/deepaas/).
            deepaas = PredictArgsCache()
            # Auth: session store, bearer validator (JWKS cache), OIDC client (auth/setup.py).
            auth = await open_auth(settings, idp, stack)
            # REST API: job store + follower resuming unfinished jobs (gateway/api/).
            store, follower = await stack.enter_async_context(
                open_jobs(settings, oscar=oscar, storage=storage, http=hooks, metrics=metrics)
            )

            def ui_context(service: Service) -> ServiceContext:
                spec = parse_spec(service)
                return ServiceContext(
                    spec, oscar, settings, metrics=metrics, jobs=runner, deepaas=deepaas
                )

            # UIs: lifespan tasks of the lazily mounted Gradio apps, closed at exit.
            await stack.enter_async_context(
                uis.running(oscar=oscar, metrics=metrics, context=ui_context)
            )
            # MCP: the SDK's session manager runs for the app's lifetime (gateway/mcp/).
            await stack.enter_async_context(mcp.running())
            state = GatewayState(
                settings=settings,
                metrics=metrics,
                limiters=limiters,
                uis=uis,
                http=http,
                oscar=oscar,
                storage=storage,
                runner=runner,
                job_store=store,
                follower=follower,
                deepaas=deepaas,
            )
            yield {GATEWAY_STATE: state, AUTH_STATE: auth}

    app = FastAPI(
        title="oscar-gateway",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
    )
    install_error_handlers(app, root_path=settings.root_path)
    install_health(app, settings)
    install_auth(app)
    install_api(app, settings)
    uis = install_uis(app, settings, limiters)
    install_portal(app, settings)
    mcp = install_mcp(app, settings)
    # Outside CORS and the routes: a forged cookie request is refused before anything runs.
    install_csrf(app, settings)
    # Last, so it is the outermost middleware: every request gets an id and a log line.
    install_observability(app, settings, metrics)
    return app

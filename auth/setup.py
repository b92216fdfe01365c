"""Wiring auth into the app: ``install_auth`` (routes) and ``open_auth`` (lifespan objects).

``open_auth`` puts three things on ``app.state``: ``sessions`` (the session
store), ``bearer`` (``BearerValidator``, owner of the one JWKS cache) and
``oidc`` (``OidcClient``, which checks ID tokens with the validator's keys).
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
from fastapi import FastAPI
from starlette.datastructures import State
from starlette.types import ASGIApp, Receive, Scope, Send

from auth.dependencies import STATE_KEY
from auth.oidc import OidcClient
from auth.routes import router
from auth.sessions import create_store
from auth.tokens import BearerValidator
from gateway.settings import Settings


def install_auth(app: FastAPI, settings: Settings) -> None:
    app.include_router(router)
    app.add_middleware(_GatewayState, state=app.state)


class _GatewayState:
    """Puts the gateway's ``app.state`` in the scope, for auth checks inside mounted apps."""

    def __init__(self, app: ASGIApp, state: State) -> None:
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            scope[STATE_KEY] = self.state
        await self.app(scope, receive, send)


async def open_auth(
    app: FastAPI, settings: Settings, http: httpx.AsyncClient, stack: AsyncExitStack
) -> None:
    # create_app resolved the secret (a random one in demo mode without one).
    secret = settings.session.secret.get_secret_value()
    store = create_store(
        settings.session.backend, secret=secret, redis_url=settings.session.redis_url
    )
    stack.push_async_callback(store.close)
    app.state.sessions = store
    app.state.bearer = BearerValidator(http, settings.oidc)
    app.state.oidc = OidcClient(http, settings, app.state.bearer.key)

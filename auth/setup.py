"""Wiring auth into the app: ``install_auth`` (routes) and ``open_auth`` (lifespan objects).

``open_auth`` opens the ``AuthState``: the session store, the
``BearerValidator`` (owner of the one JWKS cache) and the ``OidcClient``
(which checks ID tokens with the validator's keys).
"""

from __future__ import annotations

import logging
import secrets
from contextlib import AsyncExitStack

import httpx
from fastapi import FastAPI

from auth.oidc import OidcClient
from auth.routes import router
from auth.sessions import create_store
from auth.state import AuthState
from auth.tokens import BearerValidator
from core.settings import Settings

log = logging.getLogger("auth")


def install_auth(app: FastAPI) -> None:
    app.include_router(router)


async def open_auth(
    settings: Settings, http: httpx.AsyncClient, stack: AsyncExitStack
) -> AuthState:
    secret = settings.session.secret.get_secret_value()
    if not secret:
        # Only reachable in demo mode (Settings refuses an empty secret otherwise):
        # sessions then live as long as this process and are not shared by replicas.
        secret = secrets.token_urlsafe(32)
        log.warning("GATEWAY_SESSION__SECRET is empty (demo mode): using a random one")
    store = create_store(
        settings.session.backend, secret=secret, redis_url=settings.session.redis_url
    )
    stack.push_async_callback(store.close)
    bearer = BearerValidator(http, settings.oidc)
    return AuthState(settings, store, bearer, OidcClient(http, settings, bearer.key))

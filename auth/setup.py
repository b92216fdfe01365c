"""Wiring auth into the app: ``install_auth`` (routes) and ``open_auth`` (lifespan objects).

``open_auth`` opens the ``AuthState``: the session store, the
``BearerValidator`` (owner of the one JWKS cache) and the ``OidcClient``
(which checks ID tokens with the validator's keys).
"""

from __future__ import annotations

from contextlib import AsyncExitStack

import httpx
from fastapi import FastAPI

from auth.oidc import OidcClient
from auth.routes import router
from auth.sessions import create_store
from auth.state import AuthState
from auth.tokens import BearerValidator
from core.settings import Settings


def install_auth(app: FastAPI) -> None:
    app.include_router(router)


async def open_auth(
    settings: Settings, http: httpx.AsyncClient, stack: AsyncExitStack
) -> AuthState:
    # create_app resolved the secret (a random one in demo mode without one).
    secret = settings.session.secret.get_secret_value()
    store = create_store(
        settings.session.backend, secret=secret, redis_url=settings.session.redis_url
    )
    stack.push_async_callback(store.close)
    bearer = BearerValidator(http, settings.oidc)
    return AuthState(settings, store, bearer, OidcClient(http, settings, bearer.key))

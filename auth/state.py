"""``AuthState``: what the auth routes and dependencies work with, opened in the lifespan.

The gateway's lifespan yields it into Starlette's lifespan state under
``"auth"``; every request (and every app mounted below the gateway) finds it
in ``scope["state"]``.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import HTTPConnection

from auth.oidc import OidcClient
from auth.sessions import SessionStore
from auth.tokens import BearerValidator
from core.lifespan import lifespan_value
from core.settings import Settings

AUTH_STATE = "auth"


@dataclass(frozen=True)
class AuthState:
    settings: Settings
    sessions: SessionStore
    bearer: BearerValidator
    oidc: OidcClient


def auth_state(connection: HTTPConnection) -> AuthState:
    """The ``AuthState`` of the app serving this request."""
    return lifespan_value(connection, AUTH_STATE, AuthState)

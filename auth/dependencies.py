"""Who is calling: ``authenticate`` and the ``CurrentUser``/``BrowserUser`` dependencies.

A caller is identified by exactly one credential, checked in this order:

1. ``Authorization: Bearer <64 hex>`` — an OSCAR service token, good for the
   one service named in the path (OSCAR checks it; we only scope it).
2. ``Authorization: Bearer <JWT>`` — validated by ``BearerValidator``; a bad
   bearer is a 401 even when a session cookie is also sent.
3. The session cookie — looked up in the session store; the access token is
   refreshed ``session.refresh_margin_seconds`` before it expires, and a
   refresh the provider refuses ends the session.

Bearer calls never touch the session store, so they keep working when Redis
is down; session lookups then raise ``Unavailable`` (503).
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

from fastapi import Depends, Request
from starlette.requests import HTTPConnection

from auth import cookies
from auth.oidc import OidcClient
from auth.sessions import Session, SessionStore
from auth.state import auth_state
from auth.tokens import BearerValidator, is_service_token
from core.errors import GatewayError, LoginRequired, ProviderRefused, Unauthorized
from core.identity import User
from core.settings import Settings

log = logging.getLogger("auth")
# Path parameters that name the OSCAR service a route acts on.
_SERVICE_PARAMS = ("service", "name", "service_name")


async def authenticate(request: Request) -> User | None:
    """The caller, or ``None`` when no credential was sent; bad credentials raise 401."""
    header = request.headers.get("authorization")
    if header:
        return await bearer_user(request, header)
    return await session_user(request)


async def bearer_user(request: HTTPConnection, header: str) -> User:
    """The caller of an ``Authorization`` header (never the cookie); 401 when it is not good."""
    scheme, _, token = header.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("Send 'Authorization: Bearer <token>'; other schemes are not accepted.")
    if is_service_token(token):
        service = next(
            (str(request.path_params[p]) for p in _SERVICE_PARAMS if p in request.path_params),
            None,
        )
        if service is None:
            raise Unauthorized(
                "A service token only works for calls of its own service "
                "(/api/v1/services/<name>/...)."
            )
        return User(
            sub=f"service:{service}", kind="service_token", access_token=token, service=service
        )
    validator: BearerValidator = auth_state(request).bearer
    claims = dict(await validator.validate(token))
    return User(
        sub=str(claims["sub"]),
        kind="bearer",
        access_token=token,
        name=claims.get("name") or claims.get("preferred_username"),
        email=claims.get("email"),
        groups=_groups(claims),
        expires_at=float(claims["exp"]) if "exp" in claims else None,
    )


def _groups(claims: dict[str, Any]) -> tuple[str, ...]:
    groups = claims.get("groups") or ()
    return tuple(str(g) for g in groups) if isinstance(groups, list | tuple) else ()


async def session_user(request: Request) -> User | None:
    """The user of the session cookie (refreshing its token when due), or ``None``."""
    settings: Settings = auth_state(request).settings
    session_id = cookies.read_session_id(request, settings)
    if not session_id:
        return None
    store: SessionStore = auth_state(request).sessions
    session = await store.get(session_id)
    if session is None or session.expires_at <= time.time():
        return None
    if session.access_expires_at - settings.session.refresh_margin_seconds <= time.time():
        async with store.lock(session_id):
            # Another request may have refreshed while this one waited for the lock.
            fresh = await store.get(session_id)
            session = await _refresh(request, session_id, fresh) if fresh else None
        if session is None:
            return None
    return _user_of(session, session_id)


async def _refresh(request: Request, session_id: str, session: Session) -> Session | None:
    settings: Settings = auth_state(request).settings
    if session.access_expires_at - settings.session.refresh_margin_seconds > time.time():
        return session
    store: SessionStore = auth_state(request).sessions
    oidc: OidcClient = auth_state(request).oidc
    if not session.refresh_token:
        return session if session.access_expires_at > time.time() else await _end(store, session_id)
    try:
        tokens = await oidc.refresh(session.refresh_token)
    except ProviderRefused as exc:
        log.warning("token refresh refused by the provider (%s): session ended", exc.error)
        return await _end(store, session_id)
    except GatewayError as exc:
        # Provider unreachable: keep the current token while it is still valid.
        log.warning("token refresh failed (%s)", exc.detail or exc.code)
        return session if session.access_expires_at > time.time() else await _end(store, session_id)
    session.access_token = tokens.access_token
    session.access_expires_at = tokens.expires_at
    session.refresh_token = tokens.refresh_token
    session.id_token = tokens.id_token or session.id_token
    await store.save(session_id, session)
    return session


async def _end(store: SessionStore, session_id: str) -> Session | None:
    """Delete the session; ``None`` so callers can ``return await _end(...)``."""
    await store.delete(session_id)
    return None


def _user_of(session: Session, session_id: str) -> User:
    return User(
        sub=session.sub,
        kind="session",
        access_token=session.access_token,
        name=session.name,
        email=session.email,
        groups=tuple(session.groups),
        session_id=session_id,
        expires_at=session.expires_at,
    )


async def require_user(request: Request) -> User:
    """The caller, or 401 with ``WWW-Authenticate: Bearer`` (API routes)."""
    user = await authenticate(request)
    if user is None:
        raise Unauthorized()
    return user


async def require_browser_user(request: Request) -> User:
    """The caller; a browser with no session is sent to the login page (HTML routes)."""
    try:
        user = await authenticate(request)
    except Unauthorized:
        user = None
    if user is not None:
        return user
    raise LoginRequired()


CurrentUser = Annotated[User, Depends(require_user)]
BrowserUser = Annotated[User, Depends(require_browser_user)]

"""Browser login routes: ``/auth/login``, ``/auth/callback``, ``/auth/logout``, ``/auth/me``.

The authorization code flow with PKCE (RFC 7636, S256), ``state`` and
``nonce`` (OIDC Core 3.1.2.1).  ``/auth/login`` keeps state, nonce, verifier
and ``next`` server-side under a login id held in a short-lived cookie;
``/auth/callback`` consumes that record once, checks ``state`` against it,
trades the code, validates the ID token (nonce included) and only then
creates a session under a fresh id (no session fixation: a cookie the
browser brought is never adopted).  Each failure is logged once, with the
request id and without codes, tokens or cookie values.
"""

from __future__ import annotations

import html
import logging
import secrets
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from auth import cookies
from auth.dependencies import BrowserUser, CurrentUser
from auth.oidc import OidcClient
from auth.redirects import checked_next, safe_or_home
from auth.sessions import PendingLogin, Session, SessionStore, new_id
from auth.state import auth_state
from core.errors import BadRequest, Forbidden, GatewayError, ProviderRefused
from core.requestid import current_request_id
from core.settings import Settings

log = logging.getLogger("auth")

router = APIRouter(prefix="/auth", tags=["auth"])


def _request_id(request: Request) -> str:
    return current_request_id() or request.headers.get("x-request-id", "-")


def _fail(request: Request, reason: str, exc: GatewayError) -> GatewayError:
    """Log a refused auth step once (5xx are logged by gateway/errorpages.py instead)."""
    if exc.status_code < 500:
        log.warning("%s (request %s): %s", reason, _request_id(request), exc.detail or exc.code)
    return exc


@router.get("/login")
async def login(request: Request, next: str | None = None) -> Response:
    """Start a login at the identity provider; come back to ``next`` (a path of this site)."""
    settings: Settings = auth_state(request).settings
    try:
        target = checked_next(next, settings.root_path)
    except BadRequest as exc:
        exc.detail = "off-site next rejected"
        raise _fail(request, "login refused", exc) from None
    pending = PendingLogin(
        state=secrets.token_urlsafe(32),
        nonce=secrets.token_urlsafe(32),
        code_verifier=secrets.token_urlsafe(64),
        next_url=target,
    )
    oidc: OidcClient = auth_state(request).oidc
    url = await oidc.authorization_url(
        state=pending.state, nonce=pending.nonce, code_verifier=pending.code_verifier
    )
    login_id = new_id()
    store: SessionStore = auth_state(request).sessions
    await store.put_login(login_id, pending, settings.session.login_ttl_seconds)
    response = RedirectResponse(url, status_code=303)
    cookies.set_login_cookie(response, settings, login_id)
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/callback")
async def callback(request: Request) -> Response:
    """Where the identity provider sends the browser back with a code."""
    settings: Settings = auth_state(request).settings
    try:
        pending = await _pending_login(request, settings)
        session = await _session_from_code(request, pending)
    except GatewayError as exc:
        raise _fail(request, "login callback rejected", exc) from None
    store: SessionStore = auth_state(request).sessions
    old_id = cookies.read_session_id(request, settings)
    if old_id:
        # Rotation: whatever session this browser had before is gone after a login.
        await store.delete(old_id)
    session_id = await store.create(session)
    log.info("login of %s (request %s)", session.sub, _request_id(request))
    response = RedirectResponse(safe_or_home(pending.next_url, settings.root_path), 303)
    cookies.set_session_cookie(response, settings, session_id)
    cookies.clear_login_cookie(response, settings)
    response.headers["Cache-Control"] = "no-store"
    return response


async def _pending_login(request: Request, settings: Settings) -> PendingLogin:
    params = request.query_params
    if "error" in params:
        raise BadRequest(
            "The identity provider did not log you in "
            f"({params.get('error', '')[:64]}). Start the login again.",
            detail=f"provider error {params.get('error', '')[:64]!r}",
        )
    login_id = cookies.read_login_id(request, settings)
    if not login_id:
        raise BadRequest(
            "No login was started in this browser, or it took too long. Start the login again.",
            detail="no login cookie",
        )
    store: SessionStore = auth_state(request).sessions
    pending = await store.pop_login(login_id)
    if pending is None:
        raise BadRequest(
            "This login has expired or was already used. Start the login again.",
            detail="unknown or consumed login",
        )
    state = params.get("state", "")
    if not state or not secrets.compare_digest(state.encode(), pending.state.encode()):
        raise BadRequest(
            "The login answer does not match the login this browser started (state). "
            "Start the login again.",
            detail="missing state" if not state else "state mismatch",
        )
    return pending


async def _session_from_code(request: Request, pending: PendingLogin) -> Session:
    code = request.query_params.get("code", "")
    if not code:
        raise BadRequest(
            "The login answer carries no code. Start the login again.", detail="no code"
        )
    oidc: OidcClient = auth_state(request).oidc
    try:
        tokens = await oidc.exchange_code(code, code_verifier=pending.code_verifier)
    except ProviderRefused as exc:
        raise BadRequest(
            "The identity provider refused this login (the code is used, expired or does not "
            "match this browser's login). Start the login again.",
            detail=f"token endpoint said {exc.error}",
        ) from exc
    if not tokens.id_token:
        raise BadRequest("The identity provider sent no ID token.", detail="no id_token")
    claims = await oidc.validate_id_token(
        tokens.id_token, nonce=pending.nonce, access_token=tokens.access_token
    )
    settings: Settings = auth_state(request).settings
    return Session(
        sub=str(claims["sub"]),
        access_token=tokens.access_token,
        access_expires_at=tokens.expires_at,
        refresh_token=tokens.refresh_token,
        id_token=tokens.id_token,
        expires_at=time.time() + settings.session.ttl_seconds,
        name=claims.get("name") or claims.get("preferred_username"),
        email=claims.get("email"),
        groups=[str(g) for g in claims.get("groups") or []],
    )


@router.post("/logout")
async def logout(request: Request) -> Response:
    """End the session (needs its CSRF token) and log out at the identity provider too."""
    settings: Settings = auth_state(request).settings
    store: SessionStore = auth_state(request).sessions
    session_id = cookies.read_session_id(request, settings)
    session = await store.get(session_id) if session_id else None
    if session_id is None or session is None:
        response: Response = RedirectResponse(_logged_out_url(settings), status_code=303)
        cookies.clear_session_cookie(response, settings)
        return response
    sent = await _csrf_token_sent(request)
    if not sent or not secrets.compare_digest(sent.encode(), session.csrf_token.encode()):
        raise _fail(
            request,
            "logout refused",
            Forbidden(
                "The logout request did not come from this site's logout button (CSRF token "
                "missing or wrong). Use the logout button.",
                detail="csrf token missing" if not sent else "csrf token mismatch",
            ),
        )
    await store.delete(session_id)
    oidc: OidcClient = auth_state(request).oidc
    provider_logout = await oidc.end_session_url(
        id_token=session.id_token, post_logout=_logged_out_url(settings, absolute=True)
    )
    log.info("logout of %s (request %s)", session.sub, _request_id(request))
    response = RedirectResponse(provider_logout or _logged_out_url(settings), status_code=303)
    cookies.clear_session_cookie(response, settings)
    return response


async def _csrf_token_sent(request: Request) -> str:
    header = request.headers.get("x-csrf-token")
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get("csrf_token")
        return value if isinstance(value, str) else ""
    return ""


def _logged_out_url(settings: Settings, *, absolute: bool = False) -> str:
    base = settings.public_url.rstrip("/") if absolute else settings.root_path
    return f"{base}/auth/logged-out"


@router.get("/logged-out", response_class=HTMLResponse)
async def logged_out(request: Request) -> HTMLResponse:
    """The page shown after logout."""
    settings: Settings = auth_state(request).settings
    return _page(
        "Logged out",
        "<p>You are logged out.</p>"
        f"<p><a href='{settings.root_path}/auth/login'>Log in again</a></p>",
    )


@router.get("/me")
async def me(request: Request, user: CurrentUser) -> JSONResponse:
    """Who you are: sub, name, email, groups and when your session ends."""
    body: dict[str, Any] = {
        "sub": user.sub,
        "name": user.name,
        "email": user.email,
        "groups": list(user.groups),
        "kind": user.kind,
        "expires_at": user.expires_at,
    }
    if user.kind == "session":
        session = await _session_of(request, user)
        body["csrf_token"] = session.csrf_token if session else None
    return JSONResponse(body, headers={"Cache-Control": "no-store"})


async def _session_of(request: Request, user: CurrentUser) -> Session | None:
    store: SessionStore = auth_state(request).sessions
    return await store.get(user.session_id) if user.session_id else None


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, user: BrowserUser) -> HTMLResponse:
    """Your account page (HTML): who you are, and a logout button."""
    settings: Settings = auth_state(request).settings
    session = await _session_of(request, user)
    csrf = html.escape(session.csrf_token) if session else ""
    groups = html.escape(", ".join(user.groups) or "none")
    return _page(
        "Your account",
        f"<p id='who'>Logged in as <b>{html.escape(user.display_name)}</b> "
        f"(<code>{html.escape(user.sub)}</code>)</p><p>Groups: {groups}</p>"
        f"<form method='post' action='{settings.root_path}/auth/logout'>"
        f"<input type='hidden' name='csrf_token' value='{csrf}'>"
        "<button type='submit'>Log out</button></form>",
    )


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        "<!doctype html><meta charset=utf-8>"
        f"<title>oscar-gateway: {html.escape(title)}</title>"
        "<main style='font-family:system-ui;max-width:40rem;margin:4rem auto'>"
        f"<h1>{html.escape(title)}</h1>{body}</main>",
        headers={"Cache-Control": "no-store"},
    )

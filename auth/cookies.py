"""The two cookies the gateway sets, and their flags.

Both hold only opaque random ids (see ``auth/sessions.py``).  Flags follow
OWASP's session management guidance: ``HttpOnly`` (no script reads them),
``SameSite=Lax`` (sent on the provider's top-level redirect back to
``/auth/callback``, not on cross-site POSTs), ``Secure`` when the public URL
is https, and ``Path`` = our prefix so a neighbour under the same host never
sees them.  Over https their names carry a cookie prefix (RFC 6265bis §4.1.3):
``__Host-`` when the path is ``/`` (the browser then refuses the cookie from
anyone but us: no ``Domain``, ``Secure``, ``Path=/``, so a sibling subdomain
cannot plant or shadow it), ``__Secure-`` under a prefix; plain names only in
the http demo.  Nginx's sticky UI routing hashes on the full name
(``NGINX_SESSION_COOKIE``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from core.settings import Settings


def cookie_prefix(settings: Settings, path: str) -> str:
    """``__Host-`` (https, path ``/``), ``__Secure-`` (https), else ''."""
    if not settings.secure_cookies:
        return ""
    return "__Host-" if path == "/" else "__Secure-"


def session_cookie_name(settings: Settings) -> str:
    return cookie_prefix(settings, cookie_path(settings)) + settings.session.cookie_name


def login_cookie_name(settings: Settings) -> str:
    # A login in progress: binds the provider's answer to the browser that started it.
    return session_cookie_name(settings) + "_login"


def cookie_path(settings: Settings) -> str:
    return settings.root_path or "/"


def read_session_id(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(session_cookie_name(settings)) or None


def read_login_id(request: Request, settings: Settings) -> str | None:
    return request.cookies.get(login_cookie_name(settings)) or None


def set_session_cookie(response: Response, settings: Settings, session_id: str) -> None:
    _set(
        response, settings, session_cookie_name(settings), session_id, settings.session.ttl_seconds
    )


def set_login_cookie(response: Response, settings: Settings, login_id: str) -> None:
    _set(
        response,
        settings,
        login_cookie_name(settings),
        login_id,
        settings.session.login_ttl_seconds,
    )


def clear_session_cookie(response: Response, settings: Settings) -> None:
    _clear(response, settings, session_cookie_name(settings))


def clear_login_cookie(response: Response, settings: Settings) -> None:
    _clear(response, settings, login_cookie_name(settings))


def _set(response: Response, settings: Settings, name: str, value: str, max_age: int) -> None:
    response.set_cookie(
        name,
        value,
        max_age=max_age,
        path=cookie_path(settings),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )


def _clear(response: Response, settings: Settings, name: str) -> None:
    response.delete_cookie(
        name,
        path=cookie_path(settings),
        httponly=True,
        samesite="lax",
        secure=settings.secure_cookies,
    )

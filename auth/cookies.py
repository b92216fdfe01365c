"""The two cookies the gateway sets, and their flags.

Both hold only opaque random ids (see ``auth/sessions.py``).  Flags follow
OWASP's session management guidance: ``HttpOnly`` (no script reads them),
``SameSite=Lax`` (sent on the provider's top-level redirect back to
``/auth/callback``, not on cross-site POSTs), ``Secure`` when the public URL
is https, and ``Path`` = our prefix so a neighbour under the same host never
sees them.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response

from core.settings import Settings


def session_cookie_name(settings: Settings) -> str:
    return settings.session.cookie_name


def login_cookie_name(settings: Settings) -> str:
    # A login in progress: binds the provider's answer to the browser that started it.
    return settings.session.cookie_name + "_login"


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

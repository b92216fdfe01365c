"""Cross-site request forgery: an unsafe request that relies on our cookies must come from us.

``SameSite=Lax`` keeps the session cookie off cross-site POSTs, but sibling
subdomains are the same *site*: a page on ``blog.example.org`` could POST to
``gw.example.org`` with the user's cookie.  So a POST, PUT, PATCH or DELETE
that carries our session or embed cookie and no ``Authorization`` header
(a bearer request never relies on the cookie, ``auth.dependencies``) must
name, in ``Origin`` or else ``Referer``, the origin of ``GATEWAY_PUBLIC_URL``
or one of ``GATEWAY_EMBED__ALLOWED_ORIGINS``; anything else (``null``
included) is 403 with the reason.

A request with neither header is let through: browsers send ``Origin`` on
every request whose method is not GET or HEAD (Fetch standard, "append a
request Origin header"), so only a non-browser client omits both, and it could
as well send our origin.  (Django makes the same call, asking for a
``Referer`` only when ``Origin`` is missing.)
"""

from __future__ import annotations

import logging
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.requests import Request, cookie_parser
from starlette.types import ASGIApp, Receive, Scope, Send

from auth.cookies import session_cookie_name
from auth.embed import embed_cookie_name
from core.errorpages import render
from core.errors import Forbidden
from core.settings import Settings

log = logging.getLogger("gateway.csrf")
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_DEFAULT_PORTS = {"http": "80", "https": "443"}


def origin_of(url: str) -> str:
    """``scheme://host[:port]`` of ``url``, lower case, default port dropped ('' if none)."""
    try:
        parts = urlsplit(url.strip())
        host, port = (parts.hostname or ""), parts.port
    except ValueError:
        return ""
    scheme = parts.scheme.lower()
    if not scheme or not host:
        return ""
    netloc = host if port is None or str(port) == _DEFAULT_PORTS.get(scheme) else f"{host}:{port}"
    return f"{scheme}://{netloc}"


def trusted_origins(settings: Settings) -> frozenset[str]:
    """Our own origin and the embed allow-list."""
    origins = {origin_of(settings.public_url)}
    origins.update(origin_of(o) for o in settings.embed.allowed_origins)
    return frozenset(o for o in origins if o)


def _relies_on_cookie(headers: Headers, names: tuple[str, ...]) -> bool:
    """Does the request carry one of our cookies, and no ``Authorization`` that beats it?"""
    if "authorization" in headers:
        return False
    jar = cookie_parser(headers.get("cookie", ""))
    return any(jar.get(name) for name in names)


def claimed_origin(headers: Headers) -> str | None:
    """What the request says it comes from: ``Origin``, else ``Referer``'s origin, else None."""
    origin = headers.get("origin")
    if origin is not None:
        return origin_of(origin) or origin
    referer = headers.get("referer")
    if referer is not None:
        return origin_of(referer) or referer
    return None


def refusal(origin: str, settings: Settings) -> Forbidden:
    ours = origin_of(settings.public_url)
    return Forbidden(
        f"Refused: this request comes from {origin!r}, which is neither this site ({ours}) "
        "nor a site allowed to embed it, and it relies on your login cookie. It looks like "
        "cross-site request forgery. Use the page on this site itself, or call the API with "
        "'Authorization: Bearer <token>'.",
        detail="cross-site origin",
    )


class CSRFOriginMiddleware:
    """Refuse cookie-authenticated unsafe requests from foreign origins (module docstring)."""

    def __init__(self, app: ASGIApp, *, settings: Settings) -> None:
        self.app = app
        self.settings = settings
        self.trusted = trusted_origins(settings)
        self.cookies = (session_cookie_name(settings), embed_cookie_name(settings))

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in UNSAFE_METHODS:
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        origin = claimed_origin(headers)
        if origin is None or origin in self.trusted or not _relies_on_cookie(headers, self.cookies):
            await self.app(scope, receive, send)
            return
        log.warning(
            "refused a cookie %s to %s from origin %s", scope["method"], scope["path"], origin
        )
        error = refusal(origin, self.settings)
        response = render(Request(scope, receive), error.status_code, error.to_dict())
        await response(scope, receive, send)


def install_csrf(app: FastAPI, settings: Settings) -> None:
    """Refuse cookie-authenticated unsafe requests from foreign origins, before any route."""
    app.add_middleware(CSRFOriginMiddleware, settings=settings)

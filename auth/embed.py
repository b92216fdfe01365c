"""Who an embedded visitor is: signed embed links and cookies, and public-mode visitors.

- Signed embed links: a site's backend, logged in as someone who may read the
  service, mints a link (``mint_link``); opening it (``open_link``) sets an
  embed cookie valid for that one service.  Link and cookie are Fernet tokens
  (AES + HMAC-SHA256 with a key derived from the session secret), expiring,
  carrying the service name and the service's own token, which the visitor
  never sees.  OSCAR accepts a service token only on ``/run`` and ``/job`` of
  its own service (oscar-api.md §1), so an embed credential cannot reach
  anything else.
- Public mode: for services in ``embed.public_services`` with a token in
  ``embed.public_tokens`` (configured by the operator), anonymous visitors act
  with that service token (``public_user``), rate-limited per IP.
"""

from __future__ import annotations

import json
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from starlette.requests import Request

from core.errors import Forbidden
from core.identity import User
from core.keys import fernet_for
from core.settings import Settings

EMBED_COOKIE = "oscar_gateway_embed"


def embed_cookie_name(settings: Settings) -> str:
    """``__Secure-oscar_gateway_embed`` over https (its path is a UI's), else the plain name."""
    return ("__Secure-" if settings.secure_cookies else "") + EMBED_COOKIE


def _fernet(settings: Settings) -> Fernet:
    return fernet_for(settings, "embed links")


def seal(settings: Settings, claims: dict[str, Any]) -> str:
    """An encrypted, authenticated token carrying ``claims`` (which include ``exp``)."""
    return _fernet(settings).encrypt(json.dumps(claims).encode()).decode()


def unseal(settings: Settings, token: str, *, kind: str, service: str) -> dict[str, Any]:
    """The claims of a valid, unexpired token of ``kind`` for ``service``; Forbidden otherwise."""
    try:
        claims = json.loads(_fernet(settings).decrypt(token.encode()))
    except (InvalidToken, ValueError) as exc:
        raise Forbidden("This embed link is not valid. Ask the site for a new one.") from exc
    if claims.get("kind") != kind or claims.get("svc") != service:
        raise Forbidden("This embed link is for another service.")
    if float(claims.get("exp", 0)) < time.time():
        raise Forbidden("This embed link has expired. Reload the page that showed it.")
    return dict(claims)


def mint_link(settings: Settings, *, service: str, sub: str, service_token: str) -> tuple[str, int]:
    """A link that opens ``service``'s UI for ``link_ttl_seconds``; returns (url, expires_at)."""
    expires = int(time.time()) + settings.embed.link_ttl_seconds
    claims = {"kind": "link", "svc": service, "sub": sub, "tok": service_token, "exp": expires}
    base = settings.public_url.rstrip("/")
    return f"{base}/embed/{service}?t={seal(settings, claims)}", expires


def open_link(settings: Settings, *, service: str, token: str) -> tuple[str, int]:
    """Check a link token and turn it into an embed cookie value; returns (cookie, max_age)."""
    claims = unseal(settings, token, kind="link", service=service)
    max_age = settings.embed.link_session_seconds
    cookie = {**claims, "kind": "cookie", "exp": int(time.time()) + max_age}
    return seal(settings, cookie), max_age


def embed_cookie(settings: Settings, *, service: str, value: str, max_age: int) -> str:
    """The ``Set-Cookie`` value: ``SameSite=None; Secure; Partitioned`` over https.

    Written by hand: Starlette only emits ``Partitioned`` on Python >= 3.14.
    ``Partitioned`` (CHIPS) keeps the cookie working in an iframe where browsers block
    unpartitioned third-party cookies; the value is a Fernet token (URL-safe, no quoting).
    """
    path = f"{settings.root_path}/ui/{service}/"
    parts = [
        f"{embed_cookie_name(settings)}={value}",
        f"Max-Age={max_age}",
        f"Path={path}",
        "HttpOnly",
    ]
    if settings.secure_cookies:
        parts += ["Secure", "SameSite=None", "Partitioned"]
    else:
        # Browsers drop SameSite=None cookies without Secure: plain http (the demo) stays Lax.
        parts.append("SameSite=Lax")
    return "; ".join(parts)


def embed_user(request: Request, settings: Settings, *, service: str) -> User | None:
    """The visitor of a signed embed link for ``service`` (from its cookie), if any."""
    token = request.cookies.get(embed_cookie_name(settings))
    if not token:
        return None
    try:
        claims = unseal(settings, token, kind="cookie", service=service)
    except Forbidden:
        return None
    return User(
        sub=f"embed:{claims['sub']}",
        kind="service_token",
        access_token=str(claims["tok"]),
        name=f"guest of {claims['sub']}",
        service=service,
        expires_at=float(claims["exp"]),
    )


def public_user(request: Request, settings: Settings, *, service: str) -> User | None:
    """An anonymous visitor of a public-embed service, acting with its configured token."""
    if service not in settings.embed.public_services:
        return None
    token = settings.embed.public_tokens.get(service)
    if token is None:
        return None
    client = request.client.host if request.client else "unknown"
    return User(
        sub=f"anonymous:{client}",
        kind="service_token",
        access_token=token.get_secret_value(),
        name="anonymous",
        service=service,
    )

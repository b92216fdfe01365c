"""Embedding the UIs on other sites: who may frame and call us, and how visitors log in.

- ``install_embed(app, settings)``: our own CORS from
  ``settings.embed.allowed_origins``, the only policy (each Gradio app's private
  FastAPI gets a do-nothing ``CORSMiddleware`` so that Gradio's permissive one
  steps aside, ``gradio_cors_off``) and ``Content-Security-Policy: frame-ancestors``
  from the same list on every response (Gradio sets neither).
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

import base64
import hashlib
import hmac
import json
import time
from typing import Any

from cryptography.fernet import Fernet, InvalidToken
from fastapi import FastAPI, Request
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from auth.models import User
from gateway.errors import Forbidden
from gateway.settings import Settings

EMBED_COOKIE = "oscar_gateway_embed"


def embed_cookie_name(settings: Settings) -> str:
    """``__Secure-oscar_gateway_embed`` over https (its path is a UI's), else the plain name."""
    return ("__Secure-" if settings.secure_cookies else "") + EMBED_COOKIE


def frame_ancestors(settings: Settings) -> str:
    """The CSP value: our own origin plus the allow-list, nothing else."""
    return " ".join(["frame-ancestors", "'self'", *settings.embed.allowed_origins])


class FrameAncestorsMiddleware:
    """Adds ``Content-Security-Policy: frame-ancestors ...`` unless a route set its own CSP."""

    def __init__(self, app: ASGIApp, *, policy: str) -> None:
        self.app = app
        self.policy = policy.encode()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_csp(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(k.lower() == b"content-security-policy" for k, _ in headers):
                    headers.append((b"content-security-policy", self.policy))
                message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_csp)


class AllowListCORSMiddleware(CORSMiddleware):
    """Starlette's CORS, but an origin off the list gets no ``Access-Control-*`` header at all.

    (Starlette adds ``Allow-Credentials`` and ``Expose-Headers`` to every answer
    that had an ``Origin``, allowed or not.)
    """

    async def simple_response(
        self, scope: Scope, receive: Receive, send: Send, request_headers: Headers
    ) -> None:
        origin = request_headers.get("origin")
        if origin is not None and not self.is_allowed_origin(origin):
            await self.app(scope, receive, send)
            return
        await super().simple_response(scope, receive, send, request_headers)


def gradio_cors_off(app: FastAPI) -> None:
    """Make Gradio drop its permissive CORS on an app mounted on ``app``.

    Gradio's ``CustomCORSMiddleware`` echoes any ``Origin`` with credentials when
    the ``Host`` is not localhost, unless the app it is mounted on has Starlette's
    ``CORSMiddleware`` (gradio ``route_utils.py``, PR #13741).  This one allows
    nothing: the gateway's own (``install_embed``), outside it, is the policy.
    """
    app.add_middleware(CORSMiddleware, allow_origins=[])


def install_embed(app: FastAPI, settings: Settings) -> None:
    """CORS and frame-ancestors from ``settings.embed.allowed_origins`` (empty = same-origin)."""
    app.add_middleware(FrameAncestorsMiddleware, policy=frame_ancestors(settings))
    # Installed even with an empty list: the only CORS policy of the gateway and its UIs.
    app.add_middleware(
        AllowListCORSMiddleware,
        allow_origins=settings.embed.allowed_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        # Any request header: the origin allow-list is the guard; @gradio/client adds its own.
        allow_headers=["*"],
        expose_headers=["Location", "Retry-After", "Content-Disposition", "X-Request-Id"],
        max_age=600,
    )


# --- signed embed links and embed cookies ---------------------------------------------------


def _fernet(settings: Settings) -> Fernet:
    secret = settings.session.secret.get_secret_value().encode()
    key = hmac.new(secret, b"oscar-gateway embed links", hashlib.sha256).digest()
    return Fernet(base64.urlsafe_b64encode(key))


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

"""Who may frame the UIs and call us from another site: CSP frame-ancestors and CORS.

``install_embed(app, settings)``: our own CORS from ``settings.embed.allowed_origins``,
the only policy (each Gradio app's private FastAPI gets a do-nothing
``CORSMiddleware`` so that Gradio's permissive one steps aside, ``gradio_cors_off``)
and ``Content-Security-Policy: frame-ancestors`` from the same list on every
response (Gradio sets neither).  Who an embedded visitor *is* (signed links,
public mode) is ``auth.embed``.
"""

from __future__ import annotations

from fastapi import FastAPI
from starlette.datastructures import Headers
from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.settings import Settings


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

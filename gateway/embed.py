"""Who may frame the UIs and call us from another site: CSP frame-ancestors and CORS.

``install_embed(app, settings)``: our own ``CORSMiddleware`` from
``settings.embed.allowed_origins`` (Gradio >= 6.25 steps aside when the outer
app has one, PR #13741) and ``Content-Security-Policy: frame-ancestors`` from
the same list on every response (Gradio sets neither).  Who an embedded
visitor *is* (signed links, public mode) is ``auth.embed``.
"""

from __future__ import annotations

from fastapi import FastAPI
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


def install_embed(app: FastAPI, settings: Settings) -> None:
    """CORS and frame-ancestors from ``settings.embed.allowed_origins`` (empty = same-origin)."""
    app.add_middleware(FrameAncestorsMiddleware, policy=frame_ancestors(settings))
    # Installed even with an empty list: its presence makes Gradio drop its own permissive CORS.
    app.add_middleware(
        CORSMiddleware,
        allow_origins=settings.embed.allowed_origins,
        allow_credentials=True,
        allow_methods=["GET", "POST", "PUT", "DELETE", "OPTIONS"],
        # Any request header: the origin allow-list is the guard; @gradio/client adds its own.
        allow_headers=["*"],
        expose_headers=["Location", "Retry-After", "Content-Disposition", "X-Request-Id"],
        max_age=600,
    )

"""Limits on the UI path: ``/ui/<svc>/gradio_api/*`` counts and bounds like ``/api/v1``.

The ``/ui`` dispatcher applies these before Gradio sees a request:

- an invocation (POST to ``queue/join``, ``call/<api>``, ``run/<api>``,
  ``api/<api>``) counts against the per-user limiter of ``/api/v1`` runs
  (``limits.invocations_per_minute``, keyed by the user's ``sub``); for a
  public or embed visitor (a service-token user) also against the per-IP
  limiter of ``/embed/public`` (``embed.public_per_ip_per_minute``), the same
  bucket as that route's, which their uploads share too.  429 carries ``Retry-After``;
- a public or embed visitor's body, ``/upload`` included, is bounded by
  ``embed.public_max_body_bytes``: 413 at once from ``Content-Length``, else
  while it streams (it is read here, it is small); a logged-in user's by
  ``limits.max_body_bytes`` (Gradio's own ``max_file_size`` bounds a chunked
  upload).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import Receive, Scope

from core.errors import PayloadTooLarge
from core.identity import User
from core.settings import Settings
from gateway.limits import Limiters, content_length, too_large_message
from gateway.mounts.files import UPLOAD_ROUTES, read_body, replay

INVOCATION_ROUTES = (
    "/gradio_api/queue/join",
    "/gradio_api/call/",
    "/gradio_api/run/",
    "/gradio_api/api/",
)
_BODY_METHODS = ("POST", "PUT", "PATCH")


def is_invocation(method: str, route: str) -> bool:
    """Does this request to a mounted app start a prediction?"""
    return method == "POST" and route.startswith(INVOCATION_ROUTES)


def visitor_key(scope: Scope) -> str:
    """The per-IP key of ``/embed/public`` (``auth.embed.public_user``'s ``sub``)."""
    client = Request(scope).client
    return f"anonymous:{client.host if client else 'unknown'}"


async def count_invocation(limiters: Limiters, user: User, scope: Scope) -> None:
    """Count one UI invocation of ``user``; ``RateLimited`` (429) beyond a limit."""
    if user.kind == "service_token":
        await limiters.public.hit(visitor_key(scope), what="anonymous runs from your address")
    await limiters.invocations.hit(user.sub)


def body_limit(settings: Settings, user: User) -> int:
    """Largest body ``user`` may send to a mounted app."""
    if user.kind == "service_token":
        return settings.embed.public_max_body_bytes
    return settings.limits.max_body_bytes


async def bounded_body(
    scope: Scope, receive: Receive, *, settings: Settings, user: User
) -> Receive:
    """The ``receive`` to forward with, or ``PayloadTooLarge`` (413) past ``user``'s limit."""
    if scope.get("method", "GET") not in _BODY_METHODS:
        return receive
    limit = body_limit(settings, user)
    declared = content_length(scope)
    if declared is not None and declared > limit:
        raise PayloadTooLarge(too_large_message(limit))
    if user.kind != "service_token":
        return receive
    try:
        body = await read_body(receive, limit)
    except PayloadTooLarge:
        raise PayloadTooLarge(too_large_message(limit)) from None
    return replay(body, receive)


async def admit_limits(
    limiters: Limiters,
    scope: Scope,
    receive: Receive,
    *,
    settings: Settings,
    user: User,
    route: str,
) -> Receive:
    """Apply the UI path's rate and body limits (see module docstring); returns ``receive``."""
    method = scope.get("method", "GET")
    if is_invocation(method, route):
        await count_invocation(limiters, user, scope)
    elif user.kind == "service_token" and method == "POST" and route.startswith(UPLOAD_ROUTES):
        # Anonymous uploads fill the disk: they share the per-IP budget of anonymous runs.
        await limiters.public.hit(visitor_key(scope), what="anonymous uploads from your address")
    return await bounded_body(scope, receive, settings=settings, user=user)

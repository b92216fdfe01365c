"""Request limits: body size (413), and the per-caller rate limiters (429, see ratelimit).

Upstream timeouts (504) come from the OSCAR client and the passthrough, which
raise ``UpstreamTimeout``.  Limits live in ``settings.limits`` and
``settings.embed`` (public mode); their defaults are documented in the README.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass

from redis.asyncio import Redis
from redis.exceptions import RedisError
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.errors import PayloadTooLarge
from core.settings import Settings
from gateway.ratelimit import MemoryRateLimiter, RateLimiter, RedisOutage, RedisRateLimiter


def body_limit_for(settings: Settings) -> Callable[[str, str], int]:
    """``(method, path without prefix) -> max body bytes`` for the gateway's routes."""

    def limit(method: str, path: str) -> int:
        if method == "POST" and path.startswith("/api/v1/services/") and path.endswith("/jobs"):
            return settings.limits.max_job_upload_bytes
        if path.startswith("/embed/public/"):
            return settings.embed.public_max_body_bytes
        return settings.limits.max_body_bytes

    return limit


class BodyLimitMiddleware:
    """Refuse bodies over the limit: at once from ``Content-Length``, else while streaming."""

    def __init__(self, app: ASGIApp, *, limit: Callable[[str, str], int]) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = _path_without_root(scope)
        limit = self.limit(scope["method"], path)
        declared = content_length(scope)
        if declared is not None and declared > limit:
            await _send_413(send, limit)
            return
        guard = _Overflow(receive, send, limit)
        try:
            await self.app(scope, guard.receive, guard.send)
        except Exception:
            # An app that does not handle our 413 (Gradio's multipart parser answers 500
            # and re-raises) gets its answer replaced; any other error is not ours.
            if not guard.over:
                raise
        if guard.over and not guard.started:
            await _send_413(send, limit)


class _Overflow:
    """Counts a streamed body; past ``limit`` the app's own error answer becomes our 413."""

    def __init__(self, receive: Receive, send: Send, limit: int) -> None:
        self._receive, self._send, self.limit = receive, send, limit
        self.seen = 0
        self.over = False
        self.started = False
        self._dropping = False

    async def receive(self) -> Message:
        message = await self._receive()
        if message["type"] == "http.request":
            self.seen += len(message.get("body", b""))
            if self.seen > self.limit:
                self.over = True
                raise PayloadTooLarge(too_large_message(self.limit))
        return message

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            # After an overflow, only a 413 the app rendered itself goes out as it is.
            self._dropping = self.over and message["status"] != 413
            if self._dropping:
                return
            self.started = True
        if not self._dropping:
            await self._send(message)


def _path_without_root(scope: Scope) -> str:
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def content_length(scope: Scope) -> int | None:
    """The request's ``Content-Length``, if it sent a valid one."""
    for name, value in scope["headers"]:
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return None
    return None


def too_large_message(limit: int) -> str:
    """What a 413 says: the limit, and what to do instead."""
    return (
        f"The request body is larger than this gateway accepts here ({_human(limit)}). "
        "Send a smaller input, or use an asynchronous job for large files."
    )


def _human(size: int) -> str:
    for shift, unit in ((30, "GiB"), (20, "MiB"), (10, "KiB")):
        if size >= 1 << shift:
            return f"{size / (1 << shift):g} {unit}"
    return f"{size} bytes"


async def _send_413(send: Send, limit: int) -> None:
    error = PayloadTooLarge(too_large_message(limit))
    body = json.dumps(error.to_dict()).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    # The body was not read: closing the connection spares the client sending it all.
    headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": 413, "headers": headers})
    await send({"type": "http.response.body", "body": body})


@dataclass(frozen=True)
class Limiters:
    """Per-user invocations and per-IP anonymous (public-mode) runs.

    In Redis (shared by the replicas) when ``settings.limits_redis_url`` names one, else
    in memory.  ``outage`` says whether that Redis is unreachable (``/readyz`` shows it).
    """

    invocations: RateLimiter
    public: RateLimiter
    redis: Redis | None = None
    outage: RedisOutage | None = None

    @classmethod
    def from_settings(cls, settings: Settings) -> Limiters:
        url = settings.limits_redis_url
        per_user = settings.limits.invocations_per_minute
        per_ip = settings.embed.public_per_ip_per_minute
        if url is None:
            return cls(invocations=MemoryRateLimiter(per_user), public=MemoryRateLimiter(per_ip))
        redis = Redis.from_url(url, socket_timeout=2.0, socket_connect_timeout=2.0)
        outage = RedisOutage(settings.limits.fail_open)
        return cls(
            invocations=RedisRateLimiter(redis, per_user, name="user", outage=outage),
            public=RedisRateLimiter(redis, per_ip, name="ip", outage=outage),
            redis=redis,
            outage=outage,
        )

    async def check(self) -> str | None:
        """None when the counters' store answers, else what is wrong (for ``/readyz``)."""
        if self.redis is None or self.outage is None:
            return None
        try:
            await self.redis.ping()
        except (RedisError, OSError) as exc:
            self.outage.down = str(exc) or type(exc).__name__
            mode = "not enforced (fail open)" if self.outage.fail_open else "refusing (fail closed)"
            return f"Rate-limit Redis unreachable: limits {mode}"
        self.outage.answered()
        return None

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()

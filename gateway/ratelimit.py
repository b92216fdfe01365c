"""Per-caller invocation rate limits: a sliding one-minute window per key.

``MemoryRateLimiter`` counts in this process (one replica).  ``RedisRateLimiter``
counts in Redis, one sorted set of hit times per key, checked and added to in one
Lua call (atomic, Redis's own clock), so the limit holds in total over every
replica.  With that Redis unreachable it fails open (counts nothing, says so in
the log once per outage) or closed (503), per ``limits.fail_open``.
"""

from __future__ import annotations

import logging
import math
import secrets
import time
from collections import deque
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.errors import RateLimited, Unavailable

log = logging.getLogger("gateway.limits")

WINDOW_SECONDS = 60.0
_PREFIX = "oscar-gateway:rate:"

# KEYS[1] the key's hit set; ARGV: limit, window (ms), a unique member.
# Returns {1, 0} when counted, {0, ms until the oldest hit leaves the window} when refused.
_HIT = """
local now_parts = redis.call('TIME')
local now = now_parts[1] * 1000 + math.floor(now_parts[2] / 1000)
local window = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - window)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  local oldest = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
  return {0, tonumber(oldest[2]) + window - now}
end
redis.call('ZADD', KEYS[1], now, ARGV[3])
redis.call('PEXPIRE', KEYS[1], window)
return {1, 0}
"""


class RateLimiter(Protocol):
    per_minute: int

    async def hit(self, key: str, *, what: str = "invocations") -> None:
        """Count one event for ``key`` or raise ``RateLimited`` with the seconds to wait."""
        ...


def refused(per_minute: int, what: str, retry: float) -> RateLimited:
    seconds = max(1, math.ceil(retry))
    return RateLimited(
        f"Too many {what}: at most {per_minute} a minute. Try again in {seconds} s.",
        retry_after=seconds,
    )


class MemoryRateLimiter:
    """Hit times per key in this process: with N replicas a caller gets N times the limit."""

    def __init__(self, per_minute: int, *, window: float = WINDOW_SECONDS) -> None:
        self.per_minute = per_minute
        self.window = window
        self._hits: dict[str, deque[float]] = {}

    async def hit(self, key: str, *, what: str = "invocations") -> None:
        now = time.monotonic()
        hits = self._hits.setdefault(key, deque())
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        if len(hits) >= self.per_minute:
            raise refused(self.per_minute, what, hits[0] + self.window - now)
        hits.append(now)
        if len(self._hits) > 10_000:
            self._forget_idle(now)

    def _forget_idle(self, now: float) -> None:
        idle = [k for k, v in self._hits.items() if not v or v[-1] <= now - self.window]
        for key in idle:
            del self._hits[key]


class RedisOutage:
    """Whether the limits' Redis answered last time, logged once per change."""

    def __init__(self, fail_open: bool) -> None:
        self.fail_open = fail_open
        self.down: str | None = None

    def failed(self, exc: Exception) -> None:
        if self.down is None:
            mode = "failing open: limits are not enforced" if self.fail_open else "failing closed"
            log.error("rate-limit Redis unreachable (%s); %s", exc, mode)
        self.down = str(exc) or type(exc).__name__
        if not self.fail_open:
            raise Unavailable(
                "Rate limits cannot be checked right now (their store is unreachable). "
                "Try again shortly."
            ) from exc

    def answered(self) -> None:
        if self.down is not None:
            log.warning("rate-limit Redis reachable again; limits enforced")
            self.down = None


class RedisRateLimiter:
    """A sliding window per key in Redis, shared by every replica."""

    def __init__(self, redis: Redis, per_minute: int, *, name: str, outage: RedisOutage) -> None:
        self.per_minute = per_minute
        self._redis = redis
        self._name = name
        self._outage = outage
        self._script = redis.register_script(_HIT)

    async def hit(self, key: str, *, what: str = "invocations") -> None:
        redis_key = f"{_PREFIX}{self._name}:{key}"
        args: list[int | str] = [self.per_minute, int(WINDOW_SECONDS * 1000), secrets.token_hex(8)]
        try:
            counted, wait_ms = await self._script(keys=[redis_key], args=args)
        except (RedisError, OSError) as exc:
            self._outage.failed(exc)
            return
        self._outage.answered()
        if not counted:
            raise refused(self.per_minute, what, int(wait_ms) / 1000)

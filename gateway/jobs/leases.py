"""Job leases: with several replicas, one follows (polls OSCAR for) a job at a time.

``RedisLeases`` keeps ``oscar-gateway:lease:<job>`` = this replica's id with an
expiry: taken with ``SET NX PX``, renewed (compare-and-``PEXPIRE``) while the
replica follows the job, released (compare-and-``DEL``) when it stops.  A replica
that dies stops renewing, the lease expires, and another replica's sweep takes the
job over.  ``LocalLeases`` (the sqlite store: one replica) always grants them.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Protocol

import anyio
from anyio import CancelScope
from redis.asyncio import Redis
from redis.exceptions import RedisError

from core.settings import Settings

log = logging.getLogger("gateway.jobs")

_PREFIX = "oscar-gateway:lease:"
_RENEW = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def replica_id() -> str:
    """This process's name in leases: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"


class Leases(Protocol):
    shared: bool
    replica: str

    async def take(self, job_id: str) -> bool:
        """True when this replica now holds the job's lease (nobody else did)."""
        ...

    async def renew(self, job_id: str) -> bool:
        """True while this replica still holds it (its expiry pushed back)."""
        ...

    async def release(self, job_id: str) -> None: ...

    async def holder(self, job_id: str) -> str | None: ...


class LocalLeases:
    """One replica: every lease is granted (the follower already follows a job once)."""

    shared = False

    def __init__(self) -> None:
        self.replica = replica_id()

    async def take(self, job_id: str) -> bool:
        return True

    async def renew(self, job_id: str) -> bool:
        return True

    async def release(self, job_id: str) -> None:
        return None

    async def holder(self, job_id: str) -> str | None:
        return self.replica


class RedisLeases:
    """Leases in Redis (the job store's), ``ttl`` seconds each."""

    shared = True

    def __init__(self, redis: Redis, ttl: float) -> None:
        self.replica = replica_id()
        self.ttl_ms = max(1, int(ttl * 1000))
        self._redis = redis
        self._renew = redis.register_script(_RENEW)
        self._release = redis.register_script(_RELEASE)

    async def take(self, job_id: str) -> bool:
        try:
            taken = await self._redis.set(_PREFIX + job_id, self.replica, nx=True, px=self.ttl_ms)
        except (RedisError, OSError) as exc:
            log.warning("job %s: lease not taken, Redis unreachable (%s)", job_id, exc)
            return False
        if taken:
            log.info("job %s: lease taken by replica %s", job_id, self.replica)
        return bool(taken)

    async def renew(self, job_id: str) -> bool:
        try:
            args: list[str | int] = [self.replica, self.ttl_ms]
            return bool(await self._renew(keys=[_PREFIX + job_id], args=args))
        except (RedisError, OSError) as exc:
            # Unknown: keep following; if the lease did expire meanwhile, both replicas
            # may poll for a while, and the store's compare-and-set still finishes it once.
            log.warning("job %s: lease not renewed, Redis unreachable (%s)", job_id, exc)
            return True

    async def release(self, job_id: str) -> None:
        try:
            await self._release(keys=[_PREFIX + job_id], args=[self.replica])
        except (RedisError, OSError) as exc:
            log.warning("job %s: lease not released (%s); it expires by itself", job_id, exc)

    async def holder(self, job_id: str) -> str | None:
        try:
            value = await self._redis.get(_PREFIX + job_id)
        except (RedisError, OSError):
            return None
        return value.decode() if isinstance(value, bytes) else value


async def hold(leases: Leases, job_id: str, scope: CancelScope, settings: Settings) -> None:
    """Renew the job's lease every third of its time; cancel ``scope`` once it is lost."""
    if not leases.shared:
        return
    while True:
        await anyio.sleep(settings.jobs.lease_seconds / 3)
        if not await leases.renew(job_id):
            log.warning("job %s: lease lost; another replica follows it", job_id)
            scope.cancel()
            return


@asynccontextmanager
async def open_leases(settings: Settings) -> AsyncIterator[Leases]:
    """Redis leases with the redis job store (several replicas), else local ones."""
    if settings.jobs.backend != "redis":
        yield LocalLeases()
        return
    redis: Redis = Redis.from_url(settings.jobs.redis_url, socket_timeout=5.0)
    try:
        leases = RedisLeases(redis, settings.jobs.lease_seconds)
        log.info("following jobs under leases as replica %s", leases.replica)
        yield leases
    finally:
        await redis.aclose()

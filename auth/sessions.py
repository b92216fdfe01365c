"""Server-side sessions: what a session cookie stands for, kept in memory or in Redis.

The cookie carries only an opaque random id (``secrets.token_urlsafe(32)``);
tokens and claims stay here.  Stores key records by ``HMAC(secret, id)``, so
reading the store (a Redis dump, ``MONITOR``) does not yield cookie values.
Two kinds of record:

- ``Session``: the logged-in user, their tokens and the CSRF token, kept until
  ``expires_at`` (absolute lifetime, ``session.ttl_seconds``).
- ``PendingLogin``: state, nonce, PKCE verifier and ``next`` of a login in
  progress, keyed by a login id in a short-lived cookie and consumed once
  (``pop_login``), so a callback cannot be replayed.

``RedisStore`` raises ``Unavailable`` (503) when Redis cannot be reached, so
session routes say so clearly; bearer calls never touch the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import AsyncIterator, Awaitable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import asdict, dataclass, field
from typing import Protocol, TypeVar

import redis.asyncio as aioredis
from redis.exceptions import RedisError

from core.errors import Unavailable

_PREFIX = "oscar-gateway:"
T = TypeVar("T")


def new_id() -> str:
    """A fresh opaque id for a cookie (256 bits of randomness)."""
    return secrets.token_urlsafe(32)


@dataclass
class Session:
    sub: str
    access_token: str = field(repr=False)
    expires_at: float
    access_expires_at: float
    refresh_token: str | None = field(default=None, repr=False)
    id_token: str | None = field(default=None, repr=False)
    name: str | None = None
    email: str | None = None
    groups: list[str] = field(default_factory=list)
    csrf_token: str = field(default_factory=new_id, repr=False)


@dataclass
class PendingLogin:
    state: str = field(repr=False)
    nonce: str = field(repr=False)
    code_verifier: str = field(repr=False)
    next_url: str
    created_at: float = field(default_factory=time.time)


class SessionStore(Protocol):
    async def create(self, session: Session) -> str:
        """Store ``session`` under a fresh id and return the id (the cookie value)."""

    async def get(self, session_id: str) -> Session | None: ...

    async def save(self, session_id: str, session: Session) -> None:
        """Replace an existing session (after a token refresh)."""

    async def delete(self, session_id: str) -> None: ...

    async def put_login(self, login_id: str, pending: PendingLogin, ttl: int) -> None: ...

    async def pop_login(self, login_id: str) -> PendingLogin | None:
        """The pending login, removed in the same step: a second call gets ``None``."""

    def lock(self, session_id: str) -> AbstractAsyncContextManager[None]:
        """Serialises token refreshes of one session (a refresh token is good once)."""

    async def close(self) -> None: ...


class _Keys:
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def session(self, session_id: str) -> str:
        return f"{_PREFIX}session:{self._digest(session_id)}"

    def login(self, login_id: str) -> str:
        return f"{_PREFIX}login:{self._digest(login_id)}"

    def _digest(self, value: str) -> str:
        return hmac.new(self._secret, value.encode(), hashlib.sha256).hexdigest()


def _ttl(expires_at: float) -> int:
    return max(1, int(expires_at - time.time()))


class MemoryStore:
    """One process's sessions (the default; fine for a single gateway)."""

    def __init__(self, secret: str) -> None:
        self._keys = _Keys(secret)
        self._data: dict[str, tuple[float, str]] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def create(self, session: Session) -> str:
        self._purge()  # abandoned sessions go here, at the next login
        session_id = new_id()
        await self.save(session_id, session)
        return session_id

    async def get(self, session_id: str) -> Session | None:
        raw = self._read(self._keys.session(session_id))
        return Session(**json.loads(raw)) if raw else None

    async def save(self, session_id: str, session: Session) -> None:
        self._data[self._keys.session(session_id)] = (
            session.expires_at,
            json.dumps(asdict(session)),
        )

    async def delete(self, session_id: str) -> None:
        self._data.pop(self._keys.session(session_id), None)

    async def put_login(self, login_id: str, pending: PendingLogin, ttl: int) -> None:
        self._purge()
        self._data[self._keys.login(login_id)] = (time.time() + ttl, json.dumps(asdict(pending)))

    async def pop_login(self, login_id: str) -> PendingLogin | None:
        key = self._keys.login(login_id)
        raw = self._read(key)
        self._data.pop(key, None)
        return PendingLogin(**json.loads(raw)) if raw else None

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        lock = self._locks.setdefault(session_id, asyncio.Lock())
        try:
            async with lock:
                yield
        finally:
            if not lock.locked():
                self._locks.pop(session_id, None)

    async def close(self) -> None:
        self._data.clear()

    def _read(self, key: str) -> str | None:
        item = self._data.get(key)
        if item is None:
            return None
        if item[0] <= time.time():
            del self._data[key]
            return None
        return item[1]

    def _purge(self) -> None:
        now = time.time()
        for key in [k for k, (expiry, _) in self._data.items() if expiry <= now]:
            del self._data[key]


class RedisStore:
    """Sessions shared by several gateway replicas through one Redis."""

    def __init__(self, url: str, secret: str, *, timeout: float = 2.0) -> None:
        self._keys = _Keys(secret)
        self._redis = aioredis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout, decode_responses=True
        )

    async def create(self, session: Session) -> str:
        session_id = new_id()
        await self.save(session_id, session)
        return session_id

    async def get(self, session_id: str) -> Session | None:
        raw = await self._call(self._redis.get(self._keys.session(session_id)))
        return Session(**json.loads(raw)) if raw else None

    async def save(self, session_id: str, session: Session) -> None:
        key = self._keys.session(session_id)
        data = json.dumps(asdict(session))
        await self._call(self._redis.set(key, data, ex=_ttl(session.expires_at)))

    async def delete(self, session_id: str) -> None:
        await self._call(self._redis.delete(self._keys.session(session_id)))

    async def put_login(self, login_id: str, pending: PendingLogin, ttl: int) -> None:
        data = json.dumps(asdict(pending))
        await self._call(self._redis.set(self._keys.login(login_id), data, ex=ttl))

    async def pop_login(self, login_id: str) -> PendingLogin | None:
        # GETDEL (Redis >= 6.2) reads and removes atomically: two callbacks racing
        # with the same login cookie cannot both succeed.
        raw = await self._call(self._redis.getdel(self._keys.login(login_id)))
        return PendingLogin(**json.loads(raw)) if raw else None

    @asynccontextmanager
    async def lock(self, session_id: str) -> AsyncIterator[None]:
        # A Redis lock, so replicas sharing the session do not refresh it twice.
        name = self._keys.session(session_id) + ":lock"
        lock = self._redis.lock(name, timeout=30, blocking_timeout=30)
        acquired = await self._call(lock.acquire())
        try:
            yield
        finally:
            if acquired:
                with contextlib.suppress(RedisError, OSError):
                    await lock.release()

    async def close(self) -> None:
        await self._redis.aclose()

    async def _call(self, awaitable: Awaitable[T]) -> T:
        try:
            return await awaitable
        except (RedisError, OSError) as exc:
            raise Unavailable(
                "The session store (Redis) cannot be reached, so logins and browser sessions "
                "do not work right now. Try again later; API calls with a bearer token still work.",
                detail=type(exc).__name__,
            ) from exc


def create_store(backend: str, *, secret: str, redis_url: str) -> SessionStore:
    if backend == "redis":
        return RedisStore(redis_url, secret)
    return MemoryStore(secret)

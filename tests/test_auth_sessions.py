"""Session stores against a real ``redis-server`` and in memory: once-only logins, expiry."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import anyio
import pytest

from auth.sessions import MemoryStore, PendingLogin, RedisStore, Session, SessionStore
from core.errors import Unavailable
from devstack.redis import RedisServer


@pytest.fixture(params=["memory", "redis"])
async def store(
    request: pytest.FixtureRequest, redis_server: RedisServer
) -> AsyncIterator[SessionStore]:
    made: SessionStore = (
        MemoryStore("secret")
        if request.param == "memory"
        else RedisStore(redis_server.url, "secret")
    )
    yield made
    await made.close()


def _session(ttl: float = 60) -> Session:
    now = time.time()
    return Session(sub="alice", access_token="at", expires_at=now + ttl, access_expires_at=now + 30)


@pytest.mark.anyio
async def test_pending_login_is_consumed_once_even_when_raced(store: SessionStore) -> None:
    await store.put_login("login-1", PendingLogin("s", "n", "v", "/"), ttl=60)
    results: list[PendingLogin | None] = []

    async def take() -> None:
        results.append(await store.pop_login("login-1"))

    async with anyio.create_task_group() as group:
        for _ in range(5):
            group.start_soon(take)
    assert sum(r is not None for r in results) == 1


@pytest.mark.anyio
async def test_session_ids_are_fresh_and_unguessable(store: SessionStore) -> None:
    ids = {await store.create(_session()) for _ in range(20)}
    assert len(ids) == 20
    assert all(len(i) >= 43 for i in ids)
    assert await store.get("not-an-id") is None


@pytest.mark.anyio
async def test_expired_session_and_login_are_gone(store: SessionStore) -> None:
    session_id = await store.create(_session(ttl=1.2))
    await store.put_login("login-2", PendingLogin("s", "n", "v", "/"), ttl=1)
    assert await store.get(session_id) is not None
    await anyio.sleep(2.2)
    assert await store.get(session_id) is None
    assert await store.pop_login("login-2") is None


@pytest.mark.anyio
async def test_redis_store_says_unavailable_when_redis_is_down() -> None:
    server = RedisServer().start()
    store = RedisStore(server.url, "secret")
    try:
        session_id = await store.create(_session())
        server.kill()
        with pytest.raises(Unavailable):
            await store.get(session_id)
    finally:
        await store.close()
        server.stop()

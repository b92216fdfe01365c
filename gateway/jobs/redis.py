"""Job store in Redis (by setting): shared by several gateway replicas."""

from __future__ import annotations

import json
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import WatchError

from gateway.jobs.models import JobRecord, apply_changes

_PREFIX = "oscar-gateway:job:"
_OWNER = "oscar-gateway:jobs-of:"
_UNFINISHED = "oscar-gateway:jobs-unfinished"


class RedisJobStore:
    """One JSON string per job, a sorted set per owner, one set of unfinished jobs."""

    def __init__(self, url: str) -> None:
        self._redis: Redis = Redis.from_url(url, decode_responses=True)

    async def create(self, job: JobRecord) -> None:
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.set(_PREFIX + job.id, json.dumps(job.to_dict()))
            pipe.zadd(_OWNER + job.owner, {job.id: job.created_at})
            if not job.finished:
                pipe.sadd(_UNFINISHED, job.id)
            await pipe.execute()

    async def get(self, job_id: str) -> JobRecord | None:
        raw = await self._redis.get(_PREFIX + job_id)
        return JobRecord.from_dict(json.loads(raw)) if raw else None

    async def list_for(self, owner: str, *, limit: int = 100) -> list[JobRecord]:
        ids = [str(i) for i in await self._redis.zrevrange(_OWNER + owner, 0, limit - 1)]
        if not ids:
            return []
        raws = await self._redis.mget([_PREFIX + i for i in ids])
        return [JobRecord.from_dict(json.loads(r)) for r in raws if r]

    async def update(
        self, job_id: str, *, if_unfinished: bool = False, **changes: Any
    ) -> JobRecord | None:
        key = _PREFIX + job_id
        # WATCH makes the read-modify-write safe against a concurrent update from another replica.
        async with self._redis.pipeline(transaction=True) as pipe:
            while True:
                try:
                    await pipe.watch(key)
                    raw = await pipe.get(key)
                    if raw is None:
                        await pipe.reset()
                        return None
                    current = JobRecord.from_dict(json.loads(raw))
                    if if_unfinished and current.finished:
                        await pipe.reset()
                        return None
                    job = apply_changes(current, changes)
                    pipe.multi()
                    pipe.set(key, json.dumps(job.to_dict()))
                    if job.finished:
                        pipe.srem(_UNFINISHED, job_id)
                    await pipe.execute()
                    return job
                except WatchError:
                    continue

    async def delete(self, job_id: str) -> bool:
        job = await self.get(job_id)
        if job is None:
            return False
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.delete(_PREFIX + job_id)
            pipe.zrem(_OWNER + job.owner, job_id)
            pipe.srem(_UNFINISHED, job_id)
            await pipe.execute()
        return True

    async def unfinished(self) -> list[JobRecord]:
        ids = sorted(str(i) for i in await self._redis.smembers(_UNFINISHED))
        if not ids:
            return []
        raws = await self._redis.mget([_PREFIX + i for i in ids])
        jobs = [JobRecord.from_dict(json.loads(r)) for r in raws if r]
        return sorted(jobs, key=lambda j: j.created_at)

    async def close(self) -> None:
        await self._redis.aclose()

"""The gateway job store against a real sqlite file and a real redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from core.settings import JobSettings, Settings
from devstack.redis import RedisServer
from gateway.jobs import JobRecord, JobStore, new_job_id, open_job_store


@pytest.fixture
def redis_url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture(params=["sqlite", "redis"])
async def store(
    request: pytest.FixtureRequest, tmp_path: Path, redis_url: str
) -> AsyncIterator[JobStore]:
    if request.param == "redis":
        jobs = JobSettings(backend="redis", redis_url=redis_url)
    else:
        jobs = JobSettings(backend="sqlite", sqlite_path=str(tmp_path / "jobs.sqlite3"))
    settings = Settings(demo=True, data_dir=tmp_path, jobs=jobs)
    async with open_job_store(settings) as opened:
        yield opened


def _job(owner: str = "alice", **fields: object) -> JobRecord:
    uuid = new_job_id()
    return JobRecord(
        id=new_job_id(),
        owner=owner,
        service="grayify",
        input_key=f"grayify/in/{uuid}-cat.png",
        uuid=uuid,
        **fields,  # type: ignore[arg-type]
    )


@pytest.mark.anyio
async def test_created_job_reads_back_equal(store: JobStore) -> None:
    job = _job(webhook="https://hooks.example/x")
    await store.create(job)
    assert await store.get(job.id) == job


@pytest.mark.anyio
async def test_unknown_job_is_none(store: JobStore) -> None:
    assert await store.get("nope") is None
    assert await store.update("nope", status="running") is None
    assert await store.delete("nope") is False


@pytest.mark.anyio
async def test_list_for_returns_only_the_owners_jobs_newest_first(store: JobStore) -> None:
    owner = f"carol-{new_job_id()}"
    first, second = _job(owner, created_at=1.0), _job(owner, created_at=2.0)
    await store.create(first)
    await store.create(second)
    await store.create(_job(f"dave-{new_job_id()}"))
    assert [j.id for j in await store.list_for(owner)] == [second.id, first.id]
    assert [j.id for j in await store.list_for(owner, limit=1)] == [second.id]


@pytest.mark.anyio
async def test_update_stamps_and_finishing_leaves_unfinished(store: JobStore) -> None:
    job = _job()
    await store.create(job)
    assert job.id in {j.id for j in await store.unfinished()}
    running = await store.update(job.id, status="running", oscar_job="grayify-1")
    assert running is not None and running.oscar_job == "grayify-1"
    assert running.finished_at is None
    done = await store.update(job.id, status="succeeded", output_keys=["grayify/out/x.png"])
    assert done is not None and done.finished_at is not None
    assert done.output_keys == ["grayify/out/x.png"]
    assert job.id not in {j.id for j in await store.unfinished()}


@pytest.mark.anyio
async def test_update_rejects_unknown_fields(store: JobStore) -> None:
    job = _job()
    await store.create(job)
    with pytest.raises(ValueError, match="unknown job fields"):
        await store.update(job.id, colour="red")


@pytest.mark.anyio
async def test_deleted_job_is_gone_everywhere(store: JobStore) -> None:
    job = _job(f"erin-{new_job_id()}")
    await store.create(job)
    assert await store.delete(job.id) is True
    assert await store.get(job.id) is None
    assert await store.list_for(job.owner) == []
    assert job.id not in {j.id for j in await store.unfinished()}


@pytest.mark.anyio
async def test_sqlite_jobs_survive_reopening(tmp_path: Path) -> None:
    settings = Settings(demo=True, data_dir=tmp_path / "sub", jobs=JobSettings())
    job = _job()
    async with open_job_store(settings) as first:
        await first.create(job)
    async with open_job_store(settings) as second:
        assert await second.get(job.id) == job
        assert [j.id for j in await second.unfinished()] == [job.id]


def test_the_sqlite_store_lives_below_the_data_dir_never_the_working_dir(tmp_path: Path) -> None:
    assert (
        Settings(demo=True, data_dir=tmp_path).jobs_sqlite_path == tmp_path / "gateway-jobs.sqlite3"
    )
    relative = Settings(demo=True, data_dir=tmp_path, jobs=JobSettings(sqlite_path="db/j.sqlite3"))
    assert relative.jobs_sqlite_path == tmp_path / "db" / "j.sqlite3"
    with pytest.raises(ValueError, match="GATEWAY_DATA_DIR must be an absolute path"):
        Settings(demo=True, data_dir="var")

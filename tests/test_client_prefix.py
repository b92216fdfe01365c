"""The client against an OSCAR served under a path prefix: oscar-local behind a real nginx."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import httpx
import pytest

from core.errors import NotFound
from core.settings import OscarSettings
from devstack.jwt_issuer import JwtIssuer
from devstack.nginx import Nginx
from devstack.oscar import LocalOscar
from oscar.client import OscarClient
from oscar.invoke import invoke_sync


@pytest.fixture
def prefixed(local_oscar: LocalOscar) -> Iterator[Nginx]:
    port = urlsplit(local_oscar.url).port
    assert port is not None
    with Nginx([port], prefix="/clusters/oscar-1") as nginx:
        yield nginx


@pytest.fixture
async def oscar(prefixed: Nginx) -> AsyncIterator[OscarClient]:
    async with httpx.AsyncClient(timeout=30.0) as http:
        # A trailing slash on the base URL must not matter either.
        yield OscarClient(http, OscarSettings(url=prefixed.url + "/"))


@pytest.mark.anyio
async def test_prefixed_cluster_lists_gets_and_runs(
    oscar: OscarClient, prefixed: Nginx, jwt_issuer: JwtIssuer
) -> None:
    auth = f"Bearer {jwt_issuer.sign({'sub': 'alice'})}"
    await oscar.health()
    assert "cowsay" in {s.name for s in await oscar.list_services(auth=auth)}
    assert (await oscar.get_service("cowsay", auth=auth)).visibility == "public"
    output = await invoke_sync(oscar, "cowsay", "behind a prefix", auth)
    assert "behind a prefix" in output.text
    with pytest.raises(NotFound):
        await oscar.get_service("not-there", auth=auth)
    log = prefixed.access_log()
    assert "/clusters/oscar-1/system/services/cowsay" in log
    assert "/clusters/oscar-1/run/cowsay" in log

"""Gateway jobs survive a killed gateway; the follower resumes them and signs its webhook."""

from __future__ import annotations

import http.server
import io
import json
import queue
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import anyio
import httpx
import pytest
from PIL import Image

from core.settings import JobSettings, Settings
from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from gateway.jobs import open_job_store
from gateway.webhooks import verify_signature, webhook_key

WEBHOOK_SECRET = "webhook-secret-for-the-restart-test"


class _Receiver(http.server.BaseHTTPRequestHandler):
    deliveries: queue.Queue[tuple[dict[str, str], bytes]]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", "0")))
        self.deliveries.put((dict(self.headers.items()), body))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[tuple[str, queue.Queue[tuple[dict[str, str], bytes]]]]:
    deliveries: queue.Queue[tuple[dict[str, str], bytes]] = queue.Queue()
    handler = type("Receiver", (_Receiver,), {"deliveries": deliveries})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook", deliveries
    server.shutdown()
    server.server_close()


async def _stored_status(settings: Settings, job_id: str) -> str:
    async with open_job_store(settings) as store:
        job = await store.get(job_id)
    assert job is not None
    return job.status


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (0, 90, 200)).save(buffer, "PNG")
    return buffer.getvalue()


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_async_job_survives_a_killed_gateway(
    backend: str,
    idp: DevIdp,
    local_oscar_factory: Callable[..., object],
    auth_gateway_factory: Callable[..., GatewayProcess],
    receiver: tuple[str, queue.Queue[tuple[dict[str, str], bytes]]],
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> None:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    hook_url, deliveries = receiver
    settings: dict[str, object] = {
        "oscar__url": oscar.url,  # type: ignore[attr-defined]
        "jobs__backend": backend,
        "jobs__webhook_allowed_hosts": [urlsplit(hook_url).netloc],
        # The receiver listens on loopback, which webhooks may reach only when allowed.
        "jobs__webhook_allow_private_addresses": True,
        "jobs__webhook_secret": WEBHOOK_SECRET,
        # The first process looks once, right after submitting, then not for a long while.
        "oscar__job_poll_seconds": 600,
    }
    if backend == "redis":
        settings["jobs__redis_url"] = request.getfixturevalue("redis_server").url
    else:
        settings["jobs__sqlite_path"] = str(tmp_path / "jobs.sqlite3")
    gateway = auth_gateway_factory(idp, **settings)
    alice = {"Authorization": f"Bearer {fetch_tokens(idp, user='alice')['access_token']}"}
    submitted = httpx.post(
        f"{gateway.url}/api/v1/services/grayify/jobs",
        params={"webhook": hook_url, "filename": "blue.png"},
        content=_png(),
        headers=alice,
        timeout=60,
    )
    assert submitted.status_code == 202, submitted.text
    job_id = submitted.json()["id"]

    gateway.kill()
    job_settings = JobSettings.model_validate(
        {k.removeprefix("jobs__"): v for k, v in settings.items() if k.startswith("jobs__")}
    )
    stored = Settings(demo=True, jobs=job_settings)
    assert anyio.run(_stored_status, stored, job_id) in {"queued", "running"}
    gateway.env["GATEWAY_OSCAR__JOB_POLL_SECONDS"] = "0.5"
    gateway.start()

    # Nobody asks about the job: the restarted gateway's follower finishes it and calls back.
    headers, body = deliveries.get(timeout=120)
    key = webhook_key(Settings(demo=True, jobs={"webhook_secret": WEBHOOK_SECRET}))
    assert verify_signature(key, headers, body)
    assert not verify_signature(key, headers, body + b" ")
    event = json.loads(body)
    assert event["event"] == "job.finished"
    assert event["job"]["id"] == job_id and event["job"]["status"] == "succeeded"
    assert "credential" not in event["job"]

    job = httpx.get(f"{gateway.url}/api/v1/jobs/{job_id}", headers=alice).json()
    assert job["status"] == "succeeded"
    output = httpx.get(f"{gateway.url}/api/v1/jobs/{job_id}/output", headers=alice, timeout=30)
    assert output.status_code == 200
    assert Image.open(io.BytesIO(output.content)).mode == "L"

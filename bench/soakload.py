"""The mixed load of ``bench/soak.py``: REST sync runs, async jobs, Gradio two-step calls.

Each kind runs in its own threads with its own httpx client until told to
stop; ``Tally`` counts what was done and what failed, by kind.
"""

from __future__ import annotations

import io
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx


def png() -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "PNG")
    return buffer.getvalue()


@dataclass
class Tally:
    """Requests done and errors, by kind (shared by the load threads)."""

    done: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    last_error: dict[str, str] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def ok(self, kind: str) -> None:
        with self.lock:
            self.done[kind] += 1

    def failed(self, kind: str, why: str) -> None:
        with self.lock:
            self.errors[kind] += 1
            self.last_error[kind] = why[:300]

    def total(self) -> int:
        with self.lock:
            return sum(self.done.values())


def expect(response: httpx.Response, *statuses: int) -> httpx.Response:
    if response.status_code not in statuses:
        raise RuntimeError(
            f"{response.request.method} {response.url.path}: {response.status_code} "
            f"{response.read()[:300]!r}"
        )
    return response


def sync_run(http: httpx.Client, base: str) -> None:
    r = http.post(f"{base}/api/v1/services/cowsay/run", content=b"moo", headers=_text())
    if "(oo)" not in expect(r, 200).text:
        raise RuntimeError("cowsay answered without the cow")


def job(http: httpx.Client, base: str, image: bytes) -> None:
    r = http.post(
        f"{base}/api/v1/services/grayify/jobs?filename=soak.png",
        content=image,
        headers={"Content-Type": "image/png"},
    )
    url = expect(r, 202).json()["links"]["self"]
    try:
        _await_job(http, url)
        if not expect(http.get(f"{url}/output"), 200).content.startswith(b"\x89PNG"):
            raise RuntimeError("grayify's output is not a PNG")
    finally:
        expect(http.delete(url), 204)


def _await_job(http: httpx.Client, url: str) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        status = expect(http.get(url), 200).json()["status"]
        if status == "succeeded":
            return
        if status == "failed":
            raise RuntimeError("the grayify job failed")
        time.sleep(0.2)
    raise RuntimeError("the grayify job did not finish in 60 s")


def gradio_call(http: httpx.Client, base: str) -> None:
    ui = f"{base}/ui/cowsay/gradio_api/call/cowsay"
    event_id = expect(http.post(ui, json={"data": ["moo"]}), 200).json()["event_id"]
    with http.stream("GET", f"{ui}/{event_id}") as r:
        expect(r, 200)
        for line in r.iter_lines():
            if line.startswith("event: complete"):
                return
            if line.startswith("event: error"):
                raise RuntimeError("the Gradio call ended in an error event")
    raise RuntimeError("the Gradio stream ended without a result")


def _text() -> dict[str, str]:
    return {"Content-Type": "text/plain"}


def load(
    kind: str, step: Callable[[httpx.Client], None], token: str, tally: Tally, stop: threading.Event
) -> None:
    """One client doing ``step`` back to back until ``stop``."""
    with httpx.Client(headers={"Authorization": f"Bearer {token}"}, timeout=120) as http:
        while not stop.is_set():
            try:
                step(http)
            except Exception as exc:  # counted and shown: the soak goes on
                tally.failed(kind, f"{type(exc).__name__}: {exc}")
                time.sleep(0.5)
            else:
                tally.ok(kind)

"""Building one service's Gradio app: Blocks on a private thread, mounted on a private FastAPI.

Blocks are built on a thread that runs its own event loop: Gradio binds locks
to the running loop and leaks a new loop per lock when there is none.  The app
is mounted with ``gr.mount_gradio_app(..., path="")`` on a fresh FastAPI, and
its lifespan (``run_startup_events``, the queue) is held open by a task of the
pool until the app is stopped.  gradio is imported here, lazily: its import
takes seconds.

The build has no caller, so whatever a UI must ask OSCAR first (a DEEPaaS
model's ``--help``) is asked before it, on the gateway's loop, with the
credential of the caller whose request made the build (``registry.prepare``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import anyio
from anyio.abc import TaskGroup
from starlette.requests import Request
from starlette.types import ASGIApp

from core.errors import Unavailable
from core.identity import User
from core.settings import Settings
from gateway.embed import gradio_cors_off
from gateway.mounts.memory import settle_after_build
from gateway.mounts.sessions import Sessions, bound_gradio_tables
from oscar.models import Service
from uis.files import AppFiles, mark_launched
from uis.handlers import USER_STATE_KEY, ServiceContext
from uis.spec import definition_hash

log = logging.getLogger("gateway.mounts")
T = TypeVar("T")


@dataclass
class Mounted:
    """One live Gradio app."""

    name: str
    definition_hash: str
    app: ASGIApp
    blocks: Any
    files: AppFiles
    sessions: Sessions
    stop: anyio.Event = field(default_factory=anyio.Event)
    closed: anyio.Event = field(default_factory=anyio.Event)
    active: int = 0
    last_used: float = field(default_factory=time.monotonic)

    def idle(self) -> bool:
        """No request in flight and nothing queued or running in its Gradio queue."""
        queue = getattr(self.blocks, "_queue", None)
        busy_queue = queue is not None and (
            any(job is not None for job in queue.active_jobs)
            or any(len(q.queue) for q in queue.event_queue_per_concurrency_id.values())
        )
        return self.active == 0 and not busy_queue


class _BuilderLoop:
    """A thread running an event loop where Blocks are built (see module docstring)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="ui-builder", daemon=True)
        self.thread.start()

    async def run(self, fn: Callable[[], T]) -> T:
        async def call() -> T:
            return fn()

        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(call(), self.loop))

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=5)
        self.loop.close()


class Builder:
    """Makes the live app of a service; ``context`` gives each UI its collaborators."""

    def __init__(self, settings: Settings, context: Callable[[Service], ServiceContext]) -> None:
        self.settings = settings
        self.context = context
        self._one_build = anyio.Lock()
        self._loop: _BuilderLoop | None = None

    async def build(self, service: Service, task_group: TaskGroup, *, caller: User) -> Mounted:
        """Build, mount and start the app of ``service``; its lifespan runs in ``task_group``.

        ``caller`` is the user whose request needs the app: the UI's ``prepare``
        hook asks OSCAR as them (the app itself is shared by every permitted user).
        """
        from uis import registry

        started = time.perf_counter()
        ctx = self.context(service)
        await registry.prepare(ctx, service, auth=caller.authorization)
        async with self._one_build:
            if self._loop is None:
                self._loop = _BuilderLoop()
            app, blocks = await self._loop.run(lambda: self._make(ctx))
        ui = self.settings.ui
        sessions = Sessions(
            blocks, idle_seconds=ui.session_idle_seconds, max_sessions=ui.max_sessions
        )
        mounted = Mounted(
            service.name, definition_hash(service), app, blocks, AppFiles(blocks), sessions
        )
        ready = anyio.Event()
        task_group.start_soon(_serve, mounted, ready)
        await ready.wait()
        if mounted.closed.is_set():
            raise Unavailable(f"The UI of {service.name!r} could not start. Try again later.")
        settle_after_build()
        log.info("built UI of %s in %.0f ms", service.name, (time.perf_counter() - started) * 1000)
        return mounted

    def close(self) -> None:
        if self._loop is not None:
            self._loop.close()
            self._loop = None

    def _make(self, ctx: ServiceContext) -> tuple[ASGIApp, Any]:
        """Build the Blocks and mount them on a private FastAPI (runs on the builder loop)."""
        import gradio as gr
        from fastapi import FastAPI

        from uis import registry

        blocks = registry.build(ctx)
        tune_queue(blocks, self.settings)
        parent = FastAPI(openapi_url=None, docs_url=None, redoc_url=None)
        gradio_cors_off(parent)  # the gateway's allow-list is the only CORS policy
        private = gr.mount_gradio_app(
            parent,
            blocks,
            path="",
            auth_dependency=_username,
            ssr_mode=False,
            footer_links=["api"],
            run_history=False,
            max_file_size=self.settings.limits.max_body_bytes,
            # Gradio's queue builds result-file URLs from the app's own root_path, not the
            # scope's: without it, output files lose the Nginx prefix behind a proxy and 404.
            root_path=f"{self.settings.root_path}/ui/{ctx.spec.service}",
        )
        mark_launched(blocks)  # Gradio's file-path checks run only for launched Blocks
        return private, blocks


async def _serve(mounted: Mounted, ready: anyio.Event) -> None:
    """Hold the app's lifespan open (queue running) until it is stopped."""
    app: Any = mounted.app
    try:
        async with app.router.lifespan_context(app):
            ready.set()
            await mounted.stop.wait()
            mounted.blocks.close(verbose=False)
    except Exception:
        log.exception("the UI of %s failed", mounted.name)
    finally:
        mounted.closed.set()
        ready.set()


def _username(request: Request) -> str | None:
    """Gradio's ``auth_dependency``: the caller the dispatcher already authenticated."""
    user = (request.scope.get("state") or {}).get(USER_STATE_KEY)
    return user.sub if isinstance(user, User) else None


def tune_queue(blocks: Any, settings: Settings) -> None:
    """Slow the idle polling of a Blocks' queue: each loop wakes every 1 ms / 10 ms by default."""
    queue = blocks._queue
    queue.sleep_when_free = settings.ui.queue_poll_seconds
    # Progress messages (our named stages) are sent at most 10 times a second.
    queue.progress_update_sleep_when_free = max(0.1, settings.ui.queue_poll_seconds)
    bound_gradio_tables(blocks, settings.ui.max_sessions)

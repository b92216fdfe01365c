"""The pool of live UIs: at most ``ui.max_mounted`` (LRU), idle ones closed, rebuilt on change.

Only idle apps are evicted (evicting one while a prediction runs leaves its
client hanging); an app replaced by a newer definition, or whose service
disappeared while busy, is retired and closed by the sweeper once idle.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio

from core.identity import User
from core.metrics import Metrics
from core.settings import Settings
from gateway.mounts.builder import Builder, Mounted
from gateway.mounts.memory import collect_fully, dismantle, forget_fastapi_caches, tuned_interpreter
from oscar.models import Service
from uis.spec import definition_hash

_SWEEP_SECONDS = 5.0
# A full collection stalls every app for ~0.5 s: run it when no request came for this
# long, or after this many apps were closed (gateway/mounts/memory.py).
_IDLE_COLLECT_SECONDS = 2.0
_COLLECT_EVERY = 256
# Result files written for Gradio are deleted after this long (Gradio keeps its own copy).
_PRUNE_SECONDS = 3600.0


class Pool:
    """Name -> live ``Mounted`` app; ``running()`` holds their lifespans and the sweeper."""

    def __init__(self, settings: Settings, builder: Builder, metrics: Metrics) -> None:
        self.settings = settings
        self.builder = builder
        self.metrics = metrics
        self.apps: OrderedDict[str, Mounted] = OrderedDict()
        self._build_locks: dict[str, anyio.Lock] = {}
        self._retiring: list[Mounted] = []
        self._closed_since_collect = 0
        self._last_prune = time.monotonic()
        self._tg: Any = None

    @asynccontextmanager
    async def running(self) -> AsyncIterator[Pool]:
        """Run the apps' lifespan tasks and the idle sweeper; close every app at exit."""
        with tuned_interpreter():
            async with anyio.create_task_group() as tg:
                self._tg = tg
                tg.start_soon(self._sweeper)
                try:
                    yield self
                finally:
                    await self._close_all()
                    tg.cancel_scope.cancel()
            self.builder.close()

    async def _close_all(self) -> None:
        live = [*self.apps.values(), *self._retiring]
        for mounted in live:
            mounted.stop.set()
        with anyio.move_on_after(5, shield=True):
            for mounted in live:
                await mounted.closed.wait()
        self.apps.clear()
        self._retiring.clear()

    async def app_for(self, service: Service, caller: User) -> Mounted:
        """The live app of ``service``, built (or rebuilt on a new definition) if needed.

        A build prepares the UI as ``caller`` (``Builder.build``).
        """
        wanted = definition_hash(service)
        mounted = self.apps.get(service.name)
        if mounted is not None and mounted.definition_hash == wanted:
            self.apps.move_to_end(service.name)
            return mounted
        lock = self._build_locks.setdefault(service.name, anyio.Lock())
        async with lock:
            mounted = self.apps.get(service.name)
            if mounted is not None and mounted.definition_hash == wanted:
                return mounted
            fresh = await self.builder.build(service, self._tg, caller=caller)
            if mounted is not None:
                self._retiring.append(mounted)  # closed by the sweeper once idle
            self.apps[service.name] = fresh
            self.apps.move_to_end(service.name)
        self._build_locks.pop(service.name, None)
        await self._evict_over_limit()
        self._gauge()
        return fresh

    async def drop(self, name: str) -> None:
        """Close the app of ``name`` (its service disappeared)."""
        mounted = self.apps.pop(name, None)
        if mounted is not None:
            if mounted.idle():
                await self._close(mounted)
            else:
                self._retiring.append(mounted)
            self._gauge()

    async def sweep(self) -> None:
        """Close retired apps and apps idle longer than ``ui.idle_seconds``."""
        now = time.monotonic()
        expired = [
            m
            for m in self.apps.values()
            if m.idle() and now - m.last_used > self.settings.ui.idle_seconds
        ]
        for mounted in expired:
            await self._close(self.apps.pop(mounted.name))
        for mounted in [m for m in self._retiring if m.idle()]:
            self._retiring.remove(mounted)
            await self._close(mounted)
        self._prune_sessions()
        quiet = all(
            m.active == 0 and now - m.last_used > _IDLE_COLLECT_SECONDS for m in self.apps.values()
        )
        if self._closed_since_collect and quiet:
            self._collect()
        if time.monotonic() - self._last_prune > _PRUNE_SECONDS:
            from uis.files import UPLOAD_TTL_SECONDS, prune_gradio_cache
            from uis.outputs import prune_written

            self._last_prune = time.monotonic()
            await anyio.to_thread.run_sync(prune_written, _PRUNE_SECONDS)
            await anyio.to_thread.run_sync(prune_gradio_cache, UPLOAD_TTL_SECONDS)

    async def _evict_over_limit(self) -> None:
        while len(self.apps) > self.settings.ui.max_mounted:
            victim = next((m for m in self.apps.values() if m.idle()), None)
            if victim is None:
                return  # every app is busy: stay over the limit until one is idle
            await self._close(self.apps.pop(victim.name))

    async def _close(self, mounted: Mounted) -> None:
        mounted.stop.set()
        with anyio.move_on_after(10):
            await mounted.closed.wait()
        if mounted.closed.is_set():
            dismantle(mounted.name, mounted.app, mounted.blocks)
        forget_fastapi_caches()
        self._closed_since_collect += 1
        if self._closed_since_collect >= _COLLECT_EVERY:
            self._collect()
        self.metrics.ui_evictions.inc()
        self._gauge()

    async def _sweeper(self) -> None:
        ui = self.settings.ui
        period = min(_SWEEP_SECONDS, max(0.5, min(ui.idle_seconds, ui.session_idle_seconds) / 4))
        while True:
            await anyio.sleep(period)
            await self.sweep()

    def _prune_sessions(self) -> None:
        """Drop Gradio session state nobody can use any more (gateway/mounts/sessions.py)."""
        held = sum(mounted.sessions.prune() for mounted in self.apps.values())
        self.metrics.ui_sessions.set(held)

    def _collect(self) -> None:
        self._closed_since_collect = 0
        collect_fully()

    def _gauge(self) -> None:
        self.metrics.mounted_uis.set(len(self.apps))

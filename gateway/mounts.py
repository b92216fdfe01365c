"""``/ui/<service>/``: one Gradio app per OSCAR service, built lazily, kept in a bounded LRU.

``UIMounts`` is ONE ASGI app mounted at ``/ui``.  For every request it:

1. authenticates the caller (session cookie or bearer) BEFORE anything else,
   so an anonymous request never makes the gateway build an app: browsers
   asking for HTML are sent to the login page, API/XHR calls get 401 JSON;
2. asks OSCAR, with the caller's own token, for the service (cached a few
   seconds per user+service): OSCAR's 403 gives a 403 page, its 404 drops the
   app (the service was deleted);
3. builds the app on first use — or again when the definition's hash changed —
   on a private ``FastAPI`` via ``gr.mount_gradio_app(..., path="")``, enters
   its lifespan (which runs ``run_startup_events`` and starts the queue) in a
   long-lived task, and keeps it in an LRU (``ui.max_mounted``) with idle
   expiry (``ui.idle_seconds``); only idle apps are evicted;
4. forwards the request with ``root_path`` extended by ``/<name>`` (Starlette
   keeps the full ``path``), the caller left in ``scope["state"]`` for handlers.

gradio is imported lazily (its import takes seconds), and Blocks are built on
a private thread that runs its own event loop: Gradio binds locks to the
running loop and leaks a new loop per lock when there is none.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import functools
import gc
import logging
import sys
import threading
import time
import types
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Receive, Scope, Send

from auth.dependencies import authenticate, login_url
from auth.models import User
from gateway.embed import embed_user, gradio_cors_off, public_user
from gateway.errorpages import render, wants_html
from gateway.errors import (
    Forbidden,
    GatewayError,
    NotFound,
    PayloadTooLarge,
    RateLimited,
    Unauthorized,
    Unavailable,
    UpstreamTimeout,
)
from gateway.oscar.models import Service
from gateway.oscar.names import is_service_name
from gateway.settings import Settings
from gateway.uifiles import AppFiles, admit_files, mark_launched
from gateway.uilimits import admit_limits
from gateway.uisessions import Sessions, bound_gradio_tables

if TYPE_CHECKING:
    from fastapi import FastAPI

log = logging.getLogger("gateway.mounts")
T = TypeVar("T")
USER_STATE_KEY = "gateway_user"  # read by uis.handlers.user_of
_SWEEP_SECONDS = 5.0
# Closed apps are taken apart (``_dismantle``) so reference counting frees almost all of
# them; the few cycles left (~600 objects an app) wait for a full collection, which
# stalls every app for ~0.5 s: run it when no request came for a while, or after many.
_IDLE_COLLECT_SECONDS = 2.0
_COLLECT_EVERY = 256
_GC_THRESHOLDS = (20_000, 20, 20)
_SWITCH_SECONDS = 0.001
# Result files written for Gradio are deleted after this long (Gradio keeps its own copy).
_PRUNE_SECONDS = 3600.0
_NO_SUCH_NAME = (
    "There is no such service: OSCAR service names are 1-39 lowercase letters, digits "
    "and '-'. Pick a service in the portal."
)


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


class UIMounts:
    """The ASGI dispatcher at ``/ui`` (see module docstring)."""

    def __init__(self, app: FastAPI, settings: Settings) -> None:
        self.gateway = app
        self.settings = settings
        self.apps: OrderedDict[str, Mounted] = OrderedDict()
        self._access: dict[tuple[str, str], tuple[float, Service]] = {}
        self._build_locks: dict[str, anyio.Lock] = {}
        self._one_build = anyio.Lock()
        self._retiring: list[Mounted] = []
        # Last definition any user was shown, per service (for service-token visitors).
        self._seen: dict[str, Service] = {}
        self._closed_since_collect = 0
        self._last_collect = 0.0
        self._last_prune = time.monotonic()
        self._tg: Any = None
        self._builder: _BuilderLoop | None = None

    # --- lifecycle ---------------------------------------------------------------------

    @asynccontextmanager
    async def running(self) -> AsyncIterator[UIMounts]:
        """Hold the apps' lifespan tasks and the idle sweeper; close every app at exit."""
        # Each app adds ~25k tracked objects: with the default thresholds, full
        # collections during builds stalled every app (gradio-notes.md).
        thresholds = gc.get_threshold()
        gc.set_threshold(*_GC_THRESHOLDS)
        # Blocks are built on another thread: let the event loop take the GIL back sooner.
        switch = sys.getswitchinterval()
        sys.setswitchinterval(_SWITCH_SECONDS)
        async with anyio.create_task_group() as tg:
            self._tg = tg
            tg.start_soon(self._sweeper)
            try:
                yield self
            finally:
                live = [*self.apps.values(), *self._retiring]
                for mounted in live:
                    mounted.stop.set()
                with anyio.move_on_after(5, shield=True):
                    for mounted in live:
                        await mounted.closed.wait()
                self.apps.clear()
                self._retiring.clear()
                tg.cancel_scope.cancel()
        if self._builder is not None:
            self._builder.close()
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(switch)

    # --- ASGI --------------------------------------------------------------------------

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            return
        root = scope.get("root_path", "")
        path: str = scope["path"]
        rest = path[len(root) :] if path.startswith(root) else path
        name, slash, _ = rest.lstrip("/").partition("/")
        if not name:
            await self._respond(scope, receive, send, NotFound("Pick a service in the portal."))
            return
        if not is_service_name(name):
            # Never echoed into a Location: "/ui/https:evil.example" would leave the site.
            await self._respond(scope, receive, send, NotFound(_NO_SUCH_NAME))
            return
        if not slash and scope["type"] == "http":
            await RedirectResponse(self._slash_url(name, scope), status_code=307)(
                scope, receive, send
            )
            return
        try:
            mounted, user = await self._admit(scope, name)
        except _Redirect as redirect:
            await RedirectResponse(redirect.location, status_code=303)(scope, receive, send)
            return
        except GatewayError as exc:
            await self._respond(scope, receive, send, exc)
            return
        await self._forward(mounted, user, scope, receive, send)

    def _slash_url(self, name: str, scope: Scope) -> str:
        """An absolute path under our own prefix (Starlette's redirect doubled the prefix)."""
        query = scope.get("query_string", b"").decode("latin-1")
        target = f"{self.settings.root_path}/ui/{name}/"
        return f"{target}?{query}" if query else target

    async def _admit(self, scope: Scope, name: str) -> tuple[Mounted, User]:
        request = Request(scope)
        try:
            user = await authenticate(request)
        except Unauthorized:
            user = None
        if user is None:
            user = embed_user(request, self.settings, service=name) or public_user(
                request, self.settings, service=name
            )
        if user is None:
            if wants_html(request) and scope["type"] == "http":
                raise _Redirect(login_url(request, self.settings))
            raise Unauthorized()
        if user.kind == "service_token":
            return await self.app_for(self._token_service(user, name)), user
        try:
            service = await self.service_for(user, name)
        except Unauthorized:
            # OSCAR refused the token (expired or revoked there): log in again.
            if wants_html(request) and scope["type"] == "http":
                raise _Redirect(login_url(request, self.settings)) from None
            raise
        return await self.app_for(service), user

    def _token_service(self, user: User, name: str) -> Service:
        """For embed/public visitors (a service token): the service as last seen, if ever.

        OSCAR accepts service tokens on ``/run`` and ``/job`` only (oscar-api.md §1),
        so such a visitor cannot read the definition; OSCAR still checks every call.
        """
        if user.service != name:
            raise Forbidden("This credential is for another service.")
        return self._seen.get(name) or Service(name=name)

    async def _forward(
        self, mounted: Mounted, user: User, scope: Scope, receive: Receive, send: Send
    ) -> None:
        state = dict(scope.get("state") or {})
        state[USER_STATE_KEY] = user
        child = {**scope, "root_path": f"{scope.get('root_path', '')}/{mounted.name}"}
        child["state"] = state
        mounted.active += 1
        mounted.last_used = time.monotonic()
        try:
            if scope["type"] == "http":
                route = scope["path"][len(child["root_path"]) :]
                try:
                    receive = await admit_limits(
                        self.gateway.state,
                        scope,
                        receive,
                        settings=self.settings,
                        user=user,
                        route=route,
                    )
                    receive, send = await admit_files(
                        mounted.files,
                        user.sub,
                        scope,
                        receive,
                        send,
                        route=route,
                        max_body=self.settings.limits.max_body_bytes,
                    )
                except GatewayError as refused:
                    log.warning("refused a request to %s: %s", mounted.name, refused.message)
                    await self._respond(scope, receive, send, refused)
                    return
            await mounted.app(child, receive, send)
        finally:
            mounted.active -= 1
            mounted.last_used = time.monotonic()

    async def _respond(self, scope: Scope, receive: Receive, send: Send, exc: GatewayError) -> None:
        if scope["type"] != "http":
            await send({"type": "websocket.close", "code": 1008})
            return
        request = Request(scope, receive)
        response: Response = render(request, exc.status_code, exc.to_dict())
        if exc.status_code == 401:
            response.headers["WWW-Authenticate"] = "Bearer"
        if isinstance(exc, RateLimited):
            response.headers["Retry-After"] = str(exc.retry_after)
        if isinstance(exc, PayloadTooLarge):
            # The body may be unread: closing spares the client sending the rest.
            response.headers["Connection"] = "close"
        await response(scope, receive, send)

    # --- access ------------------------------------------------------------------------

    async def service_for(self, user: User, name: str) -> Service:
        """The service as OSCAR shows it to ``user``; OSCAR decides access (cached briefly)."""
        key = (user.sub, name)
        now = time.monotonic()
        cached = self._access.get(key)
        if cached is not None and cached[0] > now:
            return cached[1]
        oscar = self.gateway.state.oscar
        try:
            service: Service = await oscar.get_service(name, auth=user.authorization)
        except (Unavailable, UpstreamTimeout):
            if cached is None:
                raise
            # OSCAR is down: let a user it recently admitted reach the UI, whose
            # handlers then say so as a Gradio error.
            return cached[1]
        except NotFound as exc:
            self._access.pop(key, None)
            self._seen.pop(name, None)
            await self.drop(name)
            raise NotFound(f"There is no service called {name!r} (any more).") from exc
        except Forbidden as exc:
            self._access.pop(key, None)
            raise Forbidden(
                f"You may not use the service {name!r}. Ask its owner to share it with you."
            ) from exc
        if len(self._access) > 10_000:
            self._access = {k: v for k, v in self._access.items() if v[0] > now}
        self._access[key] = (now + self.settings.ui.access_cache_seconds, service)
        self._seen[name] = service
        return service

    # --- building and the LRU ----------------------------------------------------------

    async def app_for(self, service: Service) -> Mounted:
        """The live app of ``service``, built (or rebuilt on a new definition) if needed."""
        from uis.spec import definition_hash

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
            fresh = await self._build(service)
            if mounted is not None:
                self._retiring.append(mounted)  # closed by the sweeper once idle
            self.apps[service.name] = fresh
            self.apps.move_to_end(service.name)
        self._build_locks.pop(service.name, None)
        await self._evict_over_limit()
        self._gauge()
        return fresh

    async def _build(self, service: Service) -> Mounted:
        started = time.perf_counter()
        async with self._one_build:
            if self._builder is None:
                self._builder = _BuilderLoop()
            app, blocks = await self._builder.run(lambda: self._make(service))
        ui = self.settings.ui
        sessions = Sessions(
            blocks, idle_seconds=ui.session_idle_seconds, max_sessions=ui.max_sessions
        )
        mounted = Mounted(service.name, _hash(service), app, blocks, AppFiles(blocks), sessions)
        ready = anyio.Event()
        self._tg.start_soon(self._serve, mounted, ready)
        await ready.wait()
        if mounted.closed.is_set():
            raise Unavailable(f"The UI of {service.name!r} could not start. Try again later.")
        # Gradio builds throw-away apps (Blocks.__exit__ and .queue() each make one), kept
        # alive only by FastAPI's caches: free them now, while everything older is frozen
        # (this collection only scans what was made since), then freeze the new app so
        # later collections skip its ~25k objects.
        _forget_fastapi_caches()
        gc.collect()
        gc.freeze()
        log.info("built UI of %s in %.0f ms", service.name, (time.perf_counter() - started) * 1000)
        return mounted

    def _make(self, service: Service) -> tuple[ASGIApp, Any]:
        """Build the Blocks and mount them on a private FastAPI (runs on the builder loop)."""
        import gradio as gr
        from fastapi import FastAPI

        from uis import registry
        from uis.handlers import ServiceContext
        from uis.spec import parse_spec

        state = self.gateway.state
        ctx = ServiceContext(
            spec=parse_spec(service),
            oscar=state.oscar,
            settings=self.settings,
            metrics=getattr(state, "metrics", None),
            jobs=getattr(state, "jobs", None),
        )
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
            root_path=f"{self.settings.root_path}/ui/{service.name}",
        )
        mark_launched(blocks)  # Gradio's file-path checks run only for launched Blocks
        return private, blocks

    async def _serve(self, mounted: Mounted, ready: anyio.Event) -> None:
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

    async def _evict_over_limit(self) -> None:
        while len(self.apps) > self.settings.ui.max_mounted:
            victim = next((m for m in self.apps.values() if m.idle()), None)
            if victim is None:
                return  # every app is busy: stay over the limit until one is idle
            await self._close(self.apps.pop(victim.name))

    async def drop(self, name: str) -> None:
        """Close the app of ``name`` (its service disappeared)."""
        mounted = self.apps.pop(name, None)
        if mounted is not None:
            if mounted.idle():
                await self._close(mounted)
            else:
                self._retiring.append(mounted)
            self._gauge()

    async def _close(self, mounted: Mounted) -> None:
        mounted.stop.set()
        with anyio.move_on_after(10):
            await mounted.closed.wait()
        if mounted.closed.is_set():
            _dismantle(mounted)
        _forget_fastapi_caches()
        self._closed_since_collect += 1
        if self._closed_since_collect >= _COLLECT_EVERY:
            self._collect()
        metrics = getattr(self.gateway.state, "metrics", None)
        if metrics is not None:
            metrics.ui_evictions.inc()
        self._gauge()

    async def _sweeper(self) -> None:
        ui = self.settings.ui
        period = min(_SWEEP_SECONDS, max(0.5, min(ui.idle_seconds, ui.session_idle_seconds) / 4))
        while True:
            await anyio.sleep(period)
            await self.sweep()

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
            from uis.outputs import prune_written

            self._last_prune = time.monotonic()
            await anyio.to_thread.run_sync(prune_written, _PRUNE_SECONDS)

    def _prune_sessions(self) -> None:
        """Drop Gradio session state nobody can use any more (gateway/uisessions.py)."""
        held = sum(mounted.sessions.prune() for mounted in self.apps.values())
        metrics = getattr(self.gateway.state, "metrics", None)
        if metrics is not None:
            metrics.ui_sessions.set(held)

    def _collect(self) -> None:
        """Free what is left of closed apps: frozen objects are never collected, so unfreeze,
        collect, refreeze; then glibc is asked to hand freed arenas back to the OS.
        """
        self._closed_since_collect, self._last_collect = 0, time.monotonic()
        gc.unfreeze()
        _forget_fastapi_caches()
        gc.collect()
        gc.freeze()
        _trim_malloc()

    def _gauge(self) -> None:
        metrics = getattr(self.gateway.state, "metrics", None)
        if metrics is not None:
            metrics.mounted_uis.set(len(self.apps))


class _Redirect(Exception):
    def __init__(self, location: str) -> None:
        self.location = location


def _hash(service: Service) -> str:
    from uis.spec import definition_hash

    return definition_hash(service)


def _username(request: Request) -> str | None:
    """Gradio's ``auth_dependency``: the caller the dispatcher already authenticated."""
    user = (request.scope.get("state") or {}).get(USER_STATE_KEY)
    return user.sub if isinstance(user, User) else None


def _forget_fastapi_caches() -> None:
    """FastAPI's module-level lru caches keep every closed app's endpoints alive."""
    from fastapi.dependencies import models

    for name in dir(models):
        cached = getattr(models, name)
        if name.endswith("_cached") and hasattr(cached, "cache_clear"):
            cached.cache_clear()


# Types whose instances belong to one app's routing (its private FastAPI, Gradio's App,
# their routers, routes and dependency trees): never shared between apps.
_APP_MODULES = (
    "fastapi.applications",
    "fastapi.routing",
    "fastapi.dependencies.models",
    "starlette.applications",
    "starlette.routing",
    "gradio.routes",
)


def _dismantle(mounted: Mounted) -> None:
    """Break the reference cycles of a closed app so reference counting frees it.

    Its routes, routers and dependency trees point back at the app through closures,
    and every Blocks component at its Blocks: cleared, the app is freed at once even
    though ``gc.freeze()`` keeps it out of collections.
    """
    blocks = mounted.blocks
    roots = [mounted.app, getattr(blocks, "app", None)]
    try:
        for obj in _app_objects(roots):
            obj.__dict__.clear()
        for fn in list(getattr(blocks, "fns", {}).values()):
            fn.__dict__.clear()
        for block in list(getattr(blocks, "blocks", {}).values()):
            block.__dict__.clear()
        blocks.__dict__.clear()
    except Exception:  # taking apart is an optimisation: a collection frees the rest
        log.warning("could not take apart the UI of %s", mounted.name, exc_info=True)


def _app_objects(roots: list[Any]) -> list[Any]:
    """Objects of ``_APP_MODULES`` types reachable from ``roots`` (through their attributes,
    containers, closures and bound methods; never through modules or classes)."""
    found: list[Any] = []
    seen: set[int] = set()
    stack = [r for r in roots if r is not None]
    while stack:
        obj = stack.pop()
        if id(obj) in seen or isinstance(obj, (type, types.ModuleType)):
            continue
        seen.add(id(obj))
        if type(obj).__module__.startswith(_APP_MODULES):
            attrs = getattr(obj, "__dict__", None)
            if isinstance(attrs, dict):
                found.append(obj)
                stack.extend(attrs.values())
        elif isinstance(obj, (list, tuple, set, frozenset)):
            stack.extend(obj)
        elif isinstance(obj, dict):
            stack.extend(obj.values())
        elif isinstance(obj, types.FunctionType):
            stack.extend(_cell_contents(obj))
        elif isinstance(obj, types.MethodType):
            stack.append(obj.__self__)
        elif isinstance(obj, functools.partial):
            stack.extend([obj.func, *obj.args, *obj.keywords.values()])
    return found


def _cell_contents(fn: types.FunctionType) -> list[Any]:
    contents = []
    for cell in fn.__closure__ or ():
        with contextlib.suppress(ValueError):  # an empty cell
            contents.append(cell.cell_contents)
    return contents


def tune_queue(blocks: Any, settings: Settings) -> None:
    """Slow the idle polling of a Blocks' queue: each loop wakes every 1 ms / 10 ms by default."""
    queue = blocks._queue
    queue.sleep_when_free = settings.ui.queue_poll_seconds
    # Progress messages (our named stages) are sent at most 10 times a second.
    queue.progress_update_sleep_when_free = max(0.1, settings.ui.queue_poll_seconds)
    bound_gradio_tables(blocks, settings.ui.max_sessions)


def _trim_malloc() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: nothing to trim
    libc.malloc_trim(0)


def install_uis(app: FastAPI, settings: Settings) -> UIMounts:
    """Mount the dispatcher at ``/ui``; enter ``app.state.uis.running()`` in the lifespan."""
    mounts = UIMounts(app, settings)
    app.state.uis = mounts
    app.mount("/ui", mounts)
    return mounts

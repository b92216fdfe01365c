"""Interpreter-memory measures for many Gradio apps in one process (gradio-notes.md).

Each app adds ~25k tracked objects: with the default thresholds, full
collections during builds stalled every app, so thresholds are raised and a
fresh app is frozen out of later collections.  A closed app is taken apart
(``dismantle``) so reference counting frees almost all of it; the few cycles
left (~600 objects an app) wait for ``collect_fully``, which the pool runs
when no request came for a while, or after many closes.
"""

from __future__ import annotations

import contextlib
import ctypes
import functools
import gc
import logging
import sys
import types
from collections.abc import Iterator
from typing import Any

log = logging.getLogger("gateway.mounts")
_GC_THRESHOLDS = (20_000, 20, 20)
# Blocks are built on another thread: let the event loop take the GIL back sooner.
_SWITCH_SECONDS = 0.001
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


@contextlib.contextmanager
def tuned_interpreter() -> Iterator[None]:
    """Raised gc thresholds and a short switch interval while the UIs run; restored after."""
    thresholds, switch = gc.get_threshold(), sys.getswitchinterval()
    gc.set_threshold(*_GC_THRESHOLDS)
    sys.setswitchinterval(_SWITCH_SECONDS)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)
        sys.setswitchinterval(switch)


def settle_after_build() -> None:
    """Free Gradio's throw-away apps of a build, then freeze the new app out of collections.

    ``Blocks.__exit__`` and ``.queue()`` each make an app kept alive only by
    FastAPI's caches; everything older is frozen, so this collection only scans
    what the build made.
    """
    forget_fastapi_caches()
    gc.collect()
    gc.freeze()


def collect_fully() -> None:
    """Free what is left of closed apps: frozen objects are never collected, so unfreeze,
    collect, refreeze; then glibc is asked to hand freed arenas back to the OS.
    """
    gc.unfreeze()
    forget_fastapi_caches()
    gc.collect()
    gc.freeze()
    trim_malloc()


def forget_fastapi_caches() -> None:
    """FastAPI's module-level lru caches keep every closed app's endpoints alive."""
    from fastapi.dependencies import models

    for name in dir(models):
        cached = getattr(models, name)
        if name.endswith("_cached") and hasattr(cached, "cache_clear"):
            cached.cache_clear()


def dismantle(name: str, app: Any, blocks: Any) -> None:
    """Break the reference cycles of a closed app so reference counting frees it.

    Its routes, routers and dependency trees point back at the app through closures,
    and every Blocks component at its Blocks: cleared, the app is freed at once even
    though ``gc.freeze()`` keeps it out of collections.
    """
    roots = [app, getattr(blocks, "app", None)]
    try:
        for obj in _app_objects(roots):
            obj.__dict__.clear()
        for fn in list(getattr(blocks, "fns", {}).values()):
            fn.__dict__.clear()
        for block in list(getattr(blocks, "blocks", {}).values()):
            block.__dict__.clear()
        blocks.__dict__.clear()
    except Exception:  # taking apart is an optimisation: a collection frees the rest
        log.warning("could not take apart the UI of %s", name, exc_info=True)


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
        else:
            stack.extend(_children(obj))
    return found


def _children(obj: Any) -> list[Any]:
    if isinstance(obj, (list, tuple, set, frozenset)):
        return list(obj)
    if isinstance(obj, dict):
        return list(obj.values())
    if isinstance(obj, types.FunctionType):
        return _cell_contents(obj)
    if isinstance(obj, types.MethodType):
        return [obj.__self__]
    if isinstance(obj, functools.partial):
        return [obj.func, *obj.args, *obj.keywords.values()]
    return []


def _cell_contents(fn: types.FunctionType) -> list[Any]:
    contents = []
    for cell in fn.__closure__ or ():
        with contextlib.suppress(ValueError):  # an empty cell
            contents.append(cell.cell_contents)
    return contents


def trim_malloc() -> None:
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:
        return  # not glibc: nothing to trim
    libc.malloc_trim(0)

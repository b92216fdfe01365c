"""``/ui/<service>/``: one Gradio app per OSCAR service, built lazily, kept in a bounded pool.

- ``dispatch``: the ASGI app at ``/ui``: who is calling, may they, which app;
- ``access``: OSCAR's answer to "may this user use this service", cached briefly;
- ``pool``: the live apps (LRU of ``ui.max_mounted``, idle expiry, retiring);
- ``builder``: Blocks built on a private thread and mounted on a private FastAPI;
- ``files``: the files a request may name (uploads, results), checked before Gradio;
- ``limits``: the per-user and per-IP rate limits and body limits of the UI path;
- ``sessions``: Gradio's per-session state dropped once nobody can use it;
- ``memory``: gc thresholds, freezing, taking closed apps apart, ``malloc_trim``.
"""

from __future__ import annotations

from fastapi import FastAPI

from core.settings import Settings
from gateway.limits import Limiters
from gateway.mounts.dispatch import UIMounts


def install_uis(app: FastAPI, settings: Settings, limiters: Limiters) -> UIMounts:
    """Mount the dispatcher at ``/ui``; the lifespan enters its ``running(...)``."""
    mounts = UIMounts(settings, limiters)
    app.mount("/ui", mounts)
    return mounts

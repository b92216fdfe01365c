"""Which files a mounted Gradio app may take as input and serve: never a path a client names.

Gradio trusts the ``path`` of a ``FileData`` it receives once its app has been
launched, and only then checks it; ``mount_gradio_app`` never launches, so a
client could name any file of the host (``/proc/self/environ``) as an input,
and every app's ``/gradio_api/file=`` route served every file in Gradio's
shared cache, whichever app or user it came from.  The dispatcher closes both,
before Gradio sees the request, with an ``AppFiles`` per mounted app:

- an input file must be one that this user uploaded to this app (the paths
  this app's ``/gradio_api/upload`` answered to them) or a default/example
  file of the app itself;
- ``file=`` serves a user only their own uploads to this app and the results
  this app's answers gave them (recorded from the answers, per user); URLs
  (Gradio's proxying download) never.

``mark_launched`` also switches on Gradio's own checks, as ``launch()`` would.
"""

from __future__ import annotations

import json
import os
import time
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

# Uploads are remembered this long (Gradio's cache keeps them longer) and this many per user.
UPLOAD_TTL_SECONDS = 6 * 3600.0
UPLOADS_PER_USER = 1000
USERS_PER_APP = 10_000


def real(path: str) -> str:
    """The absolute path with symbolic links and ``..`` resolved (what the OS would open)."""
    return os.path.realpath(os.path.expanduser(path))


def mark_launched(blocks: Any) -> None:
    """Set what ``Blocks.launch()`` sets and ``mount_gradio_app`` does not.

    ``has_launched`` turns on Gradio's check that an input file was uploaded
    (``processing_utils._check_allowed``); ``is_running`` makes ``close()``
    stop the queue and lets event streams send heartbeats.  Gradio's own
    reload (``utils.SourceFileReloader.swap_blocks``) sets the same two.
    """
    blocks.has_launched = True
    blocks.is_running = True


def file_refs(data: Any) -> Iterator[str]:
    """Every ``path`` of a file object (``{"path": ...}``) anywhere in a JSON value."""
    if isinstance(data, dict):
        path = data.get("path")
        if isinstance(path, str):
            yield path
        for value in data.values():
            yield from file_refs(value)
    elif isinstance(data, list):
        for item in data:
            yield from file_refs(item)


def uploaded_paths(body: bytes) -> list[str]:
    """The stored paths in an upload route's JSON answer (a list of paths or file objects)."""
    try:
        data = json.loads(body)
    except ValueError:
        return []
    items = data if isinstance(data, list) else [data]
    paths = [item for item in items if isinstance(item, str)]
    return paths + list(file_refs([item for item in items if not isinstance(item, str)]))


class _PerUser:
    """Paths remembered per user, each for ``UPLOAD_TTL_SECONDS``, bounded per user and in users."""

    def __init__(self) -> None:
        self._paths: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()

    def add(self, user: str, paths: list[str]) -> None:
        mine = self._paths.setdefault(user, OrderedDict())
        self._paths.move_to_end(user)
        expires = time.monotonic() + UPLOAD_TTL_SECONDS
        for path in paths:
            mine[real(path)] = expires
            mine.move_to_end(real(path))
        while len(mine) > UPLOADS_PER_USER:
            mine.popitem(last=False)
        while len(self._paths) > USERS_PER_APP:
            self._paths.popitem(last=False)

    def has(self, user: str, path: str) -> bool:
        mine = self._paths.get(user)
        expires = mine.get(real(path)) if mine is not None else None
        if expires is None or mine is None:
            return False
        if expires < time.monotonic():
            del mine[real(path)]
            return False
        return True

    def clear(self) -> None:
        self._paths.clear()


class AppFiles:
    """The files one mounted app may read as input or serve, per user (see module docstring).

    Gradio's own bookkeeping (``temp_file_sets``) is per app, not per user: an
    input Alice uploaded lands in a component's ``temp_files`` once she ran it,
    so it is never used to decide what a caller may fetch.
    """

    def __init__(self, blocks: Any) -> None:
        self.blocks = blocks
        self._uploads = _PerUser()
        self._results = _PerUser()

    def record_uploads(self, user: str, paths: list[str]) -> None:
        """The paths this app's upload routes answered to ``user``."""
        self._uploads.add(user, paths)

    def record_results(self, user: str, paths: list[str]) -> None:
        """The result paths this app's answers (event streams, ``run``) gave ``user``."""
        self._results.add(user, [p for p in paths if os.path.isabs(p) and not _is_url(p)])

    def uploaded_by(self, user: str, path: str) -> bool:
        return self._uploads.has(user, path)

    def may_read(self, user: str, path: str) -> bool:
        """May ``user`` send ``path`` as an input file of this app?"""
        if _is_url(path):
            return False
        return self.uploaded_by(user, path) or self._default(path)

    def may_serve(self, user: str, path: str) -> bool:
        """May ``user`` fetch ``path`` through this app's ``file=`` route?"""
        if _is_url(path) or not in_gradio_cache(path):
            return False
        return self.may_read(user, path) or self._results.has(user, path)

    def forget(self) -> None:
        self._uploads.clear()
        self._results.clear()

    def _default(self, path: str) -> bool:
        """A default or example file of one of the app's own components."""
        components = list(getattr(self.blocks, "blocks", {}).values())
        return _in_any(path, [getattr(b, "keep_in_cache", ()) for b in components])


def _in_any(path: str, sets: list[Any]) -> bool:
    """Is ``path`` (as given, absolute, or resolved) a member of one of ``sets``?"""
    if not os.path.isabs(path):
        return False  # a relative path never names a stored file
    resolved = real(path)
    names = {path, os.path.normpath(path), resolved}
    return any(name in s for s in sets for name in names) and in_gradio_cache(resolved)


def prune_gradio_cache(max_age_seconds: float) -> int:
    """Delete uploads and results older than ``max_age_seconds`` from Gradio's cache folder.

    Gradio deletes an app's files only when the app closes (all of them, which
    would take results from users of an evicted UI) or never; uploads would fill
    the disk.  Returns how many files went.
    """
    from gradio.utils import get_upload_folder

    cutoff = time.time() - max_age_seconds
    removed = 0
    for folder, _, names in os.walk(get_upload_folder()):
        for name in names:
            path = os.path.join(folder, name)
            try:
                if os.lstat(path).st_mtime < cutoff:
                    os.unlink(path)
                    removed += 1
            except OSError:
                continue
    return removed


def in_gradio_cache(path: str) -> bool:
    """Does ``path`` resolve to a file below Gradio's upload/cache folder (no link swapped in)?"""
    from gradio.utils import get_upload_folder

    return real(path).startswith(real(get_upload_folder()) + os.sep)


def _is_url(path: str) -> bool:
    return "://" in path or path.startswith(("http:", "https:", "//"))

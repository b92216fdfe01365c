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
- ``file=`` serves only what this app produced (its components' files) and
  this user's own uploads to it; URLs (Gradio's proxying download) never.

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


class AppFiles:
    """The files one mounted app may read as input or serve, per user (see module docstring)."""

    def __init__(self, blocks: Any) -> None:
        self.blocks = blocks
        self._uploads: OrderedDict[str, OrderedDict[str, float]] = OrderedDict()

    def record_uploads(self, user: str, paths: list[str]) -> None:
        mine = self._uploads.setdefault(user, OrderedDict())
        self._uploads.move_to_end(user)
        expires = time.monotonic() + UPLOAD_TTL_SECONDS
        for path in paths:
            mine[real(path)] = expires
            mine.move_to_end(real(path))
        while len(mine) > UPLOADS_PER_USER:
            mine.popitem(last=False)
        while len(self._uploads) > USERS_PER_APP:
            self._uploads.popitem(last=False)

    def uploaded_by(self, user: str, path: str) -> bool:
        mine = self._uploads.get(user)
        if mine is None:
            return False
        expires = mine.get(real(path))
        if expires is None:
            return False
        if expires < time.monotonic():
            del mine[real(path)]
            return False
        return True

    def may_read(self, user: str, path: str) -> bool:
        """May ``user`` send ``path`` as an input file of this app?"""
        if _is_url(path):
            return False
        if self.uploaded_by(user, path):
            return True
        defaults = [getattr(b, "keep_in_cache", ()) for b in self._components()]
        return _in_any(path, defaults)

    def may_serve(self, user: str, path: str) -> bool:
        """May ``user`` fetch ``path`` through this app's ``file=`` route?"""
        if _is_url(path):
            return False
        return self.may_read(user, path) or _in_any(path, self._produced())

    def forget(self) -> None:
        self._uploads.clear()

    def _components(self) -> list[Any]:
        return list(getattr(self.blocks, "blocks", {}).values())

    def _produced(self) -> list[Any]:
        """Files Gradio moved to its cache for this app (outputs, examples), not uploads."""
        uploads = getattr(self.blocks, "upload_file_set", None)
        sets = getattr(self.blocks, "temp_file_sets", [])
        return [s for s in sets if s is not uploads]


def _in_any(path: str, sets: list[Any]) -> bool:
    """Is ``path`` (as given, absolute, or resolved) a member of one of ``sets``?"""
    if not os.path.isabs(path):
        return False  # a relative path never names a stored file
    resolved = real(path)
    names = {path, os.path.normpath(path), resolved}
    return any(name in s for s in sets for name in names) and in_gradio_cache(resolved)


def in_gradio_cache(path: str) -> bool:
    """Does ``path`` resolve to a file below Gradio's upload/cache folder (no link swapped in)?"""
    from gradio.utils import get_upload_folder

    return real(path).startswith(real(get_upload_folder()) + os.sep)


def _is_url(path: str) -> bool:
    return "://" in path or path.startswith(("http:", "https:", "//"))

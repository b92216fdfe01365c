"""Stand-in for MinIO's bucket notifications: poll every input folder for new objects.

Moto sends no notifications, so each new or rewritten object under an input
folder is turned into the S3 event MinIO would POST to ``/job/<service>``
(oscar-api.md §5: prefix ``<folder>/``, recursive, no suffix filter).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio

from oscar_local.errors import StorageError
from oscar_local.fdl import split_path
from oscar_local.storage import Storage

log = logging.getLogger("oscar_local.watcher")
Submit = Callable[[dict[str, Any], str, str], None]  # (service, bucket, key)


@dataclass
class _Folder:
    service: str
    bucket: str
    prefix: str
    seen: dict[str, str] = field(default_factory=dict)  # key -> etag


class BucketWatcher:
    def __init__(
        self,
        storage: Storage,
        submit: Submit,
        lookup: Callable[[str], dict[str, Any] | None],
        *,
        interval: float,
    ) -> None:
        self._storage = storage
        self._submit = submit
        self._lookup = lookup
        self._interval = interval
        self._folders: dict[str, list[_Folder]] = {}

    def watch(
        self,
        service: dict[str, Any],
        *,
        existing: dict[tuple[str, str], dict[str, str]] | None = None,
    ) -> None:
        """Watch the service's input folders; objects in ``existing`` count as already seen.

        Folders watched before (an update) keep what they have seen, so an
        update does not start jobs again for objects already processed.
        """
        known = {(f.bucket, f.prefix): f.seen for f in self._folders.get(service["name"], [])}
        known.update(existing or {})
        folders = []
        for entry in service.get("input") or []:
            bucket, folder = split_path(entry["path"])
            prefix = f"{folder}/" if folder else ""
            seen = dict(known.get((bucket, prefix), {}))
            folders.append(_Folder(service["name"], bucket, prefix, seen))
        self._folders[service["name"]] = folders

    def unwatch(self, name: str) -> list[_Folder]:
        """Stop watching; the returned folders can be given back to ``restore``."""
        return self._folders.pop(name, [])

    def restore(self, name: str, folders: list[_Folder]) -> None:
        if folders:
            self._folders[name] = folders

    def snapshot(self, service: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
        """Objects present now in the service's input folders (blocking; call from a thread)."""
        result: dict[tuple[str, str], dict[str, str]] = {}
        for entry in service.get("input") or []:
            bucket, folder = split_path(entry["path"])
            prefix = f"{folder}/" if folder else ""
            try:
                result[(bucket, prefix)] = {
                    o.key: o.etag for o in self._storage.list_objects(bucket, prefix)
                }
            except StorageError:
                result[(bucket, prefix)] = {}
        return result

    async def run(self) -> None:
        while True:
            for folders in list(self._folders.values()):
                for folder in folders:
                    await self._poll(folder)
            await asyncio.sleep(self._interval)

    async def _poll(self, folder: _Folder) -> None:
        try:
            objects = await anyio.to_thread.run_sync(
                self._storage.list_objects, folder.bucket, folder.prefix
            )
        except StorageError as exc:
            log.warning("cannot list %s/%s: %s", folder.bucket, folder.prefix, exc.message)
            return
        service = self._lookup(folder.service)
        # Unwatched, or replaced by an update while the listing ran (in a thread, so an
        # upload made after the update can be in it): the folders watched now take
        # over, from what was seen when they replaced this one.  Going on here too
        # would start a second job for that upload.
        if service is None or not any(f is folder for f in self._folders.get(folder.service, [])):
            return
        current = {
            o.key: o.etag for o in objects if not o.key.endswith("/")
        }  # folder markers are no input
        new = [key for key, etag in current.items() if folder.seen.get(key) != etag]
        folder.seen = current
        for key in new:
            log.info("new object %s/%s starts a job of %s", folder.bucket, key, folder.service)
            self._submit(service, folder.bucket, key)

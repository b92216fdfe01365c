"""Services: who may see and change them, and their buckets (oscar-api.md §1, §3, §5)."""

from __future__ import annotations

import logging
import secrets
from typing import Any

from oscar_local.auth import Caller
from oscar_local.errors import BadRequest, Forbidden, NotFound, StorageError
from oscar_local.fdl import normalise, split_path
from oscar_local.storage import Storage
from oscar_local.store import BucketRecord, Store

log = logging.getLogger("oscar_local.services")


def can_read(caller: Caller, service: dict[str, Any]) -> bool:
    if caller.is_admin or service.get("owner") == caller.sub:
        return True
    visibility = service.get("visibility", "private")
    if visibility == "public":
        return True
    return visibility == "restricted" and caller.sub in (service.get("allowed_users") or [])


def can_write(caller: Caller, service: dict[str, Any]) -> bool:
    return caller.is_admin or service.get("owner") == caller.sub


def service_buckets(service: dict[str, Any]) -> dict[str, set[str]]:
    """bucket -> folders used by the service's inputs and outputs."""
    buckets: dict[str, set[str]] = {}
    for entry in [*(service.get("input") or []), *(service.get("output") or [])]:
        bucket, folder = split_path(entry["path"])
        buckets.setdefault(bucket, set()).add(folder)
    return buckets


class Registry:
    def __init__(self, store: Store, storage: Storage) -> None:
        self._store = store
        self._storage = storage

    def cluster_minio(self) -> dict[str, Any]:
        assert self._storage.settings is not None
        # OSCAR returns minio.default with the keys replaced by "hidden"
        return {
            "endpoint": self._storage.endpoint,
            "verify": True,
            "access_key": "hidden",
            "secret_key": "hidden",
            "region": self._storage.settings.region,
        }

    def get(self, name: str) -> dict[str, Any] | None:
        return self._store.service(name)

    def readable(self, caller: Caller, name: str) -> dict[str, Any]:
        service = self._store.service(name)
        if service is None:
            raise NotFound()  # OSCAR: GET of a missing service is 404 with an empty body
        if not can_read(caller, service):
            raise Forbidden("User does not have permission to access this service")
        return service

    def visible(self, caller: Caller) -> list[dict[str, Any]]:
        return [s for s in self._store.services() if can_read(caller, s)]

    def create(self, definition: dict[str, Any], *, owner: str) -> dict[str, Any]:
        """Blocking: validate, create buckets and markers, store; nothing is left on failure."""
        service = normalise(definition, cluster_minio=self.cluster_minio())
        if self._store.service(service["name"]) is not None:
            raise BadRequest(f"a service named '{service['name']}' already exists")
        service["owner"] = owner
        service["token"] = secrets.token_hex(32)  # 64 lowercase hex, kept across updates
        created = self._create_buckets(service)
        if not self._store.insert_service(service):
            self._drop_buckets(created)
            raise BadRequest(f"a service named '{service['name']}' already exists")
        self._record_buckets(service)
        return service

    def _create_buckets(self, service: dict[str, Any]) -> list[str]:
        created: list[str] = []
        try:
            for bucket, folders in service_buckets(service).items():
                if self._storage.bucket_exists(bucket) or self._store.bucket(bucket) is not None:
                    # OSCAR: an already existing bucket makes the create fail
                    raise BadRequest(f"the bucket '{bucket}' already exists")
                self._storage.create_bucket(bucket)
                created.append(bucket)
                for folder in folders:
                    self._storage.put_marker(bucket, folder)
        except (BadRequest, StorageError):
            self._drop_buckets(created)
            raise
        return created

    def _drop_buckets(self, buckets: list[str]) -> None:
        for bucket in buckets:
            try:
                self._storage.delete_bucket(bucket)
            except StorageError as exc:
                log.warning("could not roll back bucket %s: %s", bucket, exc.message)

    def _record_buckets(self, service: dict[str, Any]) -> None:
        for bucket in service_buckets(service):
            record = BucketRecord(
                bucket,
                service["owner"],
                service["visibility"],
                service["allowed_users"],
                service["name"],
            )
            self._store.put_bucket(record)

    def ensure_buckets(self, service: dict[str, Any]) -> None:
        """Blocking: recreate missing buckets and markers (the embedded S3 forgets on restart)."""
        for bucket, folders in service_buckets(service).items():
            if not self._storage.bucket_exists(bucket):
                self._storage.create_bucket(bucket)
            for folder in folders:
                self._storage.put_marker(bucket, folder)
        self._record_buckets(service)

    def update(self, definition: dict[str, Any], caller: Caller) -> dict[str, Any]:
        """Blocking: replace a service; owner, token and namespace are kept."""
        name = definition.get("name")
        current = self._store.service(name) if isinstance(name, str) else None
        if current is None:
            raise NotFound(f"service '{name}' not found")
        if not can_write(caller, current):
            raise Forbidden("only the owner of the service can update it")
        service = normalise(definition, cluster_minio=self.cluster_minio())
        service["owner"] = current["owner"]
        service["token"] = current["token"]
        self.ensure_buckets(service)
        self._store.replace_service(service)
        return service

    def delete(self, name: str, caller: Caller) -> dict[str, Any]:
        """Blocking: remove the service, its buckets and every object in them."""
        service = self._store.service(name)
        if service is None:
            raise NotFound(f"service '{name}' not found")
        if not can_write(caller, service):
            raise Forbidden("only the owner of the service can delete it")
        self._store.delete_service(name)
        for bucket in service_buckets(service):
            record = self._store.bucket(bucket)
            if record is None or record.service == name:
                self._drop_buckets([bucket])
                self._store.delete_bucket(bucket)
        return service

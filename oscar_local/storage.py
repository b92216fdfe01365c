"""The S3 side of the cluster: an embedded moto server or an external S3/MinIO.

All calls are blocking boto3 calls; async code runs them with ``anyio.to_thread``.
Moto accepts any credentials and has no bucket notifications: ``watcher.py``
polls the input folders instead of receiving MinIO's events.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
from botocore.client import Config
from botocore.exceptions import BotoCoreError, ClientError

from oscar_local.config import S3Settings
from oscar_local.errors import StorageError

log = logging.getLogger("oscar_local.storage")

# moto does not check keys; these are what /system/config hands the admin
_EMBEDDED_KEYS = ("minioadmin", "minioadmin")


@dataclass(frozen=True)
class StoredObject:
    key: str
    etag: str
    size: int
    last_modified: datetime


class Storage:
    def __init__(self, settings: S3Settings | None) -> None:
        self._external = settings
        self._moto: Any = None
        self.settings: S3Settings | None = settings
        self._client: Any = None

    @property
    def embedded(self) -> bool:
        return self._external is None

    def start(self) -> None:
        if self._external is None:
            from moto.server import ThreadedMotoServer  # heavy import, only when embedded

            logging.getLogger("werkzeug").setLevel(logging.WARNING)
            self._moto = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
            self._moto.start()
            host, port = self._moto.get_host_and_port()
            self.settings = S3Settings(f"http://{host}:{port}", *_EMBEDDED_KEYS)
        assert self.settings is not None
        self._client = boto3.client(
            "s3",
            endpoint_url=self.settings.endpoint,
            aws_access_key_id=self.settings.access_key,
            aws_secret_access_key=self.settings.secret_key,
            region_name=self.settings.region,
            config=Config(s3={"addressing_style": "path"}, signature_version="s3v4"),
        )

    def stop(self) -> None:
        if self._moto is not None:
            self._moto.stop()
            self._moto = None

    @property
    def endpoint(self) -> str:
        assert self.settings is not None
        return self.settings.endpoint

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except (ClientError, BotoCoreError) as exc:
            raise StorageError(f"storage {operation} failed: {exc}") from exc

    def bucket_exists(self, bucket: str) -> bool:
        try:
            self._client.head_bucket(Bucket=bucket)
        except ClientError:
            return False
        return True

    def create_bucket(self, bucket: str) -> None:
        self._call("create_bucket", Bucket=bucket)

    def put_marker(self, bucket: str, folder: str) -> None:
        """The empty ``<folder>/`` object OSCAR creates for each input/output folder."""
        if folder:
            self._call("put_object", Bucket=bucket, Key=f"{folder}/", Body=b"")

    def delete_bucket(self, bucket: str) -> None:
        """Delete every object, then the bucket (OSCAR does this on service delete)."""
        if not self.bucket_exists(bucket):
            return
        for obj in self.list_objects(bucket):
            self._call("delete_object", Bucket=bucket, Key=obj.key)
        self._call("delete_bucket", Bucket=bucket)

    def list_buckets(self) -> list[str]:
        return [b["Name"] for b in self._call("list_buckets").get("Buckets", [])]

    def list_objects(self, bucket: str, prefix: str = "") -> list[StoredObject]:
        objects: list[StoredObject] = []
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:
            page = self._call("list_objects_v2", **kwargs)
            for item in page.get("Contents", []):
                objects.append(
                    StoredObject(
                        item["Key"], item.get("ETag", ""), item.get("Size", 0), item["LastModified"]
                    )
                )
            if not page.get("IsTruncated"):
                return objects
            kwargs["ContinuationToken"] = page["NextContinuationToken"]

    def download(self, bucket: str, key: str, target: Path) -> None:
        body = self._call("get_object", Bucket=bucket, Key=key)["Body"]
        with target.open("wb") as out:
            for chunk in iter(lambda: body.read(1 << 20), b""):
                out.write(chunk)

    def upload(self, source: Path, bucket: str, key: str) -> None:
        with source.open("rb") as data:
            self._call("put_object", Bucket=bucket, Key=key, Body=data)

    def presign(
        self, bucket: str, key: str, *, upload: bool, expires_in: int, content_type: str
    ) -> str:
        params: dict[str, Any] = {"Bucket": bucket, "Key": key}
        if upload and content_type:
            params["ContentType"] = content_type
        operation = "put_object" if upload else "get_object"
        return str(
            self._call(
                "generate_presigned_url",
                ClientMethod=operation,
                Params=params,
                ExpiresIn=expires_in,
            )
        )

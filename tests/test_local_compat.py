"""The official oscar-python client (oscar-api.md §6) works against oscar-local unchanged."""

from __future__ import annotations

import time
from pathlib import Path

from oscar_python.client import Client
from PIL import Image

from devstack.oscar import LocalOscar


def client(oscar: LocalOscar) -> Client:
    user, password = oscar.admin_auth
    return Client(
        {
            "cluster_id": "local",
            "endpoint": oscar.url,
            "user": user,
            "password": password,
            "ssl": "False",
        }
    )


def test_oscar_python_lists_gets_and_runs(local_oscar: LocalOscar) -> None:
    oscar = client(local_oscar)
    assert {"cowsay", "grayify"} <= {s["name"] for s in oscar.list_services().json()}
    assert oscar.get_service("cowsay").json()["visibility"] == "public"
    ran = oscar.run_service("cowsay", input="hello from oscar-python")
    assert ran.status_code == 200 and "< hello from oscar-python >" in ran.text
    queued = oscar.run_service("cowsay", input="queued", async_call=True)
    assert (queued.status_code, queued.text) == (201, "")


def test_oscar_python_storage_round_trip_through_grayify(
    local_oscar: LocalOscar, tmp_path: Path
) -> None:
    oscar = client(local_oscar)
    source = tmp_path / "compat-photo.png"
    Image.new("RGB", (8, 8), (250, 10, 10)).save(source)
    storage = oscar.create_storage_client()
    storage.upload_file("minio.default", str(source), "grayify/in")
    deadline = time.monotonic() + 10
    listed: list[str] = []
    while time.monotonic() < deadline and "out/compat-photo.png" not in listed:
        time.sleep(0.2)
        found = storage.list_files_from_path("minio.default", "grayify/out")
        listed = [o["Key"] for o in found.get("Contents", [])]
    assert "out/compat-photo.png" in listed
    target = tmp_path / "result"
    target.mkdir()
    storage.download_file("minio.default", str(target), "grayify/out/compat-photo.png")
    with Image.open(target / "compat-photo.png") as image:
        assert image.mode == "L"

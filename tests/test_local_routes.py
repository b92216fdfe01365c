"""oscar-local answers every route of oscar-api.md §2 with OSCAR's codes, bodies and quirks."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import Config

from devstack.oscar import LocalOscar


@pytest.fixture
def admin(local_oscar: LocalOscar) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_oscar.url, auth=local_oscar.admin_auth, timeout=30) as client:
        yield client


def unique(prefix: str = "svc") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def definition(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "image": "example/echo", "script": "cat $INPUT_FILE_PATH", **extra}


def s3_client(admin: httpx.Client) -> Any:
    provider = admin.get("/system/config").json()["minio_provider"]
    return boto3.client(
        "s3",
        endpoint_url=provider["endpoint"],
        aws_access_key_id=provider["access_key"],
        aws_secret_access_key=provider["secret_key"],
        region_name=provider["region"],
        config=Config(s3={"addressing_style": "path"}),
    )


def test_health_is_plain_ok(local_oscar: LocalOscar) -> None:
    response = httpx.get(f"{local_oscar.url}/health")
    assert response.status_code == 200
    assert response.text == "Ok"
    assert response.headers["content-type"].startswith("text/plain")


def test_unknown_route_and_wrong_method_are_404_page_not_found(admin: httpx.Client) -> None:
    for method, path in [
        ("GET", "/nope"),
        ("POST", "/health"),
        ("PATCH", "/system/services"),
        ("GET", "/run/cowsay"),
        ("PUT", "/job/cowsay"),
        ("HEAD", "/health"),
        ("OPTIONS", "/system/services"),
    ]:
        response = admin.request(method, path)
        text = "" if method == "HEAD" else "404 page not found"  # HEAD answers carry no body
        assert (response.status_code, response.text) == (404, text), (method, path)


def test_system_info_and_config(admin: httpx.Client, local_oscar: LocalOscar) -> None:
    info = admin.get("/system/info").json()
    assert {
        "version",
        "git_commit",
        "architecture",
        "kubernetes_version",
        "serverless_backend",
    } <= set(info)
    config = admin.get("/system/config").json()
    provider = config["minio_provider"]
    assert set(provider) == {"endpoint", "verify", "access_key", "secret_key", "region"}
    assert provider["endpoint"].startswith("http://127.0.0.1:")
    assert config["allowed_image_repositories"] == []
    assert httpx.get(f"{local_oscar.url}/system/config").status_code == 401


def test_create_is_201_empty_and_get_returns_normalised_service(admin: httpx.Client) -> None:
    name = unique()
    body = definition(
        name,
        input=[{"path": "/in/ "}],
        output=[
            {
                "storage_provider": "minio.default",
                "path": f"{name}-out/results/",
                "suffix": [".png"],
            }
        ],
        environment={"Variables": {"A": 1}},
    )
    created = admin.post("/system/services", json=body)
    assert (created.status_code, created.content) == (201, b"")
    service = admin.get(f"/system/services/{name}").json()
    assert service["input"] == [{"storage_provider": "minio.default", "path": f"{name}/in"}]
    assert service["output"][0]["path"] == f"{name}-out/results"
    assert service["output"][0]["suffix"] == [".png"]
    assert (service["memory"], service["cpu"], service["visibility"], service["log_level"]) == (
        "256Mi",
        "0.2",
        "private",
        "INFO",
    )
    assert service["environment"]["variables"] == {"A": "1"}
    assert service["owner"] == "cluster_admin"
    assert len(service["token"]) == 64 and int(service["token"], 16) >= 0
    assert service["storage_providers"]["minio"]["default"]["access_key"] == "hidden"
    s3 = s3_client(admin)
    assert s3.head_object(Bucket=name, Key="in/")["ContentLength"] == 0
    assert s3.head_object(Bucket=f"{name}-out", Key="results/")["ContentLength"] == 0
    assert name in [s["name"] for s in admin.get("/system/services").json()]


def test_get_missing_service_is_404_with_empty_body(admin: httpx.Client) -> None:
    response = admin.get("/system/services/does-not-exist")
    assert (response.status_code, response.content) == (404, b"")


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"image": "x", "script": "echo"}, "name"),
        ({"name": "ok-name", "script": "echo"}, "image"),
        ({"name": "ok-name", "image": "x"}, "script"),
        ({"name": "Bad_Name", "image": "x", "script": "echo"}, "invalid service name"),
        ({"name": "x" * 40, "image": "x", "script": "echo"}, "invalid service name"),
        ({"name": "ok-name", "image": "x", "script": "echo", "visibility": "secret"}, "visibility"),
        (
            {
                "name": "ok-name",
                "image": "x",
                "script": "echo",
                "input": [{"path": "in"}],
                "output": [{"path": "ab/out"}],
            },
            "invalid bucket name 'ab'",
        ),
    ],
)
def test_bad_definitions_are_400_with_a_message(
    admin: httpx.Client, body: dict[str, Any], message: str
) -> None:
    response = admin.post("/system/services", json=body)
    assert response.status_code == 400
    assert message in response.text
    assert admin.get("/system/services/ok-name").status_code == 404


def test_invalid_json_is_400(admin: httpx.Client) -> None:
    response = admin.post("/system/services", content=b"{not json")
    assert response.status_code == 400 and "JSON" in response.text


def test_duplicate_name_is_400_and_keeps_the_first(admin: httpx.Client) -> None:
    name = unique()
    assert admin.post("/system/services", json=definition(name)).status_code == 201
    token = admin.get(f"/system/services/{name}").json()["token"]
    again = admin.post("/system/services", json=definition(name, image="other"))
    assert again.status_code == 400 and "already exists" in again.text
    assert admin.get(f"/system/services/{name}").json()["token"] == token


def test_existing_bucket_fails_create_and_leaves_nothing_behind(admin: httpx.Client) -> None:
    name, taken = unique(), unique("taken")
    s3 = s3_client(admin)
    s3.create_bucket(Bucket=taken)
    body = definition(name, input=[{"path": "in"}], output=[{"path": f"{taken}/out"}])
    response = admin.post("/system/services", json=body)
    assert response.status_code == 400 and taken in response.text
    assert admin.get(f"/system/services/{name}").status_code == 404
    buckets = [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert name not in buckets  # the input bucket made before the failure was rolled back
    assert taken in buckets


def test_update_keeps_owner_and_token(admin: httpx.Client) -> None:
    name = unique()
    admin.post("/system/services", json=definition(name))
    before = admin.get(f"/system/services/{name}").json()
    updated = admin.put("/system/services", json=definition(name, script="echo new", memory="1Gi"))
    assert (updated.status_code, updated.content) == (204, b"")
    after = admin.get(f"/system/services/{name}").json()
    assert (after["script"], after["memory"]) == ("echo new", "1Gi")
    assert (after["token"], after["owner"]) == (before["token"], before["owner"])
    assert admin.put("/system/services", json=definition(unique())).status_code == 404
    assert admin.put("/system/services", json={"name": name}).status_code == 400


def test_delete_removes_service_and_buckets(admin: httpx.Client) -> None:
    name = unique()
    admin.post(
        "/system/services", json=definition(name, input=[{"path": "in"}], output=[{"path": "out"}])
    )
    s3 = s3_client(admin)
    s3.put_object(Bucket=name, Key="out/result.txt", Body=b"x")
    response = admin.delete(f"/system/services/{name}")
    assert (response.status_code, response.content) == (204, b"")
    assert admin.get(f"/system/services/{name}").status_code == 404
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    assert admin.delete(f"/system/services/{name}").status_code == 404


def test_buckets_routes(admin: httpx.Client) -> None:
    bucket = unique("bkt")
    created = admin.post("/system/buckets", json={"bucket_name": bucket, "visibility": "private"})
    assert created.status_code == 201
    assert admin.post("/system/buckets", json={"bucket_name": bucket}).status_code == 400
    assert bucket in [b["bucket_name"] for b in admin.get("/system/buckets").json()]
    s3 = s3_client(admin)
    for i in range(75):
        s3.put_object(Bucket=bucket, Key=f"obj-{i:03d}", Body=b"x")
    first = admin.get(f"/system/buckets/{bucket}").json()
    assert (first["returned_items"], first["is_truncated"]) == (70, True)
    second = admin.get(f"/system/buckets/{bucket}", params={"page": first["next_page"]}).json()
    assert (second["returned_items"], second["is_truncated"]) == (5, False)
    assert second["objects"][0]["object_name"] == "obj-070"
    updated = admin.put("/system/buckets", json={"bucket_name": bucket, "visibility": "public"})
    assert updated.status_code == 204
    assert admin.get(f"/system/buckets/{bucket}").json()["visibility"] == "public"
    assert admin.delete(f"/system/buckets/{bucket}").status_code == 204
    assert admin.get(f"/system/buckets/{bucket}").status_code == 404


def test_presigned_upload_and_download_need_no_s3_client(admin: httpx.Client) -> None:
    bucket = unique("pre")
    admin.post("/system/buckets", json={"bucket_name": bucket})
    up = admin.post(
        f"/system/buckets/{bucket}/presign",
        json={
            "object_key": "a/b.txt",
            "operation": "upload",
            "expires_in": 60,
            "content_type": "text/plain",
        },
    ).json()
    assert (up["method"], up["operation"], up["object_key"]) == ("PUT", "upload", "a/b.txt")
    assert httpx.put(up["url"], content=b"hello", headers=up["headers"]).status_code == 200
    down = admin.post(
        f"/system/buckets/{bucket}/presign", json={"object_key": "a/b.txt", "operation": "download"}
    ).json()
    assert down["method"] == "GET" and down["expires_at"].endswith("Z")
    assert httpx.get(down["url"]).content == b"hello"
    bad = admin.post(
        f"/system/buckets/{bucket}/presign", json={"object_key": "k", "operation": "delete"}
    )
    assert bad.status_code == 400
    missing = admin.post(
        "/system/buckets/no-such-bucket/presign", json={"object_key": "k", "operation": "upload"}
    )
    assert missing.status_code == 404

"""Async processing: uploads and ``/job`` start jobs; statuses, logs, outputs (§2, §5)."""

from __future__ import annotations

import base64
import io
import re
import time
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from botocore.client import Config
from PIL import Image

from devstack.oscar import LocalOscar
from tests.waiting import wait_until

JOB_NAME = re.compile(
    r"^(?P<service>.+)-[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
)
RFC3339 = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture
def admin(local_oscar: LocalOscar) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_oscar.url, auth=local_oscar.admin_auth, timeout=30) as client:
        yield client


@pytest.fixture
def s3(admin: httpx.Client) -> Any:
    provider = admin.get("/system/config").json()["minio_provider"]
    return boto3.client(
        "s3",
        endpoint_url=provider["endpoint"],
        aws_access_key_id=provider["access_key"],
        aws_secret_access_key=provider["secret_key"],
        region_name=provider["region"],
        config=Config(s3={"addressing_style": "path"}),
    )


def jobs_of(admin: httpx.Client, service: str) -> dict[str, dict[str, str]]:
    response = admin.get(f"/system/logs/{service}")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"jobs", "next_page", "remaining_jobs"}
    return dict(body["jobs"])


def finished(admin: httpx.Client, service: str, count: int = 1) -> dict[str, dict[str, str]]:
    def done() -> dict[str, dict[str, str]] | None:
        jobs = jobs_of(admin, service)
        ended = {k: v for k, v in jobs.items() if v["status"] in ("Succeeded", "Failed")}
        return ended if len(ended) >= count else None

    return dict(wait_until(done, f"{count} finished job(s) of {service}"))


def make_service(admin: httpx.Client, script: str, **extra: Any) -> tuple[str, dict[str, str]]:
    name = f"j-{uuid.uuid4().hex[:10]}"
    body = {"name": name, "image": "local/test", "script": script, **extra}
    assert admin.post("/system/services", json=body).status_code == 201
    token = admin.get(f"/system/services/{name}").json()["token"]
    return name, {"Authorization": f"Bearer {token}"}


def test_upload_to_grayify_input_starts_a_job_and_writes_grayscale_output(
    admin: httpx.Client, s3: Any
) -> None:
    name = f"photo-{uuid.uuid4().hex[:6]}.png"
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), (10, 200, 60)).save(buffer, "PNG")
    before = set(jobs_of(admin, "grayify"))
    s3.put_object(Bucket="grayify", Key=f"in/{name}", Body=buffer.getvalue())
    new_job = wait_until(lambda: set(jobs_of(admin, "grayify")) - before, "a grayify job")
    job = next(iter(new_job))
    assert JOB_NAME.match(job) and JOB_NAME.match(job)["service"] == "grayify"  # type: ignore[index]

    def output() -> bytes | None:
        try:
            return bytes(s3.get_object(Bucket="grayify", Key=f"out/{name}")["Body"].read())
        except s3.exceptions.NoSuchKey:
            return None

    image = Image.open(io.BytesIO(wait_until(output, "the grayscale output", timeout=10)))
    assert (image.mode, image.size) == ("L", (20, 10))
    info = finished(admin, "grayify")[job]
    assert info["status"] == "Succeeded"
    assert all(RFC3339.match(info[k]) for k in ("creation_time", "start_time", "finish_time"))
    log = admin.get(f"/system/logs/grayify/{job}")
    assert log.headers["content-type"].startswith("text/plain")
    assert f"with key 'in/{name}'" in log.text and f"with key 'out/{name}'" in log.text


def test_direct_job_is_201_empty_and_listed_with_its_log(admin: httpx.Client, s3: Any) -> None:
    script = (
        'echo "input=$(cat "$INPUT_FILE_PATH") key=$STORAGE_OBJECT_KEY"\n'
        'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/r.txt"\n'
    )
    name, headers = make_service(admin, script, output=[{"path": "out"}])
    response = httpx.post(
        f"{admin.base_url}/job/{name}", headers=headers, content=base64.b64encode(b"payload")
    )
    assert (response.status_code, response.content) == (201, b"")
    ((job, info),) = finished(admin, name).items()
    assert info["status"] == "Succeeded"
    log = admin.get(f"/system/logs/{name}/{job}").text
    assert "input=payload key=" in log
    assert s3.get_object(Bucket=name, Key="out/r.txt")["Body"].read() == b"payload"


def test_minio_event_body_on_job_downloads_that_object(admin: httpx.Client, s3: Any) -> None:
    script = (
        'echo "key=$STORAGE_OBJECT_KEY name=$(basename "$INPUT_FILE_PATH")'
        ' data=$(cat "$INPUT_FILE_PATH")"\n'
    )
    name, headers = make_service(admin, script, input=[{"path": "in"}])
    s3.put_object(
        Bucket=name, Key="manual/my file.txt", Body=b"from-s3"
    )  # outside the watched folder
    event = {
        "EventName": "s3:ObjectCreated:Put",
        "Key": f"{name}/manual/my file.txt",
        "Records": [
            {
                "eventSource": "minio:s3",
                "s3": {"bucket": {"name": name}, "object": {"key": "manual/my+file.txt"}},
            }
        ],
    }
    assert (
        httpx.post(f"{admin.base_url}/job/{name}", headers=headers, json=event).status_code == 201
    )
    ((job, info),) = finished(admin, name).items()
    log = admin.get(f"/system/logs/{name}/{job}").text
    assert "key=manual/my file.txt name=my file.txt data=from-s3" in log
    assert info["status"] == "Succeeded"


def test_failing_script_job_still_succeeds_but_failed_download_fails(admin: httpx.Client) -> None:
    name, headers = make_service(admin, "echo broken >&2\nexit 1\n")
    httpx.post(f"{admin.base_url}/job/{name}", headers=headers, content=base64.b64encode(b"x"))
    ((job, info),) = finished(admin, name).items()
    assert info["status"] == "Succeeded"
    assert "broken" in admin.get(f"/system/logs/{name}/{job}").text
    missing = {
        "Records": [
            {"eventSource": "minio:s3", "s3": {"bucket": {"name": name}, "object": {"key": "nope"}}}
        ]
    }
    httpx.post(f"{admin.base_url}/job/{name}", headers=headers, json=missing)
    statuses = sorted(v["status"] for v in finished(admin, name, count=2).values())
    assert statuses == ["Failed", "Succeeded"]


def test_outputs_go_to_every_output_whose_filters_pass(admin: httpx.Client, s3: Any) -> None:
    script = 'echo a > "$TMP_OUTPUT_DIR/pic.png"\necho b > "$TMP_OUTPUT_DIR/notes.txt"\n'
    outputs = [
        {"path": "all"},
        {"path": "png-only", "suffix": [".png"]},
        {"path": "notes", "prefix": ["notes"]},
    ]
    name, headers = make_service(admin, script, output=outputs)
    httpx.post(f"{admin.base_url}/job/{name}", headers=headers, content=base64.b64encode(b"x"))
    finished(admin, name)
    keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"])
    assert keys == [
        "all/",
        "all/notes.txt",
        "all/pic.png",
        "notes/",
        "notes/notes.txt",
        "png-only/",
        "png-only/pic.png",
    ]


def test_job_log_and_delete_routes(admin: httpx.Client) -> None:
    name, headers = make_service(admin, "echo done")
    for _ in range(2):
        httpx.post(f"{admin.base_url}/job/{name}", headers=headers, content=base64.b64encode(b"x"))
    jobs = finished(admin, name, count=2)
    assert admin.get(f"/system/logs/{name}/{name}-not-a-job").status_code == 404
    assert admin.get("/system/logs/no-such-service").status_code == 404
    first, second = sorted(jobs)
    assert admin.delete(f"/system/logs/{name}/{first}").status_code == 204
    assert set(jobs_of(admin, name)) == {second}
    assert admin.delete(f"/system/logs/{name}/{first}").status_code == 404
    assert admin.delete(f"/system/logs/{name}").status_code == 204  # succeeded jobs go
    assert jobs_of(admin, name) == {}


def test_delete_without_all_keeps_unfinished_jobs(admin: httpx.Client) -> None:
    name, headers = make_service(admin, "echo started-now\nsleep 30")
    httpx.post(f"{admin.base_url}/job/{name}", headers=headers, content=base64.b64encode(b"x"))
    (job,) = wait_until(
        lambda: [k for k, v in jobs_of(admin, name).items() if v["status"] == "Running"],
        "a running job",
    )
    # the log follows the job while it runs
    wait_until(lambda: "started-now" in admin.get(f"/system/logs/{name}/{job}").text, "live log")
    assert admin.delete(f"/system/logs/{name}").status_code == 204
    assert [v["status"] for v in jobs_of(admin, name).values()] == ["Running"]
    assert admin.delete(f"/system/logs/{name}", params={"all": "true"}).status_code == 204
    assert jobs_of(admin, name) == {}


def test_update_does_not_rerun_processed_inputs(admin: httpx.Client, s3: Any) -> None:
    name, _ = make_service(admin, "echo ran", input=[{"path": "in"}])
    s3.put_object(Bucket=name, Key="in/one.txt", Body=b"1")
    finished(admin, name)
    body = {
        "name": name,
        "image": "local/test",
        "script": "echo ran again",
        "input": [{"path": "in"}],
    }
    assert admin.put("/system/services", json=body).status_code == 204
    s3.put_object(Bucket=name, Key="in/two.txt", Body=b"2")
    jobs = finished(admin, name, count=2)
    time.sleep(1.5)  # a few watcher rounds: the first object must not start a third job
    assert set(jobs_of(admin, name)) == set(jobs)

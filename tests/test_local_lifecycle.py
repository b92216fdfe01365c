"""Restarts, timeouts, size limits and external S3: each test starts its own oscar-local."""

from __future__ import annotations

import base64
import json
import os
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import boto3
import httpx

from devstack.oscar import LocalOscar
from tests.waiting import wait_until

Factory = Callable[..., LocalOscar]


def create(oscar: LocalOscar, name: str, script: str, **extra: Any) -> dict[str, str]:
    body = {"name": name, "image": "local/test", "script": script, "log_level": "CRITICAL", **extra}
    assert (
        httpx.post(f"{oscar.url}/system/services", json=body, auth=oscar.admin_auth).status_code
        == 201
    )
    token = httpx.get(f"{oscar.url}/system/services/{name}", auth=oscar.admin_auth).json()["token"]
    return {"Authorization": f"Bearer {token}"}


def jobs(oscar: LocalOscar, name: str) -> dict[str, dict[str, str]]:
    return dict(httpx.get(f"{oscar.url}/system/logs/{name}", auth=oscar.admin_auth).json()["jobs"])


def test_restart_keeps_services_tokens_and_job_records(local_oscar_factory: Factory) -> None:
    oscar = local_oscar_factory()
    headers = create(oscar, "keeper", 'echo kept-$(cat "$INPUT_FILE_PATH")', input=[{"path": "in"}])
    cowsay_token = httpx.get(f"{oscar.url}/system/services/cowsay", auth=oscar.admin_auth).json()[
        "token"
    ]
    httpx.post(f"{oscar.url}/job/keeper", headers=headers, content=base64.b64encode(b"1"))
    wait_until(
        lambda: [j for j in jobs(oscar, "keeper").values() if j["status"] == "Succeeded"], "the job"
    )
    before = jobs(oscar, "keeper")
    (job,) = before
    url = oscar.url
    oscar.restart()
    assert oscar.url == url  # same port, same data dir
    service = httpx.get(f"{oscar.url}/system/services/keeper", auth=oscar.admin_auth).json()
    assert f"Bearer {service['token']}" == headers["Authorization"]
    after_cowsay = httpx.get(f"{oscar.url}/system/services/cowsay", auth=oscar.admin_auth).json()[
        "token"
    ]
    assert after_cowsay == cowsay_token  # demo services are skipped when they exist
    assert jobs(oscar, "keeper") == before
    assert (
        "kept-1" in httpx.get(f"{oscar.url}/system/logs/keeper/{job}", auth=oscar.admin_auth).text
    )
    ran = httpx.post(f"{oscar.url}/run/keeper", headers=headers, content=base64.b64encode(b"2"))
    assert ran.text == "kept-2\n\n"
    # the input bucket is back (the embedded S3 starts empty) and still triggers jobs
    provider = httpx.get(f"{oscar.url}/system/config", auth=oscar.admin_auth).json()[
        "minio_provider"
    ]
    s3 = boto3.client(
        "s3",
        endpoint_url=provider["endpoint"],
        aws_access_key_id="k",
        aws_secret_access_key="s",
        region_name="us-east-1",
    )
    s3.put_object(Bucket="keeper", Key="in/x.txt", Body=b"3")
    wait_until(lambda: len(jobs(oscar, "keeper")) == 2, "a job from the recreated bucket")


def test_hung_script_is_killed_at_the_sync_timeout_while_other_calls_succeed(
    local_oscar_factory: Factory, tmp_path: Path
) -> None:
    oscar = local_oscar_factory(extra_args=["--sync-timeout", "3"])
    pid_file = tmp_path / "child.pid"
    script = f'sleep 120 &\necho $! > "{pid_file}"\nwait\n'
    hung_headers = create(oscar, "hung", script)
    quick_headers = create(oscar, "quick", "echo quick")
    with ThreadPoolExecutor(max_workers=1) as pool:
        hung = pool.submit(
            httpx.post, f"{oscar.url}/run/hung", headers=hung_headers, content=b"", timeout=60
        )
        child = int(
            wait_until(lambda: pid_file.exists() and pid_file.read_text().strip(), "the child pid")
        )
        for _ in range(3):
            quick = httpx.post(
                f"{oscar.url}/run/quick", headers=quick_headers, content=b"", timeout=60
            )
            assert quick.text == "quick\n\n"
        assert not hung.done()  # the quick calls were answered while the hung one still waited
        response = hung.result()
    assert response.status_code == 504
    # the whole process group went, including the script's own child
    wait_until(lambda: not _alive(child), "the script's child to die", timeout=5)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split()[2] != "Z"


def test_job_is_killed_at_its_service_limit(local_oscar_factory: Factory) -> None:
    oscar = local_oscar_factory(services=[], extra_args=["--job-timeout", "600"])
    headers = create(oscar, "slow", "sleep 120", annotations={"oscar-local/timeout-seconds": "1"})
    httpx.post(f"{oscar.url}/job/slow", headers=headers, content=b"")
    ended = wait_until(
        lambda: [(k, j) for k, j in jobs(oscar, "slow").items() if j["status"] == "Failed"],
        "a failed job",
    )
    log = httpx.get(f"{oscar.url}/system/logs/slow/{ended[0][0]}", auth=oscar.admin_auth).text
    assert "time limit" in log


def test_body_over_the_limit_is_413(local_oscar_factory: Factory) -> None:
    oscar = local_oscar_factory(services=[], extra_args=["--max-body-bytes", "1000"])
    headers = create(oscar, "small", "echo ok")
    big = base64.b64encode(b"x" * 2000)
    assert httpx.post(f"{oscar.url}/run/small", headers=headers, content=big).status_code == 413
    assert httpx.post(f"{oscar.url}/job/small", headers=headers, content=big).status_code == 413
    streamed = httpx.post(
        f"{oscar.url}/run/small", headers=headers, content=iter([big[:800], big[800:]])
    )
    assert streamed.status_code == 413  # no Content-Length: counted while reading
    assert (
        httpx.post(f"{oscar.url}/run/small", headers=headers, content=base64.b64encode(b"x")).text
        == "ok\n\n"
    )
    too_big = {"name": "huge", "image": "x", "script": "#" * 2000}
    assert (
        httpx.post(f"{oscar.url}/system/services", json=too_big, auth=oscar.admin_auth).status_code
        == 413
    )
    assert httpx.get(f"{oscar.url}/system/services/huge", auth=oscar.admin_auth).status_code == 404


def test_external_s3_flags_use_that_server(local_oscar_factory: Factory) -> None:
    first = local_oscar_factory(services=[])
    endpoint = httpx.get(f"{first.url}/system/config", auth=first.admin_auth).json()[
        "minio_provider"
    ]["endpoint"]
    second = local_oscar_factory(
        services=[],
        extra_args=[
            "--s3-endpoint",
            endpoint,
            "--s3-access-key",
            "ext-key",
            "--s3-secret-key",
            "ext-secret",
        ],
    )
    provider = httpx.get(f"{second.url}/system/config", auth=second.admin_auth).json()[
        "minio_provider"
    ]
    assert (provider["endpoint"], provider["access_key"], provider["secret_key"]) == (
        endpoint,
        "ext-key",
        "ext-secret",
    )
    create(second, "external", "echo hi", input=[{"path": "in"}])
    # the bucket was made on the first server's S3, which the second one uses
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id="a",
        aws_secret_access_key="b",
        region_name="us-east-1",
    )
    assert "external" in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_bad_services_file_stops_the_start_with_a_message(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "functions:\n  oscar:\n  - local:\n"
        "      name: Bad_Name\n      image: x\n      script: echo\n"
    )
    argv = [
        sys.executable,
        "-m",
        "oscar_local",
        "serve",
        "--port",
        "0",
        "--data-dir",
        str(tmp_path / "d"),
    ]
    for services, message in [
        (bad, "invalid service name 'Bad_Name'"),
        (tmp_path / "nope", "no such file"),
    ]:
        result = subprocess.run(
            [*argv, "--services", str(services)], capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 2
        assert message in result.stderr and "Traceback" not in result.stderr


def test_jobs_older_than_30_days_are_forgotten_at_start(local_oscar_factory: Factory) -> None:
    oscar = local_oscar_factory(services=[])
    create(oscar, "aged", "echo hi")
    oscar.stop()
    with sqlite3.connect(oscar.data_dir / "oscar-local.sqlite3") as db:
        db.execute(
            "INSERT INTO jobs (name, service, owner, status, creation_time) VALUES (?, ?, ?, ?, ?)",
            ("aged-old", "aged", "cluster_admin", "Succeeded", "2000-01-01T00:00:00Z"),
        )
        db.execute(
            "INSERT INTO jobs (name, service, owner, status, creation_time) VALUES (?, ?, ?, ?, ?)",
            ("aged-running", "aged", "cluster_admin", "Running", "2099-01-01T00:00:00Z"),
        )
    oscar.start()
    listed = jobs(oscar, "aged")
    assert "aged-old" not in listed
    assert listed["aged-running"]["status"] == "Failed"  # its process died with the old server


def test_services_flag_takes_json_files_and_inline_or_file_scripts(
    local_oscar_factory: Factory, tmp_path: Path
) -> None:
    folder = tmp_path / "defs"
    folder.mkdir()
    (folder / "plain.json").write_text(
        json.dumps(
            [{"name": "from-json", "image": "x", "script": "echo json", "log_level": "CRITICAL"}]
        )
    )
    (folder / "script.sh").write_text("echo from-file\n")
    (folder / "fdl.yaml").write_text(
        "functions:\n  oscar:\n  - local:\n      name: from-fdl\n      image: x\n"
        "      script: script.sh\n      log_level: CRITICAL\n"
    )
    oscar = local_oscar_factory(services=[folder])
    names = {
        s["name"] for s in httpx.get(f"{oscar.url}/system/services", auth=oscar.admin_auth).json()
    }
    assert names == {"from-json", "from-fdl"}
    token = httpx.get(f"{oscar.url}/system/services/from-fdl", auth=oscar.admin_auth).json()[
        "token"
    ]
    ran = httpx.post(
        f"{oscar.url}/run/from-fdl", headers={"Authorization": f"Bearer {token}"}, content=b""
    )
    assert ran.text == "from-file\n\n"  # oscar-cli's convention: script is a path next to the FDL

"""``/api/v1`` against a real gateway, dev OIDC provider and local OSCAR."""

from __future__ import annotations

import io
import json
import time
import zipfile

import httpx
import pytest
from PIL import Image

from devstack.idp import fetch_tokens
from tests.fixtures.gateway import Stack


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack for this module: its tests read the demo services, follow their own jobs."""
    return module_stack


def _bearer(stack: Stack, user: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {fetch_tokens(stack.idp, user=user)['access_token']}"}


def _png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buffer, "PNG")
    return buffer.getvalue()


def test_services_lists_what_the_caller_may_use(stack: Stack) -> None:
    api = f"{stack.gateway.url}/api/v1"
    alice = httpx.get(f"{api}/services", headers=_bearer(stack, "alice"))
    assert alice.status_code == 200
    names = [s["name"] for s in alice.json()]
    assert "cowsay" in names and "grayify" in names
    assert "multi-output" not in names  # private to bob
    bob = [s["name"] for s in httpx.get(f"{api}/services", headers=_bearer(stack, "bob")).json()]
    assert "multi-output" in bob


def test_services_without_credentials_is_401(stack: Stack) -> None:
    response = httpx.get(f"{stack.gateway.url}/api/v1/services")
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == "Bearer"
    bad = httpx.get(
        f"{stack.gateway.url}/api/v1/services", headers={"Authorization": "Bearer x.y.z"}
    )
    assert bad.status_code == 401


def test_get_service_describes_it_and_hides_its_token(stack: Stack) -> None:
    response = httpx.get(
        f"{stack.gateway.url}/api/v1/services/grayify", headers=_bearer(stack, "alice")
    )
    assert response.status_code == 200
    body = response.json()
    assert body["name"] == "grayify"
    assert body["supports_jobs"] is True
    assert body["inputs"] == ["grayify/in"]
    assert "token" not in body
    assert body["run_url"].endswith("/api/v1/services/grayify/run")


def test_get_unknown_or_foreign_service_is_an_error(stack: Stack) -> None:
    headers = _bearer(stack, "alice")
    api = f"{stack.gateway.url}/api/v1"
    assert httpx.get(f"{api}/services/nope", headers=headers).status_code == 404
    assert httpx.get(f"{api}/services/multi-output", headers=headers).status_code in {403, 404}


def test_run_text_in_text_out(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.gateway.url}/api/v1/services/cowsay/run",
        content="hello from the api",
        headers={**_bearer(stack, "alice"), "Content-Type": "text/plain"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    assert "hello from the api" in response.text


def test_run_json_object_in(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.gateway.url}/api/v1/services/cowsay/run",
        json={"message": "moo json"},
        headers=_bearer(stack, "alice"),
        timeout=60,
    )
    assert response.status_code == 200
    assert "moo json" in response.text


def test_run_image_in_image_out(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.gateway.url}/api/v1/services/grayify/run",
        content=_png(),
        headers={**_bearer(stack, "alice"), "Content-Type": "image/png"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/png"
    image = Image.open(io.BytesIO(response.content))
    assert image.mode == "L"


def test_run_json_out_is_json(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.gateway.url}/api/v1/services/classify/run",
        content=_png(),
        headers={**_bearer(stack, "alice"), "Content-Type": "image/png"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    assert isinstance(json.loads(response.content), dict | list)


def test_run_several_files_out_is_a_zip(stack: Stack) -> None:
    response = httpx.post(
        f"{stack.gateway.url}/api/v1/services/multi-output/run",
        content="several",
        headers={**_bearer(stack, "bob"), "Content-Type": "text/plain"},
        timeout=60,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/zip"
    assert len(zipfile.ZipFile(io.BytesIO(response.content)).namelist()) >= 2


def test_run_errors(stack: Stack) -> None:
    api = f"{stack.gateway.url}/api/v1/services"
    alice = _bearer(stack, "alice")
    assert httpx.post(f"{api}/nope/run", content=b"x", headers=alice).status_code == 404
    assert httpx.post(f"{api}/cowsay/run", content=b"x").status_code == 401
    foreign = httpx.post(f"{api}/multi-output/run", content=b"x", headers=alice, timeout=60)
    assert foreign.status_code in {403, 404}


def test_run_with_the_services_own_token(stack: Stack) -> None:
    described = httpx.get(
        f"{stack.oscar.url}/system/services/cowsay", auth=stack.oscar.admin_auth
    ).json()
    token = {"Authorization": f"Bearer {described['token']}"}
    response = httpx.post(
        f"{stack.gateway.url}/api/v1/services/cowsay/run", content="tok", headers=token, timeout=60
    )
    assert response.status_code == 200
    assert "tok" in response.text


def _wait_finished(stack: Stack, job_url: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        job = httpx.get(job_url, headers=headers, timeout=30).json()
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            return job
        time.sleep(0.5)
    raise AssertionError(f"job not finished: {job}")


def test_async_job_lifecycle(stack: Stack) -> None:
    alice = _bearer(stack, "alice")
    api = f"{stack.gateway.url}/api/v1"
    submitted = httpx.post(
        f"{api}/services/grayify/jobs",
        files={"file": ("cat photo.png", _png(), "image/png")},
        headers=alice,
        timeout=60,
    )
    assert submitted.status_code == 202, submitted.text
    job = submitted.json()
    assert submitted.headers["location"].endswith(f"/api/v1/jobs/{job['id']}")
    assert job["status"] in {"queued", "running"}
    assert job["input_key"].startswith("grayify/in/") and job["input_key"].endswith("cat_photo.png")
    job_url = f"{stack.gateway.url}/api/v1/jobs/{job['id']}"
    done = _wait_finished(stack, job_url, alice)
    assert done["status"] == "succeeded", done
    assert done["output_keys"] and str(done["output_keys"][0]).startswith("grayify/out/")
    output = httpx.get(f"{job_url}/output", headers=alice, timeout=30)
    assert output.status_code == 200
    assert output.headers["content-type"] == "image/png"
    assert Image.open(io.BytesIO(output.content)).mode == "L"
    unknown_key = httpx.get(f"{job_url}/output", params={"key": "grayify/out/x"}, headers=alice)
    assert unknown_key.status_code == 404
    logs = httpx.get(f"{job_url}/logs", headers=alice, timeout=30)
    assert logs.status_code == 200
    listed = httpx.get(f"{api}/jobs", headers=alice).json()
    assert job["id"] in [j["id"] for j in listed]
    assert httpx.delete(job_url, headers=alice, timeout=30).status_code == 204
    assert httpx.get(job_url, headers=alice).status_code == 404


def test_raw_body_job_and_another_users_job_is_404(stack: Stack) -> None:
    alice, bob = _bearer(stack, "alice"), _bearer(stack, "bob")
    submitted = httpx.post(
        f"{stack.gateway.url}/api/v1/services/grayify/jobs?filename=raw.png",
        content=_png((10, 200, 10)),
        headers={**alice, "Content-Type": "image/png"},
        timeout=60,
    )
    assert submitted.status_code == 202, submitted.text
    job_url = f"{stack.gateway.url}/api/v1/jobs/{submitted.json()['id']}"
    for method, suffix in [("GET", ""), ("GET", "/output"), ("GET", "/logs"), ("DELETE", "")]:
        assert httpx.request(method, job_url + suffix, headers=bob).status_code == 404
    assert submitted.json()["id"] not in [
        j["id"] for j in httpx.get(f"{stack.gateway.url}/api/v1/jobs", headers=bob).json()
    ]
    assert _wait_finished(stack, job_url, alice)["status"] == "succeeded"


def test_a_job_whose_script_fails_is_failed_with_its_log(stack: Stack) -> None:
    alice = _bearer(stack, "alice")
    submitted = httpx.post(
        f"{stack.gateway.url}/api/v1/services/grayify/jobs?filename=not-an-image.png",
        content=b"these bytes are no image",
        headers=alice,
        timeout=60,
    )
    assert submitted.status_code == 202, submitted.text
    job_url = f"{stack.gateway.url}/api/v1/jobs/{submitted.json()['id']}"
    done = _wait_finished(stack, job_url, alice)
    # OSCAR reports Succeeded when the script fails (oscar-api.md §5): no output means failed.
    assert done["status"] == "failed", done
    assert "without an output" in str(done["error"])
    output = httpx.get(f"{job_url}/output", headers=alice)
    assert output.status_code == 409
    assert "failed" in output.json()["message"]


def test_job_errors(stack: Stack) -> None:
    alice = _bearer(stack, "alice")
    api = f"{stack.gateway.url}/api/v1"
    unknown = httpx.post(f"{api}/services/nope/jobs", content=b"x", headers=alice)
    assert unknown.status_code == 404
    sync_only = httpx.post(f"{api}/services/cowsay/jobs", content=b"x", headers=alice)
    assert sync_only.status_code == 400
    webhook = httpx.post(
        f"{api}/services/grayify/jobs?webhook=http://evil.example/hook", content=b"x", headers=alice
    )
    assert webhook.status_code == 400
    assert "not allowed" in webhook.json()["message"]
    assert httpx.get(f"{api}/jobs/does-not-exist", headers=alice).status_code == 404
    assert httpx.get(f"{api}/jobs").status_code == 401
    assert httpx.get(f"{api}/jobs?limit=0", headers=alice).status_code == 422
    multipart_without_file = httpx.post(
        f"{api}/services/grayify/jobs", files={"other": ("a", b"b")}, headers=alice
    )
    assert multipart_without_file.status_code == 400


@pytest.mark.parametrize("path", ["/api/v1/docs", "/api/v1/openapi.json"])
def test_api_docs_are_served(stack: Stack, path: str) -> None:
    response = httpx.get(f"{stack.gateway.url}{path}")
    assert response.status_code == 200
    if path.endswith(".json"):
        assert "/api/v1/services/{name}/run" in response.json()["paths"]

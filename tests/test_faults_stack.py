"""What the gateway does when OSCAR, S3 or Redis goes away, and that it recovers.

Each test runs the compose topology (tests/fixtures/deploy.py), takes one
dependency away, checks the answers people and programs get, brings it back and
checks that the system works again with nothing lost (sessions, job records).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Browser, expect

from tests.fixtures.deploy import ProxiedStack, bearer, login_in_browser, login_via_nginx
from tests.waiting import wait_until

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"

HTML = {"Accept": "text/html"}


def ready(stack: ProxiedStack) -> list[int]:
    return [httpx.get(f"{g.url}/readyz").status_code for g in stack.gateways]


def run_cowsay(client: httpx.Client, stack: ProxiedStack, **headers: str) -> httpx.Response:
    return client.post(
        f"{stack.url}/api/v1/services/cowsay/run",
        content=b"still here",
        headers={"Content-Type": "text/plain", **headers},
    )


def test_oscar_down_gives_a_clear_503_everywhere_and_all_works_when_it_returns(
    proxied_stack_factory: Callable[..., ProxiedStack],
) -> None:
    stack = proxied_stack_factory()
    session = login_via_nginx(stack)
    token = bearer(stack)
    assert run_cowsay(session, stack).status_code == 200
    assert ready(stack) == [200, 200]

    stack.oscar.stop()
    try:
        assert ready(stack) == [503, 503]
        probe = httpx.get(f"{stack.url}/readyz").json()
        assert probe["checks"]["oscar"] == "OSCAR unavailable"
        # The API, with a session or a bearer token.
        for answer in (
            run_cowsay(session, stack),
            session.get(f"{stack.url}/api/v1/services", headers=token),
        ):
            assert answer.status_code == 503
            assert answer.json()["error"] == "unavailable"
            assert "OSCAR unavailable" in answer.json()["message"]
            assert "Traceback" not in answer.text
        # The UI: a page a person can read, no traceback.
        page = session.get(f"{stack.url}/ui/cowsay/", headers=HTML)
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "OSCAR unavailable" in page.text and "Traceback" not in page.text
    finally:
        stack.oscar.restart()

    wait_until(
        lambda: ready(stack) == [200, 200], "both replicas ready again", timeout=60, interval=0.25
    )
    # Nothing lost: the same session and token work, services run again.
    assert session.get(f"{stack.url}/auth/me").json()["sub"] == "alice"
    assert run_cowsay(session, stack).status_code == 200
    assert session.get(f"{stack.url}/api/v1/services", headers=token).status_code == 200
    assert session.get(f"{stack.url}/ui/cowsay/", headers=HTML).status_code == 200


def _create_gated_service(stack: ProxiedStack, gate: Path) -> str:
    """An async service that copies its input once ``gate`` exists, so the test decides
    when the job reaches its output upload (created as OSCAR's admin, restricted to alice)."""
    name = "gated-copy"
    definition = {
        "name": name,
        "image": "ghcr.io/grycap/alpine",
        "script": (
            f'#!/bin/sh\nwhile [ ! -e "{gate}" ]; do sleep 0.1; done\n'
            'cp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/"\n'
        ),
        "visibility": "restricted",
        "allowed_users": ["alice"],
        "input": [{"storage_provider": "minio.default", "path": f"{name}/in"}],
        "output": [{"storage_provider": "minio.default", "path": f"{name}/out"}],
    }
    created = httpx.post(
        f"{stack.oscar.url}/system/services", json=definition, auth=stack.oscar.admin_auth
    )
    assert created.status_code == 201, created.text
    return name


def test_s3_stopped_during_an_async_job_fails_the_job_with_a_message(
    proxied_stack_factory: Callable[..., ProxiedStack], tmp_path: Path
) -> None:
    stack = proxied_stack_factory(external_s3=True)
    assert stack.s3 is not None
    gate = tmp_path / "gate"
    service = _create_gated_service(stack, gate)
    token = bearer(stack)
    with httpx.Client(timeout=30) as http:
        _fail_a_job_then_recover(stack, http, token, service, gate)


def _fail_a_job_then_recover(
    stack: ProxiedStack, http: httpx.Client, token: dict[str, str], service: str, gate: Path
) -> None:
    assert stack.s3 is not None
    submitted = http.post(
        f"{stack.url}/api/v1/services/{service}/jobs",
        content=b"some input",
        headers={**token, "Content-Type": "text/plain", "X-Filename": "input.txt"},
    )
    assert submitted.status_code == 202, submitted.text
    job_url = submitted.headers["location"]
    wait_until(
        lambda: http.get(job_url, headers=token).json()["status"] == "running",
        "the job to run in OSCAR",
        timeout=60,
        interval=0.25,
    )

    stack.s3.stop()
    gate.touch()  # the script finishes now; its output upload meets no S3
    # OSCAR marks its job Failed when the output upload fails; the gateway must say so
    # (at the latest after oscar.job_timeout_seconds, 60 s here) instead of polling forever.
    wait_until(
        lambda: http.get(job_url, headers=token).json()["status"] == "failed",
        "the job to be reported failed",
        timeout=120,
        describe=lambda: str(http.get(job_url, headers=token).json()),
    )
    job = http.get(job_url, headers=token).json()
    assert job["error"], job
    output = http.get(f"{job_url}/output", headers=token)
    assert output.status_code == 409
    assert "failed" in output.json()["message"]

    # Back again: moto starts empty, and the stand-in recreates its buckets at start.
    stack.s3.start()
    stack.oscar.restart()
    wait_until(
        lambda: ready(stack) == [200, 200], "both replicas ready again", timeout=60, interval=0.25
    )
    # Nothing lost: the failed job is still listed with its message; new jobs work.
    listed = http.get(f"{stack.url}/api/v1/jobs", headers=token).json()
    assert [j["status"] for j in listed if j["id"] == job["id"]] == ["failed"]
    gate.touch()
    again = http.post(
        f"{stack.url}/api/v1/services/{service}/jobs",
        content=b"second input",
        headers={**token, "Content-Type": "text/plain", "X-Filename": "again.txt"},
    )
    assert again.status_code == 202, again.text
    wait_until(
        lambda: http.get(again.headers["location"], headers=token).json()["status"] == "succeeded",
        "the second job to succeed",
        timeout=120,
    )
    result = http.get(f"{again.headers['location']}/output", headers=token)
    assert result.content == b"second input"


def test_redis_down_gives_session_routes_a_clear_503_while_bearer_calls_work(
    proxied_stack_factory: Callable[..., ProxiedStack],
) -> None:
    stack = proxied_stack_factory()
    session = login_via_nginx(stack)
    token = bearer(stack)
    assert session.get(f"{stack.url}/auth/me").status_code == 200

    stack.redis.stop()
    try:
        me = session.get(f"{stack.url}/auth/me")
        assert me.status_code == 503
        assert "session store" in me.json()["message"].lower()
        assert "Traceback" not in me.text
        for page in (
            httpx.get(f"{stack.url}/auth/login", headers=HTML),
            session.get(f"{stack.url}/ui/cowsay/", headers=HTML),
        ):
            assert page.status_code == 503
            assert "session store" in page.text.lower()
            assert "Traceback" not in page.text
        assert ready(stack) == [503, 503]
        # Bearer calls never touch the session store.
        with httpx.Client(timeout=30) as api:
            for _ in range(2):  # both replicas
                answer = run_cowsay(api, stack, **token)
                assert answer.status_code == 200, answer.text
                assert "still here" in answer.text
                services = api.get(f"{stack.url}/api/v1/services", headers=token)
                assert services.status_code == 200
    finally:
        stack.redis.start()

    wait_until(
        lambda: ready(stack) == [200, 200], "both replicas ready again", timeout=60, interval=0.25
    )
    # Nothing lost: Redis kept the session on disk, the same cookie works.
    me = session.get(f"{stack.url}/auth/me")
    assert me.status_code == 200 and me.json()["sub"] == "alice"


@pytest.mark.browser
def test_s3_stopped_during_an_async_job_in_the_ui_ends_it_with_a_message(
    proxied_stack_factory: Callable[..., ProxiedStack], chromium_browser: Browser, tmp_path: Path
) -> None:
    stack = proxied_stack_factory(external_s3=True)
    assert stack.s3 is not None
    gate = tmp_path / "gate"
    service = _create_gated_service(stack, gate)
    page = chromium_browser.new_page()
    page.set_default_timeout(60_000)
    login_in_browser(page, stack, f"{stack.url}/ui/{service}/")
    source = tmp_path / "input.txt"
    source.write_text("typed in the browser")
    page.locator("input[type=file]").first.set_input_files(str(source))
    page.get_by_role("button", name="Run").click()
    job_log = page.get_by_label("Job log")
    expect(job_log).to_have_value(re.compile(r"\[running\]"))

    stack.s3.stop()
    gate.touch()
    try:
        # Gradio shows the error in a toast (not the "Info" one of the upload).
        toast = page.locator("[data-testid='toast-body']").filter(has_text="Error").first
        expect(toast).to_be_visible(timeout=150_000)
        page.screenshot(path=str(ARTIFACTS / "fault-s3-ui.png"))
        assert "storage" in toast.inner_text().lower()
        assert "Traceback" not in toast.inner_text()
    finally:
        stack.s3.start()
        stack.oscar.restart()
    wait_until(
        lambda: ready(stack) == [200, 200], "both replicas ready again", timeout=60, interval=0.25
    )
    # Same page, same session: the job runs to its result now.
    page.get_by_role("button", name="Run").click()
    # The "Result" text box is the page's last textarea (its label is not linked to it).
    result = page.locator("textarea").last
    expect(result).to_have_value("typed in the browser", timeout=120_000)
    page.screenshot(path=str(ARTIFACTS / "fault-s3-ui-recovered.png"))

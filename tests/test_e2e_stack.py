"""End to end in the compose topology, as real local processes (tests/fixtures/deploy.py).

Debian's nginx under /oscar-gateway in front of two gateway processes sharing one
redis-server, the local OSCAR with its S3 server, the dev OIDC provider.  The browser
test logs in through the prefix in headless Chromium, runs a sync and an async
service in their UIs, reloads on the other replica, and reads /metrics.
"""

from __future__ import annotations

import io
import re
import time
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
from PIL import Image
from playwright.sync_api import Browser, expect
from prometheus_client.parser import text_string_to_metric_families

from devstack.gateway import GatewayProcess
from tests.fixtures.deploy import ProxiedStack, bearer, login_in_browser, login_via_nginx

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"


def png_bytes(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buffer, format="PNG")
    return buffer.getvalue()


def metric_total(stack: ProxiedStack, name: str, **labels: str) -> float:
    """``name`` summed over the replicas that are up (scraped directly, not through nginx)."""
    total = 0.0
    for gateway in stack.gateways:
        if not gateway.alive():
            continue
        text = httpx.get(f"{gateway.url}/metrics").text
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == name and labels.items() <= sample.labels.items():
                    total += sample.value
    return total


def wait_for_job(http: httpx.Client, url: str, headers: dict[str, str]) -> dict[str, object]:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        job = http.get(url, headers=headers).json()
        if job["status"] in {"succeeded", "failed", "cancelled"}:
            return dict(job)
        time.sleep(0.5)
    raise AssertionError(f"job still unfinished: {job}")


def test_api_through_nginx_with_a_session_and_a_bearer_token(
    proxied_stack_factory: Callable[..., ProxiedStack],
) -> None:
    stack = proxied_stack_factory()
    session = login_via_nginx(stack)
    me = session.get(f"{stack.url}/auth/me")
    assert me.status_code == 200 and me.json()["sub"] == "alice"
    # The session cookie is scoped to the prefix and works on both replicas.
    seen = set()
    for n in range(4):
        request_id = f"e2e-me-{n:04d}"
        response = session.get(f"{stack.url}/auth/me", headers={"X-Request-ID": request_id})
        assert response.status_code == 200
        seen.update(stack.served_by(request_id))
    assert seen == {0, 1}
    # A sync service with the session, an async one with a bearer token.
    run = session.post(
        f"{stack.url}/api/v1/services/cowsay/run",
        content=b"moo through nginx",
        headers={"Content-Type": "text/plain"},
    )
    assert run.status_code == 200, run.text
    assert "moo through nginx" in run.text
    headers = bearer(stack)
    submitted = session.post(
        f"{stack.url}/api/v1/services/grayify/jobs",
        content=png_bytes(),
        headers={**headers, "Content-Type": "image/png", "X-Filename": "red.png"},
    )
    assert submitted.status_code == 202, submitted.text
    job = wait_for_job(session, submitted.headers["location"], headers)
    assert job["status"] == "succeeded", job
    output = session.get(f"{stack.url}/api/v1/jobs/{job['id']}/output", headers=headers)
    assert output.status_code == 200
    assert Image.open(io.BytesIO(output.content)).mode in {"L", "LA"}
    assert metric_total(stack, "gateway_invocations_total", service="cowsay", mode="sync") >= 1
    assert (
        metric_total(
            stack, "gateway_invocations_total", service="grayify", mode="async", outcome="ok"
        )
        >= 1
    )
    # No secret in any log: not the session cookie, not the tokens, not the OAuth code.
    secrets = [session.cookies["oscar_gateway_session"], headers["Authorization"].split()[1]]
    logs = "\n".join([g.output() for g in stack.gateways] + [stack.nginx.access_log()])
    for secret in secrets:
        assert secret not in logs
    assert not re.search(r"[?&]code=(?!\[redacted\])", logs)


@pytest.mark.browser
def test_browser_login_sync_async_reload_on_the_other_replica_and_metrics(
    proxied_stack_factory: Callable[..., ProxiedStack], chromium_browser: Browser, tmp_path: Path
) -> None:
    stack = proxied_stack_factory()
    ARTIFACTS.mkdir(exist_ok=True)
    context = chromium_browser.new_context()
    page = context.new_page()
    page.set_default_timeout(60_000)

    # Log in through the prefix, landing on the sync service's UI.
    login_in_browser(page, stack, f"{stack.url}/ui/cowsay/")
    # cowsay has a custom UI (uis/custom/cowsay.py).
    page.get_by_label("What should the cow say?").fill("hello from the e2e test")
    page.get_by_role("button", name="Moo").click()
    # A textarea's value is no text node: this finds the cow's answer only.
    expect(page.get_by_text("hello from the e2e test", exact=False).last).to_be_visible()
    page.screenshot(path=str(ARTIFACTS / "e2e-cowsay.png"))

    # From here on, this browser session's UI requests all reach one replica.
    before = [ui_requests_of(gateway) for gateway in stack.gateways]

    # The async service: upload an image, wait for the grey result.
    image = tmp_path / "red.png"
    image.write_bytes(png_bytes())
    page.goto(f"{stack.url}/ui/grayify/")
    page.locator("input[type=file]").first.set_input_files(str(image))
    page.get_by_role("button", name="Run").click()
    result = page.locator("img[src*='gradio_api/file']").last
    expect(result).to_be_visible(timeout=120_000)
    # The file URL works through the prefix: the browser really decoded the grey image.
    result.element_handle().wait_for_element_state("stable")
    page.wait_for_function(
        "img => img.complete && img.naturalWidth === 32", arg=result.element_handle()
    )
    page.screenshot(path=str(ARTIFACTS / "e2e-grayify.png"))

    # /metrics (scraped per replica) counted both invocations.
    assert metric_total(stack, "gateway_invocations_total", service="cowsay", mode="sync") >= 1
    assert metric_total(stack, "gateway_invocations_total", service="grayify", mode="async") >= 1

    # The UI is sticky (the login redirect before the cookie existed may have gone to
    # either replica): find the replica that served it, stop it, reload.
    ui_requests = [ui_requests_of(gateway) for gateway in stack.gateways]
    grown = [now - then for now, then in zip(ui_requests, before, strict=True)]
    assert min(grown) == 0 and max(grown) > 0, grown
    serving = grown.index(max(grown))
    other = 1 - serving
    stack.gateways[serving].stop()
    try:
        page.goto(f"{stack.url}/ui/cowsay/")
        # Still logged in: the session lives in Redis, not in the stopped process.
        assert "/ui/cowsay/" in page.url
        expect(page.get_by_role("button", name="Moo")).to_be_visible()
        page.screenshot(path=str(ARTIFACTS / "e2e-reload-other-replica.png"))
        assert ui_requests_of(stack.gateways[other]) > ui_requests[other]
    finally:
        stack.gateways[serving].restart()
    context.close()


def ui_requests_of(gateway: GatewayProcess) -> float:
    """HTTP requests to the Gradio UIs (routes under /ui/) one replica has served."""
    total = 0.0
    for family in text_string_to_metric_families(httpx.get(f"{gateway.url}/metrics").text):
        for sample in family.samples:
            if sample.name == "gateway_http_requests_total" and sample.labels["route"].startswith(
                "/ui/"
            ):
                total += sample.value
    return total

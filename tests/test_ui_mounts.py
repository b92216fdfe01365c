"""The ``/ui`` dispatcher against a real gateway, a real OSCAR (oscar-local) and the dev IdP.

Calls go through Gradio's two-step ``/gradio_api/call/<api_name>`` API with
httpx (session cookie or bearer), the way the portal's curl snippet does.
"""

from __future__ import annotations

import io
import json
import time
from typing import Any

import httpx
import pytest
from PIL import Image

from devstack.idp import fetch_tokens
from tests.fixtures.gateway import Stack, login

SLEEPY = """#!/usr/bin/env python3
import time
time.sleep(30)
print("late")
"""
BIG = """#!/usr/bin/env python3
import os
open(os.path.join(os.environ["TMP_OUTPUT_DIR"], "big.bin"), "wb").write(os.urandom(300000))
"""


def call(http: httpx.Client, ui: str, api: str, data: list[Any], **kw: Any) -> tuple[str, Any]:
    """Gradio's two-step call API: POST then read the event stream; (event, data)."""
    posted = http.post(f"{ui}/gradio_api/call/{api}", json={"data": data}, **kw)
    assert posted.status_code == 200, posted.text
    event_id = posted.json()["event_id"]
    event, payload = "", None
    with http.stream("GET", f"{ui}/gradio_api/call/{api}/{event_id}", timeout=60, **kw) as r:
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line.split(":", 1)[1].strip()
            elif line.startswith("data:"):
                payload = json.loads(line.split(":", 1)[1].strip() or "null")
                if event in ("complete", "error"):
                    return event, payload
    return event, payload


def create_service(stack: Stack, token: str, definition: dict[str, Any]) -> None:
    body = {"image": "python:3.12-slim", "log_level": "CRITICAL", **definition}
    response = httpx.post(
        f"{stack.oscar.url}/system/services",
        json=body,
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    )
    assert response.status_code in (200, 201), response.text


@pytest.fixture
def stack(module_stack: Stack, auth_gateway_factory: Any) -> Stack:
    """A fresh gateway (its mounted apps are counted) on the module's oscar-local."""
    gateway = auth_gateway_factory(module_stack.idp, oscar__url=module_stack.oscar.url)
    return Stack(idp=module_stack.idp, oscar=module_stack.oscar, gateway=gateway)


def metric(stack: Stack, name: str) -> float:
    text = httpx.get(f"{stack.gateway.url}/metrics", timeout=10).text
    values = [line.split()[-1] for line in text.splitlines() if line.startswith(name + " ")]
    return float(values[0]) if values else 0.0


def test_anonymous_browser_is_sent_to_login_and_nothing_is_built(stack: Stack) -> None:
    ui = f"{stack.gateway.url}/ui/cowsay/"
    page = httpx.get(ui, headers={"Accept": "text/html"}, timeout=20)
    assert page.status_code == 303
    assert "/auth/login?next=" in page.headers["location"]
    xhr = httpx.get(f"{ui}config", headers={"Accept": "application/json"}, timeout=20)
    assert xhr.status_code == 401
    assert xhr.json()["error"] == "unauthorized"
    assert metric(stack, "gateway_mounted_uis") == 0


def test_missing_trailing_slash_redirects_to_an_absolute_path_under_our_prefix(
    module_stack: Stack,
) -> None:
    stack = module_stack  # shared: this test counts no mounted apps
    with login(stack.gateway, stack.idp) as http:
        response = http.get(f"{stack.gateway.url}/ui/cowsay", follow_redirects=False)
        assert response.status_code == 307
        # Never built from the name relative to the request (tests/test_security_redirects.py).
        assert response.headers["location"] == "/ui/cowsay/"


def test_logged_in_user_gets_the_ui_and_calls_it_through_the_queue(stack: Stack) -> None:
    with login(stack.gateway, stack.idp) as http:
        ui = f"{stack.gateway.url}/ui/cowsay"
        page = http.get(f"{ui}/", headers={"Accept": "text/html"})
        assert page.status_code == 200 and "gradio" in page.text.lower()
        config = http.get(f"{ui}/config").json()
        assert config["root"].endswith("/ui/cowsay")
        event, data = call(http, ui, "cowsay", ["Hello gateway"])
        assert event == "complete", data
        assert "Hello gateway" in data[0] and "(oo)" in data[0]
        assert metric(stack, "gateway_mounted_uis") == 1


def test_bearer_token_works_for_the_call_api(module_stack: Stack) -> None:
    stack = module_stack  # shared: this test counts no mounted apps
    token = fetch_tokens(stack.idp, user="bob")["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(timeout=30, headers=headers) as http:
        event, data = call(http, f"{stack.gateway.url}/ui/multi-output", "predict", ["abc"])
    assert event == "complete", data
    listing = data[7]["value"]
    assert "3 files" in listing and "stats.json" in listing and "swatch.png" in listing


def test_user_without_access_gets_a_403_page_and_no_build(stack: Stack) -> None:
    with login(stack.gateway, stack.idp, user="alice") as http:
        page = http.get(f"{stack.gateway.url}/ui/multi-output/", headers={"Accept": "text/html"})
        assert page.status_code == 403
        assert "may not use the service &#x27;multi-output&#x27;" in page.text
        api = http.get(f"{stack.gateway.url}/ui/multi-output/config")
        assert api.status_code == 403 and api.json()["error"] == "forbidden"
        assert metric(stack, "gateway_mounted_uis") == 0


ACCESS_CACHE_SECONDS = 0.5


@pytest.fixture
def short_cache_stack(module_stack: Stack, auth_gateway_factory: Any) -> Stack:
    """A gateway that keeps OSCAR's "may this user use it" answers 0.5 s, not 3 s."""
    oscar = module_stack.oscar
    gateway = auth_gateway_factory(
        module_stack.idp, oscar__url=oscar.url, ui__access_cache_seconds=ACCESS_CACHE_SECONDS
    )
    return Stack(idp=module_stack.idp, oscar=oscar, gateway=gateway)


def test_new_service_appears_and_deleted_one_is_gone_without_restart(
    short_cache_stack: Stack,
) -> None:
    stack = short_cache_stack
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    with login(stack.gateway, stack.idp) as http:
        ui = f"{stack.gateway.url}/ui/echo-late"
        assert http.get(f"{ui}/config").status_code == 404
        script = '#!/bin/sh\ncat "$INPUT_FILE_PATH" | tr a-z A-Z\n'
        create_service(stack, token, {"name": "echo-late", "script": script})
        # past the gateway's cache of OSCAR's answer (ui.access_cache_seconds)
        time.sleep(ACCESS_CACHE_SECONDS + 0.25)
        event, data = call(http, ui, "predict", ["shout"])
        assert event == "complete", data
        assert data[1]["value"] == "SHOUT" or "SHOUT" in json.dumps(data)
        deleted = httpx.delete(
            f"{stack.oscar.url}/system/services/echo-late",
            headers={"Authorization": f"Bearer {token}"},
            timeout=20,
        )
        assert deleted.status_code == 204
        time.sleep(ACCESS_CACHE_SECONDS + 0.25)
        gone = http.get(f"{ui}/", headers={"Accept": "text/html"})
        assert gone.status_code == 404
        assert metric(stack, "gateway_mounted_uis") == 0


def test_wrong_input_type_shows_a_gradio_error(module_stack: Stack) -> None:
    stack = module_stack  # shared: this test counts no mounted apps
    with login(stack.gateway, stack.idp) as http:
        ui = f"{stack.gateway.url}/ui/cowsay"
        event, data = call(http, ui, "cowsay", ["   "])
        assert event == "error"
        assert data is None or "Type some text" in json.dumps(data)


def test_async_service_runs_as_a_job_and_returns_the_grayscale_image(module_stack: Stack) -> None:
    stack = module_stack  # shared: this test counts no mounted apps
    with login(stack.gateway, stack.idp) as http:
        ui = f"{stack.gateway.url}/ui/grayify"
        buffer = io.BytesIO()
        Image.new("RGB", (16, 16), (200, 30, 30)).save(buffer, "PNG")
        upload = http.post(
            f"{ui}/gradio_api/upload", files={"files": ("red.png", buffer.getvalue(), "image/png")}
        )
        assert upload.status_code == 200, upload.text
        path = upload.json()[0]
        image = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "red.png"}
        event, data = call(http, ui, "predict", [image])
        assert event == "complete", data
        log, result = data[0]["value"], data[3]["value"]
        assert "[uploading]" in log and "[fetching]" in log
        fetched = http.get(result["url"])
        assert fetched.status_code == 200
        gray = Image.open(io.BytesIO(fetched.content))
        assert gray.mode == "L"


@pytest.fixture
def sleepy_stack(request: pytest.FixtureRequest, idp: Any, auth_gateway_factory: Any) -> Stack:
    """A gateway with short OSCAR timeouts, a small output limit and a long access cache."""
    oscar = request.getfixturevalue("local_oscar_factory")(oidc_issuers=[idp.issuer])
    gateway = auth_gateway_factory(
        idp,
        oscar__url=oscar.url,
        oscar__timeout_seconds=3,
        ui__max_output_bytes=100_000,
        ui__access_cache_seconds=120,
    )
    return Stack(idp=idp, oscar=oscar, gateway=gateway)


def test_failure_paths_show_actionable_gradio_errors(sleepy_stack: Stack) -> None:
    stack = sleepy_stack
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    create_service(stack, token, {"name": "sleepy", "script": SLEEPY})
    create_service(
        stack,
        token,
        {"name": "big", "script": BIG, "visibility": "restricted", "allowed_users": ["bob"]},
    )
    alice = login(stack.gateway, stack.idp, user="alice")
    bob = login(stack.gateway, stack.idp, user="bob")
    with alice, bob:
        base = f"{stack.gateway.url}/ui"

        event, data = call(alice, f"{base}/sleepy", "predict", ["x"])
        assert event == "error" and "took too long" in json.dumps(data)

        event, data = call(alice, f"{base}/big", "predict", ["x"])
        assert event == "error" and "more than this page shows" in json.dumps(data)

        # bob may use "big"; the gateway remembers that (access cache); then alice revokes it.
        assert bob.get(f"{base}/big/config").status_code == 200
        definition = httpx.get(
            f"{stack.oscar.url}/system/services/big", headers={"Authorization": f"Bearer {token}"}
        ).json()
        definition["allowed_users"] = []
        revoked = httpx.put(
            f"{stack.oscar.url}/system/services",
            json=definition,
            headers={"Authorization": f"Bearer {token}"},
            timeout=20,
        )
        assert revoked.status_code == 204, revoked.text
        event, data = call(bob, f"{base}/big", "predict", ["x"])
        assert event == "error" and "ask its owner" in json.dumps(data).lower()

        assert alice.get(f"{base}/cowsay/config").status_code == 200
        stack.oscar.stop()
        event, data = call(alice, f"{base}/cowsay", "cowsay", ["hi"])
        assert event == "error" and "OSCAR unavailable" in json.dumps(data)


@pytest.fixture
def small_lru_stack(module_stack: Stack, auth_gateway_factory: Any) -> Stack:
    """A gateway keeping at most 2 apps, expiring idle ones after 8 s, no access cache.

    8 s, not less: building and calling the next app must not outlast it on a loaded
    machine, or an app still counted as mounted expires first.
    """
    oscar = module_stack.oscar
    gateway = auth_gateway_factory(
        module_stack.idp,
        oscar__url=oscar.url,
        ui__max_mounted=2,
        ui__idle_seconds=8,
        ui__access_cache_seconds=0,
    )
    return Stack(idp=module_stack.idp, oscar=oscar, gateway=gateway)


def test_lru_evicts_rebuilds_on_change_and_expires_idle_apps(small_lru_stack: Stack) -> None:
    stack = small_lru_stack
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    script = '#!/bin/sh\necho "got $(cat "$INPUT_FILE_PATH")"\n'
    for name in ("lru-a", "lru-b", "lru-c"):
        create_service(stack, token, {"name": name, "script": script})
    with login(stack.gateway, stack.idp) as http:
        base = f"{stack.gateway.url}/ui"
        for name in ("lru-a", "lru-b", "lru-c"):
            event, _ = call(http, f"{base}/{name}", "predict", [name])
            assert event == "complete"
        assert metric(stack, "gateway_mounted_uis") == 2
        assert metric(stack, "gateway_ui_evictions_total") >= 1
        # The evicted app is built again on its next use.
        event, data = call(http, f"{base}/lru-a", "predict", ["again"])
        assert event == "complete" and "got again" in json.dumps(data)

        headers = {"Authorization": f"Bearer {token}"}
        definition = httpx.get(f"{stack.oscar.url}/system/services/lru-a", headers=headers).json()
        definition["annotations"] = {"oscar-gateway/title": "Renamed by the admin"}
        updated = httpx.put(f"{stack.oscar.url}/system/services", json=definition, headers=headers)
        assert updated.status_code == 204, updated.text
        config = http.get(f"{base}/lru-a/config").json()
        assert config["title"] == "Renamed by the admin"

        deadline = time.monotonic() + 30
        while metric(stack, "gateway_mounted_uis") > 0 and time.monotonic() < deadline:
            time.sleep(0.5)
        assert metric(stack, "gateway_mounted_uis") == 0


def test_flagging_writes_the_inputs_and_outputs_to_the_service_bucket(
    module_stack: Stack, auth_gateway_factory: Any
) -> None:
    oscar, idp = module_stack.oscar, module_stack.idp
    gateway = auth_gateway_factory(idp, oscar__url=oscar.url, ui__flagging=True)
    stack = Stack(idp=idp, oscar=oscar, gateway=gateway)
    with login(stack.gateway, stack.idp) as http:
        ui = f"{stack.gateway.url}/ui/grayify"
        assert "Flag" in json.dumps(http.get(f"{ui}/config").json())
        event, data = call(
            http, ui, "flag", [None, "looks wrong", None, None, None, None, None, None]
        )
        assert event == "complete", data
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    listing = httpx.get(
        f"{stack.oscar.url}/system/buckets/grayify",
        headers={"Authorization": f"Bearer {token}"},
        timeout=20,
    )
    assert listing.status_code == 200, listing.text
    assert "flagged/grayify/" in listing.text


def test_classify_shows_the_scores_of_an_uploaded_image(module_stack: Stack) -> None:
    stack = module_stack  # shared: this test counts no mounted apps
    with login(stack.gateway, stack.idp) as http:
        ui = f"{stack.gateway.url}/ui/classify"
        buffer = io.BytesIO()
        Image.new("RGB", (16, 16), (10, 200, 10)).save(buffer, "PNG")
        upload = http.post(
            f"{ui}/gradio_api/upload",
            files={"files": ("green.png", buffer.getvalue(), "image/png")},
        )
        path = upload.json()[0]
        image = {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "green.png"}
        event, data = call(http, ui, "classify", [image])
    assert event == "complete", data
    label = data[0]
    assert label["label"] == "green"
    assert "green" in {c["label"] for c in label["confidences"]}

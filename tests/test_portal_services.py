"""``GET /``: the portal lists what OSCAR lets the user use, with snippets on the public URL."""

from __future__ import annotations

from html import unescape
from typing import Any

import httpx
import pytest

from devstack.idp import fetch_tokens
from tests.fixtures.gateway import Stack, login

DEMO_FOR_ALICE = {"cowsay", "grayify", "classify", "text-to-image", "deepaas-demo"}


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack for this module: its tests read the demo services (one adds one, removes it)."""
    return module_stack


def listed(page: str) -> set[str]:
    return {part.split('"', 1)[0] for part in page.split('data-service="')[1:]}


def test_anonymous_browser_is_sent_to_login(stack: Stack) -> None:
    response = httpx.get(f"{stack.gateway.url}/", headers={"Accept": "text/html"}, timeout=20)
    assert response.status_code == 303
    assert "/auth/login" in response.headers["location"]


def test_portal_lists_the_users_services_only(stack: Stack) -> None:
    with login(stack.gateway, stack.idp, user="alice") as alice:
        page = alice.get(f"{stack.gateway.url}/")
    assert page.status_code == 200
    assert listed(page.text) == DEMO_FOR_ALICE
    with login(stack.gateway, stack.idp, user="bob") as bob:
        assert "multi-output" in listed(bob.get(f"{stack.gateway.url}/").text)


def test_cards_show_mode_api_name_and_snippets_on_the_public_url(stack: Stack) -> None:
    with login(stack.gateway, stack.idp) as alice:
        page = unescape(alice.get(f"{stack.gateway.url}/").text)
    base = stack.gateway.public_url.rstrip("/")
    assert 'class="badge async">async' in page  # grayify
    assert 'class="badge sync">sync' in page  # cowsay
    assert f'href="{base}/ui/cowsay/"' in page
    assert f"{base}/api/v1/services/cowsay/run" in page
    assert f"{base}/ui/cowsay/gradio_api/call/cowsay" in page
    assert f"{base}/ui/text-to-image/gradio_api/call/generate" in page
    assert 'headers={"Authorization": "Bearer " + os.environ["TOKEN"]}' in page
    assert f'"endpoint": "{base}/oscar"' in page
    assert f'<iframe src="{base}/ui/grayify/"' in page
    assert f'<gradio-app src="{base}/ui/classify/">' in page
    assert "api_name <code>/generate</code>" in page


def test_service_created_after_start_appears_and_deleted_one_goes(stack: Stack) -> None:
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    definition = {
        "name": "late-arrival",
        "image": "python:3.12-slim",
        "script": '#!/bin/sh\ncat "$INPUT_FILE_PATH"\n',
        "annotations": {"oscar-gateway/title": "Late arrival", "oscar-gateway/description": "New"},
    }
    created = httpx.post(f"{stack.oscar.url}/system/services", json=definition, headers=headers)
    assert created.status_code in (200, 201), created.text
    with login(stack.gateway, stack.idp) as alice:
        page = alice.get(f"{stack.gateway.url}/").text
        assert "late-arrival" in listed(page) and "Late arrival" in page
        deleted = httpx.delete(f"{stack.oscar.url}/system/services/late-arrival", headers=headers)
        assert deleted.status_code == 204
        assert "late-arrival" not in listed(alice.get(f"{stack.gateway.url}/").text)


@pytest.fixture
def prefixed_stack(request: pytest.FixtureRequest, idp: Any, auth_gateway_factory: Any) -> Stack:
    """A gateway whose public URL has a prefix, as behind Nginx at /oscar-gateway."""
    oscar = request.getfixturevalue("local_oscar_factory")(oidc_issuers=[idp.issuer])
    from devstack.processes import free_port

    port = free_port()
    public = f"http://127.0.0.1:{port}/oscar-gateway"
    gateway = auth_gateway_factory(idp, port=port, oscar__url=oscar.url, public_url=public)
    return Stack(idp=idp, oscar=oscar, gateway=gateway)


def test_snippets_use_the_prefixed_public_url(prefixed_stack: Stack) -> None:
    stack = prefixed_stack
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept": "text/html"}
    base = f"{stack.gateway.url}/oscar-gateway"
    # Requests reach the process without the prefix, as Nginx forwards them (it strips it).
    page = httpx.get(f"{stack.gateway.url}/", headers=headers, timeout=20)
    assert page.status_code == 200, page.text
    text = unescape(page.text)
    assert f"{base}/api/v1/services/cowsay/run" in text
    assert f'href="{base}/ui/cowsay/"' in text
    ui = httpx.get(f"{stack.gateway.url}/ui/cowsay/config", headers=headers, timeout=30)
    assert ui.status_code == 200
    assert ui.json()["root"] == f"{base}/ui/cowsay"

"""The open redirect before login (issue 10, hole 3), attacked with Chromium.

``/ui/<name>`` without its trailing slash used to answer ``Location: <name>/``
whatever the name was, so ``/ui/https:evil.example`` sent the browser to
``https://evil.example/``.  Names that cannot be OSCAR service names are now
404 and the redirect is an absolute path under our own prefix: no variant of
the attack leaves the gateway's origin, logged in or not, while ``/ui/cowsay``
still redirects to ``/ui/cowsay/`` and works.
"""

from __future__ import annotations

from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser, BrowserContext, Request

from tests.fixtures.browser import ARTIFACTS
from tests.fixtures.gateway import Stack
from tests.test_embed_browser import _log_in

# What a browser or a script may send; Chromium turns "\" into "/" in http URLs itself.
ATTACKS = (
    "/ui/http:evil.example",
    "/ui/https:evil.example",
    "/ui//evil.example",
    "/ui///evil.example",
    "/ui/%2F%2Fevil.example",
    "/ui/%2F%2Fevil.example%2F",
    "/ui/https:%2F%2Fevil.example",
    "/ui/%5C%5Cevil.example",
    "/ui/\\\\evil.example",
    "/ui/\\/evil.example",
    "/ui/Cowsay",
)


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_odd_names_are_404_without_a_location(stack: Stack) -> None:
    # Raw bytes on the wire: httpx would normalise some of these paths.
    for path in ATTACKS:
        response = httpx.request(
            "GET", httpx.URL(stack.gateway.url, raw_path=path.encode()), follow_redirects=False
        )
        assert response.status_code == 404, (path, response.status_code, response.headers)
        assert "location" not in response.headers, path
        assert "service names are 1-39 lowercase" in response.json()["message"]
    slash = httpx.get(f"{stack.gateway.url}/ui/cowsay?__theme=dark", follow_redirects=False)
    assert slash.status_code == 307
    assert slash.headers["location"] == "/ui/cowsay/?__theme=dark"


def _visit_all(context: BrowserContext, gateway: str, logged_in: bool) -> None:
    requests: list[str] = []
    context.on("request", lambda r: requests.append(r.url))
    page = context.new_page()
    for path in ATTACKS:
        page.goto(gateway + path)
        assert origin(page.url) == origin(gateway), (path, page.url)
        assert "no such service" in page.content(), path
    page.screenshot(path=str(ARTIFACTS / f"redirect-refused-{logged_in}.png"))
    off_site = [url for url in requests if origin(url) != origin(gateway)]
    assert not off_site, off_site


@pytest.mark.browser
def test_chromium_never_leaves_the_gateway_and_cowsay_still_redirects(
    stack: Stack, chromium_browser: Browser
) -> None:
    gateway = stack.gateway.url
    context = chromium_browser.new_context()
    try:
        _visit_all(context, gateway, logged_in=False)
        page = context.new_page()
        _log_in(page, stack.gateway)
        _visit_all(context, gateway, logged_in=True)
        followed: list[Request] = []
        page.on("request", lambda r: followed.append(r))
        page.goto(f"{gateway}/ui/cowsay")
        assert page.url == f"{gateway}/ui/cowsay/"
        assert followed[0].url == f"{gateway}/ui/cowsay"
        page.locator("textarea").first.fill("still here")
        page.get_by_role("button", name="Moo").click()
        page.locator("text=(oo)").first.wait_for(timeout=60_000)
        assert all(origin(r.url) == origin(gateway) for r in followed)
    finally:
        context.close()

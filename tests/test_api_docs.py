"""``/api/v1/docs`` works offline: Swagger UI and its assets come from the gateway, not a CDN."""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.sync_api import Browser

from devstack.gateway import GatewayProcess
from tests.fixtures.browser import ARTIFACTS


def test_the_docs_page_names_only_our_own_assets(
    gateway_factory: Callable[..., GatewayProcess],
) -> None:
    gateway = gateway_factory()
    page = httpx.get(f"{gateway.url}/api/v1/docs", timeout=30)
    assert page.status_code == 200
    assert "cdn" not in page.text.lower() and "https://" not in page.text
    for asset, kind in (("swagger-ui-bundle.js", "javascript"), ("swagger-ui.css", "css")):
        fetched = httpx.get(f"{gateway.url}/api/v1/docs/assets/{asset}", timeout=30)
        assert fetched.status_code == 200 and kind in fetched.headers["content-type"]
        assert len(fetched.content) > 10_000


@pytest.mark.browser
def test_swagger_ui_renders_the_api_without_leaving_the_gateway(
    gateway_factory: Callable[..., GatewayProcess], chromium_browser: Browser
) -> None:
    gateway = gateway_factory()
    context = chromium_browser.new_context()
    requested: list[str] = []
    context.on("request", lambda request: requested.append(request.url))
    try:
        page = context.new_page()
        page.goto(f"{gateway.url}/api/v1/docs")
        page.wait_for_selector(".opblock-summary-path", timeout=60_000)
        paths = page.locator(".opblock-summary-path").all_inner_texts()
        assert any("/api/v1/services/{name}/run" in p.replace("\u200b", "") for p in paths)
        page.screenshot(path=str(ARTIFACTS / "api-docs.png"), full_page=False)
    finally:
        context.close()
    ours = urlsplit(gateway.url).netloc
    assert requested and all(urlsplit(url).netloc == ours for url in requested), requested

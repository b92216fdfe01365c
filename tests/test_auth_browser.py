"""Headless Chromium: protected page → provider login → back logged in → logout → login again."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from playwright.sync_api import Browser

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp
from tests.fixtures.browser import ARTIFACTS


@pytest.mark.browser
def test_browser_login_me_logout_and_login_again(
    idp: DevIdp, auth_gateway_factory: Callable[..., GatewayProcess], chromium_browser: Browser
) -> None:
    gateway = auth_gateway_factory(idp)
    context = chromium_browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{gateway.url}/auth/account")
        # Not logged in: the provider's login form.
        page.wait_for_selector("input[name=password]")
        assert page.url.startswith(idp.issuer)
        page.fill("input[name=login]", "alice")
        page.fill("input[name=password]", "wonderland")
        page.click("button[type=submit]")
        page.wait_for_selector("#who")
        assert page.url == f"{gateway.url}/auth/account"
        assert "Alice Demo" in page.inner_text("#who")
        page.screenshot(path=str(ARTIFACTS / "auth-account.png"))

        cookies = {c["name"]: c for c in page.context.cookies(gateway.url)}
        session = cookies["oscar_gateway_session"]
        assert session["httpOnly"] and session["sameSite"] == "Lax"

        me = page.goto(f"{gateway.url}/auth/me")
        assert me is not None and me.status == 200
        body = json.loads(page.inner_text("body"))
        assert body["sub"] == "alice" and body["email"] == "alice@example.org"

        page.goto(f"{gateway.url}/auth/account")
        page.click("text=Log out")
        # RP-initiated logout: the provider may ask to confirm, then sends us back.
        page.wait_for_load_state()
        if page.url.startswith(idp.issuer):
            confirm = page.locator("button, input[type=submit]").first
            confirm.click()
        page.wait_for_url(f"{gateway.url}/auth/logged-out")
        page.screenshot(path=str(ARTIFACTS / "auth-logged-out.png"))

        page.goto(f"{gateway.url}/auth/account")
        page.wait_for_selector("input[name=password]")
        assert page.url.startswith(idp.issuer)
    finally:
        context.close()

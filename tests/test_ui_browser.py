"""Headless Chromium through the whole stack: login, portal, cowsay, grayify, text-to-image, 403.

Screenshots go to ``artifacts/ui/``.
"""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.fixtures.browser import ARTIFACTS as BROWSER_ARTIFACTS
from tests.fixtures.gateway import Stack

pytestmark = pytest.mark.browser
ARTIFACTS = BROWSER_ARTIFACTS / "ui"
TIMEOUT = 60_000


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack for this module: its tests use the demo services, each in its own context."""
    return module_stack


@pytest.fixture
def browser(chromium_browser: Browser) -> Browser:
    return chromium_browser


def log_in(browser: Browser, stack: Stack, user: str, *, phone: bool = False) -> Page:
    """A fresh browser context logged in as ``user`` through the dev IdP's form."""
    size = {"width": 390, "height": 844} if phone else {"width": 1280, "height": 900}
    page = browser.new_context(viewport=size).new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{stack.gateway.url}/")
    page.fill('input[name="login"]', user)
    page.fill('input[name="password"]', stack.idp.users[user])
    page.click('button[type="submit"]')
    page.wait_for_url(re.compile(re.escape(stack.gateway.url) + r"/(\?.*)?$"))
    return page


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_portal_lists_the_services_after_login(browser: Browser, stack: Stack) -> None:
    page = log_in(browser, stack, "alice")
    for name in ("cowsay", "grayify", "classify", "text-to-image"):
        expect(page.locator(f'article[data-service="{name}"]')).to_be_visible()
    shot(page, "portal-laptop")
    phone = log_in(browser, stack, "alice", phone=True)
    card = phone.locator('article[data-service="cowsay"]')
    box = card.bounding_box()
    assert box is not None and box["width"] <= 390
    shot(phone, "portal-phone")


def test_cowsay_type_text_see_the_art(browser: Browser, stack: Stack) -> None:
    page = log_in(browser, stack, "alice")
    page.click('article[data-service="cowsay"] a:has-text("Open UI")')
    page.get_by_label("What should the cow say?").fill("Moo from the browser")
    page.get_by_role("button", name="Moo").click()
    expect(page.locator(".cm-content")).to_contain_text("Moo from the browser", timeout=TIMEOUT)
    expect(page.locator(".cm-content")).to_contain_text("(oo)")
    shot(page, "cowsay")


def test_grayify_shows_progress_stages_and_the_grayscale_image(
    browser: Browser, stack: Stack, tmp_path: Path
) -> None:
    photo = tmp_path / "red-square.png"
    Image.new("RGB", (64, 64), (220, 40, 40)).save(photo)
    page = log_in(browser, stack, "alice")
    page.goto(f"{stack.gateway.url}/ui/grayify/")
    page.locator('input[type="file"]').first.set_input_files(str(photo))
    page.get_by_role("button", name="Run").click()
    log = page.get_by_label("Job log")
    expect(log).to_have_value(re.compile(r"\[uploading\]"), timeout=TIMEOUT)
    shot(page, "grayify-progress")
    expect(log).to_have_value(re.compile(r"\[queued\][\s\S]*\[fetching\]"), timeout=TIMEOUT)
    result = page.locator('img[src*="gradio_api/file="]').last
    expect(result).to_be_visible(timeout=TIMEOUT)
    data = page.request.get(result.get_attribute("src") or "").body()
    assert Image.open(io.BytesIO(data)).mode == "L"
    shot(page, "grayify-result")


def test_text_to_image_shows_an_image(browser: Browser, stack: Stack) -> None:
    page = log_in(browser, stack, "alice")
    page.goto(f"{stack.gateway.url}/ui/text-to-image/")
    page.get_by_label("Prompt", exact=True).fill("a lighthouse at dusk")
    page.get_by_role("button", name="Generate").click()
    image = page.locator('img[src*="gradio_api/file="]').first
    expect(image).to_be_visible(timeout=TIMEOUT)
    shot(page, "text-to-image")


def test_other_users_private_service_is_hidden_and_forbidden(
    browser: Browser, stack: Stack
) -> None:
    owner = log_in(browser, stack, "bob")
    expect(owner.locator('article[data-service="multi-output"]')).to_be_visible()
    page = log_in(browser, stack, "alice")
    expect(page.locator("article").first).to_be_visible()
    assert page.locator('article[data-service="multi-output"]').count() == 0
    response = page.goto(f"{stack.gateway.url}/ui/multi-output/")
    assert response is not None and response.status == 403
    expect(page.locator("h1")).to_have_text("403")
    shot(page, "forbidden-403")

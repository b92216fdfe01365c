"""Headless Chromium: a page on an allowed origin embeds a working UI; other origins are refused."""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.sync_api import Browser, Page

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from devstack.processes import free_port
from tests.fixtures.browser import ARTIFACTS

EMBED_PAGE = """<!doctype html><meta charset=utf-8><title>embedding site</title>
<h1>A site that embeds cowsay</h1>
<iframe id=ui src="{gateway}/ui/cowsay/" width=900 height=700></iframe>
<script>
window.apiCall = () => fetch("{gateway}/api/v1/services", {{credentials: "include"}})
  .then(r => "status " + r.status, e => "refused: " + e.message);
</script>
"""


class _Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def site_factory(tmp_path: Path) -> Iterator[Callable[[str], str]]:
    """``make(html)``: serve one page from a fresh origin (its own port); returns its URL."""
    servers: list[http.server.ThreadingHTTPServer] = []

    def make(page: str) -> str:
        root = tmp_path / f"site-{len(servers)}"
        root.mkdir()
        (root / "index.html").write_text(page)
        server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), partial(_Quiet, directory=str(root))
        )
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_address[1]}/index.html"

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


def _log_in(page: Page, gateway: GatewayProcess) -> None:
    page.goto(f"{gateway.url}/auth/account")
    page.wait_for_selector("input[name=password]")
    page.fill("input[name=login]", "alice")
    page.fill("input[name=password]", "wonderland")
    page.click("button[type=submit]")
    page.wait_for_url(f"{gateway.url}/auth/account")


@pytest.mark.browser
def test_allowed_origin_embeds_a_working_ui_and_others_are_refused(
    idp: DevIdp,
    local_oscar_factory: Callable[..., object],
    auth_gateway_factory: Callable[..., GatewayProcess],
    site_factory: Callable[[str], str],
    chromium_browser: Browser,
    tmp_path: Path,
) -> None:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    # Two sites on their own ports: only the first is allowed to embed.
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    allowed = site_factory(EMBED_PAGE.format(gateway=gateway_url))
    refused = site_factory(EMBED_PAGE.format(gateway=gateway_url))
    allowed_origin = allowed.rsplit("/", 1)[0]
    gateway = auth_gateway_factory(
        idp,
        port=port,
        oscar__url=oscar.url,  # type: ignore[attr-defined]
        embed__allowed_origins=[allowed_origin],
        jobs__sqlite_path=str(tmp_path / "jobs.sqlite3"),
    )
    context = chromium_browser.new_context()
    try:
        page = context.new_page()
        _log_in(page, gateway)

        page.goto(allowed)
        frame = page.frame_locator("#ui")
        frame.locator("textarea").first.fill("hello from the embedding site")
        frame.get_by_role("button", name="Moo").click()
        frame.locator("text=hello from the embedding site").last.wait_for(timeout=60_000)
        frame.locator("text=(oo)").first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "embed-allowed.png"))
        assert page.evaluate("apiCall()") == "status 200"

        violations: list[str] = []
        page.on("console", lambda m: violations.append(m.text))
        page.goto(refused)
        page.wait_for_timeout(3000)
        page.screenshot(path=str(ARTIFACTS / "embed-refused.png"))
        child = next(f for f in page.frames if f != page.main_frame)
        # CSP frame-ancestors: Chromium does not render the gateway inside this site.
        assert not child.url.startswith(gateway_url) or child.locator("textarea").count() == 0
        assert any("frame-ancestors" in v for v in violations), violations
        # CORS: the credentialed API call from the other origin is refused by the browser.
        assert page.evaluate("apiCall()").startswith("refused")
    finally:
        context.close()


LINK_PAGE = """<!doctype html><meta charset=utf-8><title>site with a signed link</title>
<h1>Minted by the site's backend</h1>
<iframe id=ui width=900 height=700></iframe>
<script>
document.getElementById("ui").src = new URLSearchParams(location.search).get("link");
</script>
"""


@pytest.mark.browser
def test_signed_embed_link_gives_a_logged_out_visitor_a_working_ui(
    idp: DevIdp,
    local_oscar_factory: Callable[..., object],
    auth_gateway_factory: Callable[..., GatewayProcess],
    site_factory: Callable[[str], str],
    chromium_browser: Browser,
    tmp_path: Path,
) -> None:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    port = free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    site = site_factory(LINK_PAGE)
    gateway = auth_gateway_factory(
        idp,
        port=port,
        oscar__url=oscar.url,  # type: ignore[attr-defined]
        embed__allowed_origins=[site.rsplit("/", 1)[0]],
        jobs__sqlite_path=str(tmp_path / "jobs.sqlite3"),
    )
    # The site's backend: holds alice's token and mints a link for its visitor.
    token = fetch_tokens(idp, user="alice")["access_token"]
    minted = httpx.post(
        f"{gateway_url}/api/v1/services/cowsay/embed-links",
        headers={"Authorization": f"Bearer {token}"},
    )
    assert minted.status_code == 201, minted.text
    context = chromium_browser.new_context()
    try:
        page = context.new_page()  # never logged in
        page.goto(f"{site}?{urlencode({'link': minted.json()['url']})}")
        frame = page.frame_locator("#ui")
        frame.locator("textarea").first.fill("visitor via a signed link")
        frame.get_by_role("button", name="Moo").click()
        frame.locator("text=visitor via a signed link").last.wait_for(timeout=60_000)
        frame.locator("text=(oo)").first.wait_for(timeout=30_000)
        page.screenshot(path=str(ARTIFACTS / "embed-signed-link.png"))
        assert gateway.alive()
    finally:
        context.close()


POPUP_PAGE = """<!doctype html><meta charset=utf-8><title>site with a login popup</title>
<button id=login>Log in to use cowsay</button>
<iframe id=ui width=900 height=700></iframe>
<script>
const gateway = new URLSearchParams(location.search).get("gateway");
window.received = [];
document.getElementById("login").onclick = () => window.open(
  gateway + "/embed/popup?service=cowsay&origin=" + encodeURIComponent(location.origin),
  "login", "width=500,height=600");
window.addEventListener("message", (event) => {
  // Links from anywhere are recorded (Gradio's own messages from the iframe are not).
  const link = event.data && event.data.type === "oscar-gateway:embed-link";
  if (link) window.received.push(event.data);
  if (event.origin !== gateway || !link) return;
  document.getElementById("ui").src = event.data.url;
});
</script>
"""


@pytest.mark.browser
def test_login_popup_asks_before_it_hands_the_site_a_link(
    idp: DevIdp,
    local_oscar_factory: Callable[..., object],
    auth_gateway_factory: Callable[..., GatewayProcess],
    site_factory: Callable[[str], str],
    chromium_browser: Browser,
    tmp_path: Path,
) -> None:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    site = site_factory(POPUP_PAGE)
    site_origin = site.rsplit("/", 1)[0]
    gateway = auth_gateway_factory(
        idp,
        oscar__url=oscar.url,  # type: ignore[attr-defined]
        embed__allowed_origins=[site_origin],
        jobs__sqlite_path=str(tmp_path / "jobs.sqlite3"),
    )
    context = chromium_browser.new_context()
    try:
        page = context.new_page()
        page.goto(f"{site}?{urlencode({'gateway': gateway.url})}")
        with page.expect_popup() as opened:
            page.click("#login")
        popup = opened.value
        popup.wait_for_selector("input[name=password]")
        popup.fill("input[name=login]", "alice")
        popup.fill("input[name=password]", "wonderland")
        popup.click("button[type=submit]")
        # Logged in, the popup says who asks for what, and waits for her.
        popup.wait_for_selector("#allow")
        assert popup.locator("#origin").inner_text() == site_origin
        assert popup.locator("#service").inner_text() == "cowsay"
        popup.screenshot(path=str(ARTIFACTS / "embed-popup-consent.png"))
        popup.wait_for_timeout(1500)
        assert page.evaluate("window.received") == []
        assert not popup.is_closed()
        # Allow: the link arrives and the UI works in the site's iframe.
        with popup.expect_event("close", timeout=30_000):
            popup.click("#allow")
        page.wait_for_function("window.received.length === 1")
        frame = page.frame_locator("#ui")
        frame.locator("textarea").first.fill("after the popup")
        frame.get_by_role("button", name="Moo").click()
        frame.locator("text=after the popup").last.wait_for(timeout=60_000)
        page.screenshot(path=str(ARTIFACTS / "embed-popup.png"))
        # Deny (she is logged in now, so the question comes at once): nothing is posted.
        with page.expect_popup() as opened:
            page.click("#login")
        again = opened.value
        again.wait_for_selector("#deny")
        with again.expect_event("close", timeout=30_000):
            again.click("#deny")
        page.wait_for_timeout(1500)
        assert len(page.evaluate("window.received")) == 1
    finally:
        context.close()

"""The embed popup asks before it hands out a link (issue 10, hole 10), over real sockets.

Any allowed origin used to obtain, silently, an embed link for any service the
user could read: opening ``/embed/popup`` was enough.  Now the page only asks;
the link is minted by the Allow button's POST, which needs the session's CSRF
token and our origin.  (tests/test_embed_browser.py clicks it in Chromium.)
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import httpx

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp
from tests.fixtures.gateway import login

SITE = "https://site.example"


def test_the_popup_mints_a_link_only_on_the_allow_buttons_post(
    idp: DevIdp,
    local_oscar_factory: Callable[..., Any],
    auth_gateway_factory: Callable[..., GatewayProcess],
) -> None:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    gateway = auth_gateway_factory(idp, oscar__url=oscar.url, embed__allowed_origins=[SITE])
    popup = f"{gateway.url}/embed/popup"
    with login(gateway, idp) as http:
        asked = http.get(popup, params={"service": "cowsay", "origin": SITE})
        assert asked.status_code == 200
        assert "https://site.example</b> asks to use the service <b id=service>cowsay" in (
            asked.text
        )
        assert "/embed/cowsay?t=" not in asked.text and "postMessage" not in asked.text
        assert asked.headers["content-security-policy"] == "frame-ancestors 'none'"
        csrf = re.search(r"name=csrf_token value='([^']+)'", asked.text)
        assert csrf is not None
        form = {"service": "cowsay", "origin": SITE}
        # Without the token (a page that posts the form itself): refused.
        forged = http.post(popup, data=form, headers={"Origin": gateway.url})
        assert forged.status_code == 403 and "Allow button" in forged.json()["message"]
        # With the token but from the embedding site's page: refused by the origin rule.
        cross = http.post(
            popup, data={**form, "csrf_token": csrf.group(1)}, headers={"Origin": SITE + ".evil"}
        )
        assert cross.status_code == 403
        # Another origin or service than allowed/existing: no page at all.
        other = http.get(popup, params={"service": "cowsay", "origin": "https://evil.example"})
        assert other.status_code == 400
        odd = http.get(popup, params={"service": "../system", "origin": SITE})
        assert odd.status_code == 404
        allowed = http.post(
            popup, data={**form, "csrf_token": csrf.group(1)}, headers={"Origin": gateway.url}
        )
        assert allowed.status_code == 200, allowed.text
        link = re.search(r'"url": "([^"]+)"', allowed.text)
        assert link is not None and f'"{SITE}"' in allowed.text
    # The link works for a visitor who never logged in.
    with httpx.Client(timeout=30) as visitor:
        opened = visitor.get(link.group(1), follow_redirects=True)
        assert opened.status_code == 200 and opened.url.path == "/ui/cowsay/"

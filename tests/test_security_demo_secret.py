"""Demo mode without a session secret: one random secret per run for every key (issue 10 #9).

Embed links, embed cookies, sealed job credentials and webhook signatures all derive
their keys from the session secret.  A demo gateway started without one must not
derive them from the empty string, or anyone could unseal (and forge) its links.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from auth.embed import unseal
from core.errors import Forbidden
from core.settings import Settings, with_session_secret
from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from gateway.webhooks import webhook_key


@pytest.fixture
def two_demo_gateways(
    idp: DevIdp,
    local_oscar_factory: Callable[..., Any],
    auth_gateway_factory: Callable[..., GatewayProcess],
    tmp_path: Path,
) -> tuple[GatewayProcess, GatewayProcess]:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    return (
        # GATEWAY_SESSION__SECRET="" is what a demo run without a secret gets.
        auth_gateway_factory(idp, oscar__url=oscar.url, session__secret=""),
        auth_gateway_factory(idp, oscar__url=oscar.url, session__secret=""),
    )


def _mint(gateway: GatewayProcess, token: str) -> str:
    response = httpx.post(
        f"{gateway.url}/api/v1/services/cowsay/embed-links",
        headers={"Authorization": f"Bearer {token}"},
        timeout=30,
    )
    assert response.status_code == 201, response.text
    return str(response.json()["url"])


def test_demo_gateways_without_a_secret_cannot_open_each_others_links(
    two_demo_gateways: tuple[GatewayProcess, GatewayProcess], idp: DevIdp
) -> None:
    first, second = two_demo_gateways
    token = fetch_tokens(idp, user="alice")["access_token"]
    link = _mint(first, token)
    query = link.split("?", 1)[1]
    # The legitimate use: the gateway that minted the link opens it.
    assert httpx.get(f"{first.url}/embed/cowsay?{query}").status_code == 303
    # Another demo run (its own random secret) refuses it with a clear message.
    refused = httpx.get(f"{second.url}/embed/cowsay?{query}")
    assert refused.status_code == 403
    assert "not valid" in refused.json()["message"]
    # Nobody can unseal it with keys derived from the empty secret.
    empty = Settings(demo=True)
    assert empty.session.secret.get_secret_value() == ""
    with pytest.raises(Forbidden):
        unseal(empty, query.removeprefix("t="), kind="link", service="cowsay")
    assert "GATEWAY_SESSION__SECRET is empty (demo mode): using a random one" in first.output()


def test_every_key_of_a_demo_app_comes_from_its_one_random_secret() -> None:
    # What create_app does first: every collaborator is then built from these settings.
    one = with_session_secret(Settings(demo=True))
    other = with_session_secret(Settings(demo=True))
    secret = one.session.secret.get_secret_value()
    assert len(secret) >= 32
    assert secret != other.session.secret.get_secret_value()
    # The webhook key (and the job and embed keys, derived alike) are not the empty secret's.
    assert webhook_key(one) != webhook_key(Settings(demo=True))
    assert webhook_key(one) != webhook_key(other)
    # A configured secret is kept as it is.
    given = Settings(demo=True, session={"secret": "g" * 40})
    assert with_session_secret(given).session.secret.get_secret_value() == "g" * 40

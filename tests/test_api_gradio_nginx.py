"""Gradio's API through a real Nginx under a prefix, with a bearer: curl and gradio_client."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator

import pytest
from gradio_client import Client

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from devstack.nginx import Nginx
from devstack.processes import free_port


@pytest.fixture(scope="module")
def behind_nginx(
    idp: DevIdp,
    module_oscar_factory: Callable[..., object],
    module_gateway_factory: Callable[..., GatewayProcess],
) -> Iterator[str]:
    """The public URL (Nginx, prefix /oscar-gateway) of a gateway in front of a local OSCAR.

    One for the module: its tests only call the demo services, with their own tokens.
    """
    oscar = module_oscar_factory(oidc_issuers=[idp.issuer])
    port = free_port()
    nginx = Nginx([port], prefix="/oscar-gateway")
    module_gateway_factory(
        **idp.gateway_settings(),
        port=port,
        public_url=nginx.url,
        oscar__url=oscar.url,  # type: ignore[attr-defined]
    )
    with nginx:
        yield nginx.url


def _curl(*args: str) -> str:
    result = subprocess.run(
        ["curl", "--silent", "--show-error", "--fail-with-body", "--max-time", "60", *args],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_two_step_call_with_curl_and_a_bearer(behind_nginx: str, idp: DevIdp) -> None:
    bearer = f"Authorization: Bearer {fetch_tokens(idp, user='alice')['access_token']}"
    call = f"{behind_nginx}/ui/cowsay/gradio_api/call/cowsay"
    posted = _curl("-X", "POST", "-H", bearer, "-H", "Content-Type: application/json",
                   "--data", json.dumps({"data": ["hello from curl"]}), call)  # fmt: skip
    event_id = json.loads(posted)["event_id"]
    stream = _curl("--no-buffer", "-H", bearer, f"{call}/{event_id}")
    assert "event: complete" in stream
    assert "hello from curl" in stream


def test_two_step_call_without_the_bearer_is_refused(behind_nginx: str) -> None:
    argv = ["curl", "--silent", "--output", "/dev/null", "--write-out", "%{http_code}",
            "-X", "POST", "-H", "Content-Type: application/json", "--data", '{"data":["x"]}',
            f"{behind_nginx}/ui/cowsay/gradio_api/call/cowsay"]  # fmt: skip
    result = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.stdout == "401"


def test_gradio_client_with_a_bearer_header(behind_nginx: str, idp: DevIdp) -> None:
    token = fetch_tokens(idp, user="alice")["access_token"]
    client = Client(
        f"{behind_nginx}/ui/cowsay/",
        headers={"Authorization": f"Bearer {token}"},
        verbose=False,
        download_files=False,
        # The first request builds the app (gradio's import alone takes seconds).
        httpx_kwargs={"timeout": 60},
    )
    result = client.predict("hello from gradio_client", api_name="/cowsay")
    assert "hello from gradio_client" in json.dumps(result)


def test_rest_api_and_docs_work_under_the_prefix(behind_nginx: str, idp: DevIdp) -> None:
    bearer = f"Authorization: Bearer {fetch_tokens(idp, user='alice')['access_token']}"
    services = json.loads(_curl("-H", bearer, f"{behind_nginx}/api/v1/services"))
    cowsay = next(s for s in services if s["name"] == "cowsay")
    assert cowsay["run_url"] == f"{behind_nginx}/api/v1/services/cowsay/run"
    ran = _curl("-H", bearer, "-H", "Content-Type: text/plain", "--data", "prefixed",
                cowsay["run_url"])  # fmt: skip
    assert "prefixed" in ran
    schema = json.loads(_curl(f"{behind_nginx}/api/v1/openapi.json"))
    assert schema["servers"] == [{"url": "/oscar-gateway"}]
    docs = _curl(f"{behind_nginx}/api/v1/docs")
    assert "/oscar-gateway/api/v1/openapi.json" in docs

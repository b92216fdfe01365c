"""``gradio_auth_dependency`` on a real Gradio app mounted in the gateway app, over a socket."""

from __future__ import annotations

import sys
from collections.abc import Iterator

import httpx
import pytest
from gradio_client import Client

from devstack.gateway import settings_env
from devstack.idp import DevIdp, fetch_tokens
from devstack.processes import ManagedProcess, free_port

# A gateway app with one Gradio app mounted behind ``gradio_auth_dependency``, as its own process.
SERVER = """
import sys
import gradio as gr
import uvicorn
from auth.dependencies import gradio_auth_dependency
from gateway.app import create_app
from gateway.settings import Settings

def whoami(text: str, request: gr.Request) -> str:
    return f"{request.username}:{text}"

app = create_app(Settings())
with gr.Blocks() as blocks:
    box, out = gr.Textbox(), gr.Textbox()
    gr.Button().click(whoami, box, out, api_name="whoami")
app = gr.mount_gradio_app(app, blocks, path="/ui-test", auth_dependency=gradio_auth_dependency)
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]))
"""


@pytest.fixture(scope="module")
def gradio_gateway(idp: DevIdp, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """One such process for the module (gradio's import alone takes seconds of CPU)."""
    port = free_port()
    env = settings_env(
        {
            **idp.gateway_settings(),
            "demo": True,
            "public_url": f"http://127.0.0.1:{port}",
            # not the repo's var/
            "jobs__sqlite_path": str(tmp_path_factory.mktemp("gateway") / "jobs.sqlite3"),
        }
    )
    env["GRADIO_ANALYTICS_ENABLED"] = "False"
    process = ManagedProcess(
        name="gradio-gateway",
        argv=[sys.executable, "-c", SERVER, str(port)],
        ready=r"Uvicorn running on",
        env=env,
    ).start()
    yield f"http://127.0.0.1:{port}"
    process.stop()


def test_gradio_mount_refuses_anonymous_callers(gradio_gateway: str) -> None:
    response = httpx.get(f"{gradio_gateway}/ui-test/config")
    assert response.status_code == 401


def test_gradio_mount_refuses_a_bad_bearer(gradio_gateway: str) -> None:
    headers = {"authorization": "Bearer not.a.token"}
    assert httpx.get(f"{gradio_gateway}/ui-test/config", headers=headers).status_code == 401


def test_gradio_request_username_is_the_bearer_user(gradio_gateway: str, idp: DevIdp) -> None:
    token = fetch_tokens(idp, user="bob")["access_token"]
    client = Client(
        f"{gradio_gateway}/ui-test/", headers={"authorization": f"Bearer {token}"}, verbose=False
    )
    assert client.predict("hi", api_name="/whoami") == "bob:hi"

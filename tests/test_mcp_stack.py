"""``/mcp`` through Nginx under the prefix, driven by the MCP SDK's own client over sockets.

Two gateway replicas behind Debian's nginx, the local OSCAR with the demo
services, the dev OIDC provider: alice's agent lists her tools (not bob's
private service), runs a sync text tool, a sync image tool, an async tool
with progress notifications, and a DEEPaaS model; no bearer and an expired
one are refused with the RFC 9728 challenge.
"""

from __future__ import annotations

import base64
import io
import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import Any

import anyio
import httpx
import httpx2
from mcp.client.session import ClientSession
from mcp.client.streamable_http import streamable_http_client
from PIL import Image

from tests.fixtures.deploy import PREFIX, ProxiedStack, bearer, login_via_nginx


def png(color: tuple[int, int, int] = (200, 30, 30)) -> str:
    buffer = io.BytesIO()
    Image.new("RGB", (32, 24), color).save(buffer, format="PNG")
    return base64.b64encode(buffer.getvalue()).decode()


async def agent_session(
    url: str, headers: dict[str, str], work: Callable[[ClientSession], Any]
) -> Any:
    http = httpx2.AsyncClient(headers=headers, timeout=120)
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(http)
        read, write = await stack.enter_async_context(
            streamable_http_client(f"{url}/mcp", http_client=http)
        )
        session = await stack.enter_async_context(ClientSession(read, write))
        await session.initialize()
        return await work(session)


def run_agent(
    stack: ProxiedStack, work: Callable[[ClientSession], Any], user: str = "alice"
) -> Any:
    return anyio.run(agent_session, stack.url, bearer(stack, user=user), work)


def test_alice_uses_her_services_as_mcp_tools_through_nginx(
    proxied_stack_factory: Callable[..., ProxiedStack],
) -> None:
    stack = proxied_stack_factory()

    async def tools(session: ClientSession) -> dict[str, Any]:
        listed = await session.list_tools()
        return {tool.name: tool for tool in listed.tools}

    alice = run_agent(stack, tools)
    assert {"cowsay", "grayify", "text-to-image", "deepaas-demo"} <= set(alice)
    assert "multi-output" not in alice  # bob's private service
    assert "multi-output" in run_agent(stack, tools, user="bob")
    assert alice["cowsay"].input_schema["required"] == ["text"]
    assert alice["grayify"].input_schema["properties"]["data"]["contentEncoding"] == "base64"
    deepaas = alice["deepaas-demo"]
    assert deepaas.description.startswith("Colour classifier (DEEPaaS stand-in).")
    props = deepaas.input_schema["properties"]
    assert props["top_k"] == {
        "type": "integer",
        "default": 3,
        "description": "How many labels to return, 1 to 5",
    }
    assert props["model"]["enum"] == ["mean-colour", "dominant-colour"]
    assert "data" in props["image"]["properties"]
    assert deepaas.input_schema["required"] == ["image"]

    progress: list[tuple[float, float | None, str | None]] = []

    async def calls(session: ClientSession) -> dict[str, Any]:
        async def on_progress(done: float, total: float | None, message: str | None) -> None:
            progress.append((done, total, message))

        return {
            "text": await session.call_tool("cowsay", {"text": "moo over mcp"}),
            "image": await session.call_tool("text-to-image", {"text": "a red fox"}),
            "job": await session.call_tool(
                "grayify",
                {"data": png(), "media_type": "image/png", "filename": "cat.png"},
                progress_callback=on_progress,
            ),
            "model": await session.call_tool(
                "deepaas-demo", {"image": {"data": png()}, "top_k": 2}
            ),
            "wrong": await session.call_tool(
                "deepaas-demo", {"image": {"data": png()}, "top_k": 9}
            ),
            "missing": await session.call_tool("cowsay", {}),
            "private": await session.call_tool("multi-output", {"text": "x"}),
        }

    got = run_agent(stack, calls)
    text = got["text"]
    assert not text.is_error and "< moo over mcp >" in text.content[0].text
    image = got["image"].content[0]
    assert image.type == "image" and image.mime_type == "image/png"
    assert Image.open(io.BytesIO(base64.b64decode(image.data))).size == (256, 256)
    job = got["job"]
    assert not job.is_error, job.content
    gray = Image.open(io.BytesIO(base64.b64decode(job.content[0].data)))
    assert gray.mode == "L" and gray.size == (32, 24)
    stages = [message for _, _, message in progress]
    assert [done for done, _, _ in progress] == sorted(done for done, _, _ in progress)
    assert progress[0][0] == 1 and progress[-1][:2] == (5, 5)
    assert any("Waiting for OSCAR" in (m or "") for m in stages), stages
    model = got["model"]
    assert not model.is_error, model.content
    assert model.structured_content["predictions"][0]["label"] == "red"
    assert len(model.structured_content["predictions"]) == 2
    wrong = got["wrong"]
    assert wrong.is_error
    assert wrong.content[0].text == (
        "deepaas-cli predict: error: argument --top_k: must be between 1 and 5, not 9"
    )
    assert got["missing"].is_error and got["missing"].content[0].text == (
        "Give the text to send as 'text'."
    )
    assert got["private"].is_error


def test_mcp_wants_a_bearer_and_names_the_resource_metadata(
    proxied_stack_factory: Callable[..., ProxiedStack],
) -> None:
    stack = proxied_stack_factory(replicas=1)
    body = {"jsonrpc": "2.0", "id": 1, "method": "tools/list"}
    accept = {"Accept": "application/json, text/event-stream"}
    metadata_url = f"{stack.url}/.well-known/oauth-protected-resource"
    anonymous = httpx.post(f"{stack.url}/mcp", json=body, headers=accept)
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"] == f'Bearer resource_metadata="{metadata_url}"'
    expired = stack.idp.sign(
        {"sub": "alice", "iat": int(time.time()) - 900, "exp": int(time.time()) - 300}
    )
    refused = httpx.post(
        f"{stack.url}/mcp", json=body, headers={**accept, "Authorization": f"Bearer {expired}"}
    )
    assert refused.status_code == 401
    challenge = refused.headers["www-authenticate"]
    assert challenge.startswith(f'Bearer resource_metadata="{metadata_url}", error="invalid_token"')
    assert "The token has expired." in refused.json()["message"]
    # A real session cookie is not a credential here.
    session = login_via_nginx(stack)
    portal = session.get(f"{stack.url}/").text
    assert f"<code>{stack.url}/mcp</code>" in portal  # the portal shows the address...
    assert "&#34;mcpServers&#34;" in portal  # ...and a client configuration
    assert session.post(f"{stack.url}/mcp", json=body, headers=accept).status_code == 401
    metadata = httpx.get(metadata_url).json()
    assert metadata["resource"] == f"{stack.url}/mcp"
    assert metadata["authorization_servers"] == [stack.idp.issuer]
    # The path MCP clients derive from the resource URL, at the host's root (RFC 9728 3.1).
    root = stack.url.removesuffix(PREFIX)
    derived = httpx.get(f"{root}/.well-known/oauth-protected-resource{PREFIX}/mcp")
    assert derived.status_code == 200 and derived.json() == metadata

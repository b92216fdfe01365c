"""The file-read hole of mounted Gradio apps, attacked over real sockets.

A user creates her own OSCAR service whose script echoes its input file and
names a file of the gateway host as the input: through Gradio's two-step
``/gradio_api/call`` and through ``gradio_client``.  Both are refused and
nothing of the file comes back, while the same call with a file she really
uploaded works.  One app's (or user's) result and upload files cannot be
fetched through another app's ``file=`` route, nor by another user.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from gradio_client import Client, handle_file

from devstack.gateway import GatewayProcess
from devstack.idp import DevIdp, fetch_tokens
from tests.fixtures.gateway import Stack, login
from tests.test_ui_mounts import call, create_service

ECHO = '#!/bin/sh\ncat "$INPUT_FILE_PATH"\n'
SECRETS = ("GATEWAY_SESSION__SECRET", "root:x:0:0")
TARGETS = ("/proc/self/environ", "/etc/passwd")


def file_object(path: str) -> dict[str, Any]:
    return {"path": path, "meta": {"_type": "gradio.FileData"}, "orig_name": "x.txt"}


@pytest.fixture(scope="module")
def stack(module_stack: Stack) -> Stack:
    """One stack for this module: each test attacks an echo service of its own."""
    return module_stack


def make_echo(stack: Stack, token: str, name: str, **extra: Any) -> str:
    create_service(
        stack,
        token,
        {
            "name": name,
            "script": ECHO,
            "annotations": {"oscar-gateway/input": "file", "oscar-gateway/output": "text"},
            **extra,
        },
    )
    return f"{stack.gateway.url}/ui/{name}"


def leaked(answer: Any) -> bool:
    text = json.dumps(answer) if not isinstance(answer, str) else answer
    return any(secret in text for secret in SECRETS)


def test_a_host_file_named_as_input_is_refused_and_an_upload_works(stack: Stack) -> None:
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    ui = make_echo(stack, token, "echo-file")
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as http:
        for target in TARGETS:
            posted = http.post(
                f"{ui}/gradio_api/call/predict", json={"data": [file_object(target)]}
            )
            assert posted.status_code == 403, posted.text
            assert "did not upload" in posted.json()["message"]
            assert not leaked(posted.text)
            # The same through the queue the page uses.
            joined = http.post(
                f"{ui}/gradio_api/queue/join",
                json={"data": [file_object(target)], "fn_index": 0, "session_hash": "abc"},
            )
            assert joined.status_code == 403 and not leaked(joined.text)
        # Traversal out of an uploaded file's folder is refused too.
        upload = http.post(
            f"{ui}/gradio_api/upload", files={"files": ("note.txt", b"my own words", "text/plain")}
        )
        assert upload.status_code == 200, upload.text
        mine = upload.json()[0]
        sneaky = mine.rsplit("/", 1)[0] + "/../../../../etc/passwd"
        refused = http.post(f"{ui}/gradio_api/call/predict", json={"data": [file_object(sneaky)]})
        assert refused.status_code == 403 and not leaked(refused.text)
        # The legitimate use: the file she uploaded comes back.
        event, data = call(http, ui, "predict", [file_object(mine)])
        assert event == "complete", data
        assert "my own words" in json.dumps(data)


def test_gradio_client_cannot_name_host_files_but_can_upload(stack: Stack, tmp_path: Path) -> None:
    token = fetch_tokens(stack.idp, user="alice")["access_token"]
    ui = make_echo(stack, token, "echo-file-client")
    # The first request builds the UI: allow for a busy machine.
    client = Client(
        f"{ui}/",
        headers={"Authorization": f"Bearer {token}"},
        verbose=False,
        httpx_kwargs={"timeout": 120},
    )
    # gradio_client uploads a local path itself (the client's own file, not the host's):
    # an attacker sends the file object as it is, with the client's own request function.
    endpoints = list(client.endpoints.values())
    endpoint = next(e for e in endpoints if e.api_name == "/predict")
    send_as_is = endpoint.make_predict(None)
    for target in TARGETS:
        with pytest.raises(Exception) as refused:
            send_as_is(file_object(target))
        assert not leaked(str(refused.value))
    # A URL is not uploaded by the client either: the gateway does not fetch it.
    with pytest.raises(Exception) as fetched:
        client.predict(handle_file(f"{stack.oscar.url}/system/config"), api_name="/predict")
    assert "secret_key" not in str(fetched.value)
    local = tmp_path / "hello.txt"
    local.write_text("uploaded by the client")
    result = client.predict(handle_file(str(local)), api_name="/predict")
    assert "uploaded by the client" in json.dumps(result)
    assert not leaked(result)


def test_another_users_upload_cannot_be_named_as_input(stack: Stack) -> None:
    alice_token = fetch_tokens(stack.idp, user="alice")["access_token"]
    ui = make_echo(
        stack, alice_token, "echo-file-shared", visibility="restricted", allowed_users=["bob"]
    )
    bob_token = fetch_tokens(stack.idp, user="bob")["access_token"]
    alice = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {alice_token}"})
    bob = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {bob_token}"})
    with alice, bob:
        upload = alice.post(
            f"{ui}/gradio_api/upload", files={"files": ("diary.txt", b"alice only", "text/plain")}
        )
        path = upload.json()[0]
        stolen = bob.post(f"{ui}/gradio_api/call/predict", json={"data": [file_object(path)]})
        assert stolen.status_code == 403, stolen.text
        assert "alice only" not in stolen.text
        assert bob.get(f"{ui}/gradio_api/file={path}").status_code == 404
        assert alice.get(f"{ui}/gradio_api/file={path}").content == b"alice only"
        # Once she ran the service on it, Gradio files it under the app, not under her:
        # it is still hers alone.
        event, data = call(alice, ui, "predict", [file_object(path)])
        assert event == "complete" and "alice only" in json.dumps(data)
        assert bob.get(f"{ui}/gradio_api/file={path}").status_code == 404
        assert httpx.get(f"{ui}/gradio_api/file={path}", timeout=30).status_code in (303, 401)
        assert alice.get(f"{ui}/gradio_api/file={path}").content == b"alice only"


COPY = '#!/bin/sh\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/result.txt"\n'


def test_a_users_result_file_is_served_to_that_user_only(stack: Stack) -> None:
    alice_token = fetch_tokens(stack.idp, user="alice")["access_token"]
    create_service(
        stack,
        alice_token,
        {
            "name": "copy-file",
            "script": COPY,
            "visibility": "restricted",
            "allowed_users": ["bob"],
            "annotations": {"oscar-gateway/input": "text", "oscar-gateway/output": "file"},
        },
    )
    ui = f"{stack.gateway.url}/ui/copy-file"
    bob_token = fetch_tokens(stack.idp, user="bob")["access_token"]
    alice = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {alice_token}"})
    bob = httpx.Client(timeout=30, headers={"Authorization": f"Bearer {bob_token}"})
    with alice, bob:
        event, data = call(alice, ui, "predict", ["alice's result"])
        assert event == "complete", data
        path = _result_path(data)
        assert alice.get(f"{ui}/gradio_api/file={path}").content == b"alice's result"
        assert bob.get(f"{ui}/gradio_api/file={path}").status_code == 404
        # Bob's own run of the same service gives him his own result, and only that.
        event, data = call(bob, ui, "predict", ["bob's result"])
        assert event == "complete", data
        mine = _result_path(data)
        assert bob.get(f"{ui}/gradio_api/file={mine}").content == b"bob's result"
        assert bob.get(f"{ui}/gradio_api/file={path}").status_code == 404


def _result_path(data: list[Any]) -> str:
    """The path of the one result file among a generated UI's output updates."""
    for update in data:
        value = update.get("value") if isinstance(update, dict) else None
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, dict) and isinstance(item.get("path"), str):
                return str(item["path"])
    raise AssertionError(f"no result file in {data}")


@pytest.fixture
def public_cowsay(
    idp: DevIdp,
    local_oscar_factory: Callable[..., Any],
    auth_gateway_factory: Callable[..., GatewayProcess],
) -> Stack:
    oscar = local_oscar_factory(oidc_issuers=[idp.issuer])
    cowsay = httpx.get(f"{oscar.url}/system/services/cowsay", auth=oscar.admin_auth).json()
    gateway = auth_gateway_factory(
        idp,
        oscar__url=oscar.url,
        embed__public_services=["cowsay"],
        embed__public_tokens={"cowsay": cowsay["token"]},
        # Small, for the upload budget below (file fetches are not counted).
        embed__public_per_ip_per_minute=2,
    )
    return Stack(idp=idp, oscar=oscar, gateway=gateway)


def test_result_files_are_served_only_by_the_app_that_made_them(public_cowsay: Stack) -> None:
    stack = public_cowsay
    token = fetch_tokens(stack.idp, user="bob")["access_token"]
    with httpx.Client(timeout=30, headers={"Authorization": f"Bearer {token}"}) as bob:
        event, data = call(bob, f"{stack.gateway.url}/ui/multi-output", "predict", ["secret"])
        assert event == "complete", data
        files = data[6]["value"]  # [log, text, json, image, audio, video, file, zip]
        swatch = next(f for f in files if f["path"].endswith("swatch.png"))
        own = bob.get(f"{stack.gateway.url}/ui/multi-output/gradio_api/file={swatch['path']}")
        assert own.status_code == 200 and own.content.startswith(b"\x89PNG")
        elsewhere = bob.get(f"{stack.gateway.url}/ui/cowsay/gradio_api/file={swatch['path']}")
        assert elsewhere.status_code == 404
    with login(stack.gateway, stack.idp, user="alice") as alice:
        through_cowsay = alice.get(
            f"{stack.gateway.url}/ui/cowsay/gradio_api/file={swatch['path']}"
        )
        assert through_cowsay.status_code == 404
        assert "no such file" in through_cowsay.json()["message"]
        # A URL is never fetched on a client's behalf.
        proxied = alice.get(
            f"{stack.gateway.url}/ui/cowsay/gradio_api/file=https://example.org/x.png"
        )
        assert proxied.status_code == 404
        # The legitimate use of cowsay still works for her.
        event, data = call(alice, f"{stack.gateway.url}/ui/cowsay", "cowsay", ["moo"])
        assert event == "complete" and "moo" in data[0]
    anonymous = httpx.get(
        f"{stack.gateway.url}/ui/cowsay/gradio_api/file={swatch['path']}", timeout=30
    )
    assert anonymous.status_code == 404
    host = httpx.get(f"{stack.gateway.url}/ui/cowsay/gradio_api/file=/etc/passwd", timeout=30)
    assert host.status_code == 404 and "root:" not in host.text


def test_anonymous_uploads_share_the_per_ip_budget(public_cowsay: Stack) -> None:
    upload = f"{public_cowsay.gateway.url}/ui/cowsay/gradio_api/upload"
    answers = [
        httpx.post(upload, files={"files": ("n.txt", b"x", "text/plain")}, timeout=60)
        for _ in range(3)
    ]
    assert [a.status_code for a in answers[:2]] == [200, 200]
    assert answers[2].status_code == 429 and "uploads" in answers[2].json()["message"]
    assert int(answers[2].headers["Retry-After"]) >= 1


def test_old_uploads_and_results_leave_gradios_cache(tmp_path: Path, monkeypatch: Any) -> None:
    import os
    import time

    from uis.files import prune_gradio_cache

    monkeypatch.setenv("GRADIO_TEMP_DIR", str(tmp_path))
    old, new = tmp_path / "a" / "old.png", tmp_path / "b" / "new.png"
    for path in (old, new):
        path.parent.mkdir()
        path.write_bytes(b"x")
    week_ago = time.time() - 7 * 86400
    os.utime(old, (week_ago, week_ago))
    assert prune_gradio_cache(3600) == 1
    assert not old.exists() and new.exists()


def test_handlers_read_only_files_in_gradios_cache() -> None:
    from core.errors import InvalidInput
    from uis.handlers import file_bytes

    for target in (*TARGETS, "relative/../../etc/passwd"):
        with pytest.raises(InvalidInput):
            file_bytes("file", {"path": target})

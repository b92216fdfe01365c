"""OscarClient and invoke_sync against a real oscar-local: CRUD, sync invocation, errors."""

from __future__ import annotations

import base64
import io
import json
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from PIL import Image

from core.errors import (
    BadRequest,
    Forbidden,
    NotFound,
    PayloadTooLarge,
    Unauthorized,
    Unavailable,
    UpstreamError,
    UpstreamTimeout,
)
from core.settings import OscarSettings
from devstack.jwt_issuer import JwtIssuer
from devstack.oscar import LocalOscar
from oscar.client import OscarClient
from oscar.invoke import invoke_sync


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=httpx.Timeout(60.0, connect=5.0)) as client:
        yield client


@pytest.fixture
def oscar(http: httpx.AsyncClient, local_oscar: LocalOscar) -> OscarClient:
    return OscarClient(http, OscarSettings(url=local_oscar.url))


@pytest.fixture
def admin(local_oscar: LocalOscar) -> str:
    user, password = local_oscar.admin_auth
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


def bearer(issuer: JwtIssuer, sub: str) -> str:
    return f"Bearer {issuer.sign({'sub': sub})}"


def _png(color: tuple[int, int, int] = (200, 30, 30)) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (16, 16), color).save(buffer, format="PNG")
    return buffer.getvalue()


def _definition(name: str, script: str, **extra: object) -> dict[str, object]:
    return {"name": name, "image": "alpine", "script": script, **extra}


def _name(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.anyio
async def test_health_info_and_config(oscar: OscarClient, admin: str) -> None:
    await oscar.health()
    info = await oscar.system_info(auth=admin)
    assert info.version
    config = await oscar.system_config(auth=admin)
    assert config.minio_provider.endpoint.startswith("http://127.0.0.1:")
    assert config.minio_provider.access_key


@pytest.mark.anyio
async def test_create_list_get_update_delete(oscar: OscarClient, admin: str) -> None:
    name = _name("crud")
    created = await oscar.create_service(
        _definition(name, "#!/bin/sh\necho one\n", input=[{"path": "in"}], output=[]), auth=admin
    )
    assert len(created.token) == 64
    assert created.input[0].path == f"{name}/in"
    assert name in {s.name for s in await oscar.list_services(auth=admin)}

    changed = {**created.raw, "script": "#!/bin/sh\necho two\n"}
    changed["environment"] = {"variables": {"GREETING": "hi"}}
    await oscar.update_service(changed, auth=admin)
    got = await oscar.get_service(name, auth=admin)
    assert got.script == "#!/bin/sh\necho two\n"
    assert got.environment.variables == {"GREETING": "hi"}
    assert got.token == created.token

    await oscar.delete_service(name, auth=admin)
    with pytest.raises(NotFound):
        await oscar.get_service(name, auth=admin)


@pytest.mark.anyio
async def test_users_see_public_and_own_services_only(
    oscar: OscarClient, jwt_issuer: JwtIssuer
) -> None:
    alice = await oscar.list_services(auth=bearer(jwt_issuer, "alice"))
    bob = await oscar.list_services(auth=bearer(jwt_issuer, "bob"))
    private_to_bob = {s.name for s in bob if s.owner == "bob" and s.visibility == "private"}
    assert private_to_bob
    assert not private_to_bob & {s.name for s in alice}
    with pytest.raises(Forbidden):
        await oscar.get_service(sorted(private_to_bob)[0], auth=bearer(jwt_issuer, "alice"))


# --- sync invocation of the demo services -------------------------------------------------


@pytest.mark.anyio
async def test_cowsay_text_and_json_inputs(oscar: OscarClient, jwt_issuer: JwtIssuer) -> None:
    auth = bearer(jwt_issuer, "alice")
    text = await invoke_sync(oscar, "cowsay", "Moo from text", auth)
    assert text.kind == "text"
    assert "Moo from text" in text.text
    as_json = await invoke_sync(oscar, "cowsay", {"message": "Moo from JSON"}, auth)
    assert as_json.kind == "text"
    assert "Moo from JSON" in as_json.text


@pytest.mark.anyio
async def test_text_to_image_returns_a_deterministic_png(
    oscar: OscarClient, jwt_issuer: JwtIssuer
) -> None:
    auth = bearer(jwt_issuer, "alice")
    request = {"prompt": "a red fox", "negative_prompt": "", "steps": 4, "seed": 7}
    first = await invoke_sync(oscar, "text-to-image", request, auth)
    second = await invoke_sync(oscar, "text-to-image", request, auth)
    assert first.kind == "file"
    [image] = first.files
    assert image.content_type == "image/png"
    assert Image.open(io.BytesIO(image.data)).format == "PNG"
    assert second.files[0].data == image.data


@pytest.mark.anyio
async def test_classify_prints_json_that_comes_back_as_text(
    oscar: OscarClient, jwt_issuer: JwtIssuer
) -> None:
    # classify prints its JSON on stdout: no output file, so OSCAR returns the text itself.
    output = await invoke_sync(oscar, "classify", _png(), bearer(jwt_issuer, "alice"))
    assert output.kind == "text"
    body = json.loads(output.text)
    assert body["label"] == "red"
    assert set(body["scores"]) >= {"red", "green", "blue"}


@pytest.mark.anyio
async def test_multi_output_returns_the_zip_members(
    oscar: OscarClient, jwt_issuer: JwtIssuer
) -> None:
    # multi-output is private to bob.
    auth = bearer(jwt_issuer, "bob")
    output = await invoke_sync(oscar, "multi-output", "three files please", auth)
    assert output.kind == "zip"
    files = {f.name: f for f in output.files}
    assert set(files) == {"upper.txt", "stats.json", "swatch.png"}
    assert files["upper.txt"].text == "THREE FILES PLEASE"
    assert files["stats.json"].content_type == "application/json"
    assert files["stats.json"].json()["words"] == 3
    assert files["swatch.png"].content_type == "image/png"
    assert output.archive is not None
    with pytest.raises(Forbidden):
        await invoke_sync(oscar, "multi-output", "x", bearer(jwt_issuer, "alice"))


@pytest.mark.anyio
async def test_grayify_also_answers_run_with_a_png(
    oscar: OscarClient, jwt_issuer: JwtIssuer
) -> None:
    output = await invoke_sync(oscar, "grayify", _png(), bearer(jwt_issuer, "alice"))
    assert output.kind == "file"
    assert output.files[0].content_type == "image/png"
    assert Image.open(io.BytesIO(output.files[0].data)).mode == "L"


@pytest.mark.anyio
async def test_failing_script_comes_back_as_its_stderr(oscar: OscarClient, admin: str) -> None:
    name = _name("fails")
    await oscar.create_service(
        _definition(
            name, "#!/bin/sh\necho 'broken on purpose' >&2\nexit 3\n", log_level="CRITICAL"
        ),
        auth=admin,
    )
    try:
        token = (await oscar.get_service(name, auth=admin)).token
        output = await invoke_sync(oscar, name, b"anything", f"Bearer {token}")
        assert output.kind == "text"
        assert "broken on purpose" in output.text
    finally:
        await oscar.delete_service(name, auth=admin)


# --- every error class from a real answer ---------------------------------------------------


@pytest.mark.anyio
async def test_unknown_service_is_not_found(oscar: OscarClient, jwt_issuer: JwtIssuer) -> None:
    with pytest.raises(NotFound):
        await oscar.get_service("no-such-service", auth=bearer(jwt_issuer, "alice"))
    with pytest.raises(NotFound):
        await oscar.run("no-such-service", b"aGk=", auth=bearer(jwt_issuer, "alice"))


@pytest.mark.anyio
async def test_bad_credentials_are_unauthorized(
    oscar: OscarClient, admin: str, jwt_issuer: JwtIssuer
) -> None:
    with pytest.raises(Unauthorized):
        await oscar.list_services(auth="Basic " + base64.b64encode(b"oscar:wrong").decode())
    # /run never accepts Basic auth (oscar-api.md §1).
    with pytest.raises(Unauthorized):
        await oscar.run("cowsay", b"aGk=", auth=admin)
    with pytest.raises(Unauthorized):
        await oscar.run("cowsay", b"aGk=", auth="Bearer " + "0" * 64)


@pytest.mark.anyio
async def test_invalid_definition_is_bad_request_with_oscar_text(
    oscar: OscarClient, admin: str
) -> None:
    with pytest.raises(BadRequest) as caught:
        await oscar.create_service({"name": _name("noimage"), "script": "echo"}, auth=admin)
    assert caught.value.detail


@pytest.mark.anyio
async def test_duplicate_name_is_bad_request(oscar: OscarClient, admin: str) -> None:
    with pytest.raises(BadRequest):
        await oscar.create_service(_definition("cowsay", "#!/bin/sh\necho\n"), auth=admin)
    assert (await oscar.get_service("cowsay", auth=admin)).visibility == "public"


@pytest.mark.anyio
async def test_a_users_own_service_is_hidden_from_others(
    oscar: OscarClient, jwt_issuer: JwtIssuer
) -> None:
    alice, bob = bearer(jwt_issuer, "alice"), bearer(jwt_issuer, "bob")
    name = _name("mine")
    created = await oscar.create_service(_definition(name, "#!/bin/sh\necho\n"), auth=alice)
    try:
        assert (created.owner, created.visibility) == ("alice", "private")
        with pytest.raises(Forbidden):
            await oscar.get_service(name, auth=bob)
        with pytest.raises(Forbidden):
            await oscar.delete_service(name, auth=bob)
        assert name not in {s.name for s in await oscar.list_services(auth=bob)}
    finally:
        await oscar.delete_service(name, auth=alice)


@pytest.mark.anyio
async def test_invalid_base64_is_upstream_error(oscar: OscarClient, jwt_issuer: JwtIssuer) -> None:
    # OSCAR base64-decodes every non-JSON body; raw bytes fail with 500 (oscar-api.md §4).
    with pytest.raises(UpstreamError) as caught:
        await oscar.run("cowsay", b"\x00\x01 not base64 !!", auth=bearer(jwt_issuer, "alice"))
    assert type(caught.value) is UpstreamError


@pytest.mark.anyio
async def test_slow_service_is_upstream_timeout(oscar: OscarClient, admin: str) -> None:
    name = _name("slow")
    await oscar.create_service(_definition(name, "#!/bin/sh\nsleep 5\necho late\n"), auth=admin)
    try:
        token = (await oscar.get_service(name, auth=admin)).token
        with pytest.raises(UpstreamTimeout):
            await oscar.run(name, b"aGk=", auth=f"Bearer {token}", timeout_seconds=0.5)
    finally:
        await oscar.delete_service(name, auth=admin)


@pytest.mark.anyio
async def test_body_over_the_server_limit_is_payload_too_large(
    http: httpx.AsyncClient, local_oscar_factory, jwt_issuer: JwtIssuer, tmp_path
) -> None:
    small = local_oscar_factory(
        data_dir=tmp_path / "small",
        oidc_issuers=[jwt_issuer.issuer],
        extra_args=["--max-body-bytes", "1024"],
    )
    oscar = OscarClient(http, OscarSettings(url=small.url))
    with pytest.raises(PayloadTooLarge):
        await oscar.run("cowsay", base64.b64encode(b"x" * 4096), auth=bearer(jwt_issuer, "alice"))


@pytest.mark.anyio
async def test_stopped_cluster_is_unavailable(
    http: httpx.AsyncClient, local_oscar_factory, tmp_path
) -> None:
    gone = local_oscar_factory(data_dir=tmp_path / "gone")
    oscar = OscarClient(http, OscarSettings(url=gone.url))
    await oscar.health()
    gone.stop()
    with pytest.raises(Unavailable):
        await oscar.health()
    with pytest.raises(Unavailable):
        await oscar.list_services(auth="Basic b3NjYXI6b3NjYXI=")

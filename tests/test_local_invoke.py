"""``/run``: body decoding, the script's environment, output encoding (oscar-api.md §4)."""

from __future__ import annotations

import base64
import io
import json
import uuid
import zipfile
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from PIL import Image

from devstack.oscar import LocalOscar


@pytest.fixture
def admin(local_oscar: LocalOscar) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=local_oscar.url, auth=local_oscar.admin_auth, timeout=60) as client:
        yield client


def make_service(admin: httpx.Client, script: str, **extra: Any) -> tuple[str, dict[str, str]]:
    """Create a service; return its name and the headers that carry its token."""
    name = f"t-{uuid.uuid4().hex[:10]}"
    body = {"name": name, "image": "local/test", "script": script, "log_level": "CRITICAL", **extra}
    assert admin.post("/system/services", json=body).status_code == 201
    token = admin.get(f"/system/services/{name}").json()["token"]
    return name, {"Authorization": f"Bearer {token}"}


def run(
    admin: httpx.Client, name: str, headers: dict[str, str], body: bytes, **kw: Any
) -> httpx.Response:
    return httpx.post(
        f"{admin.base_url}/run/{name}", headers=headers, content=body, timeout=60, **kw
    )


def png(colour: tuple[int, int, int] = (200, 30, 30), size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, "PNG")
    return buffer.getvalue()


def test_json_object_body_is_written_in_json_dumps_form(admin: httpx.Client) -> None:
    name, headers = make_service(admin, 'cat "$INPUT_FILE_PATH"')
    response = run(admin, name, headers, b'{"b":1,"a":[1,2],"s":"\xc3\xa9"}')
    assert response.status_code == 200
    assert response.text == json.dumps({"b": 1, "a": [1, 2], "s": "é"}) + "\n"


def test_base64_body_is_decoded_leniently(admin: httpx.Client) -> None:
    name, headers = make_service(admin, 'cat "$INPUT_FILE_PATH"')
    encoded = base64.encodebytes(b"hello world, " * 10)  # with newlines every 76 chars
    assert b"\n" in encoded.strip()
    assert run(admin, name, headers, encoded).text == "hello world, " * 10 + "\n"


@pytest.mark.parametrize("body", [b"plain text!", b"[1, 2]", b'"a string"', b"\x00\xff\x10"])
def test_undecodable_bodies_are_500_exit_status_1(admin: httpx.Client, body: bytes) -> None:
    name, headers = make_service(admin, "echo never")
    response = run(admin, name, headers, body)
    assert response.status_code == 500
    assert response.text.startswith("exit status 1")


def test_script_environment(admin: httpx.Client) -> None:
    script = (
        'echo "$OSCAR_SERVICE_NAME|$(basename "$INPUT_FILE_PATH")|$MY_VAR|$MY_SECRET|${#JOB_UUID}'
        '|$(dirname "$INPUT_FILE_PATH" | grep -c "^$TMP_INPUT_DIR$")'
        '|${#OSCAR_SERVICE_TOKEN}|$STORAGE_OBJECT_KEY"\n'
        'test -d "$TMP_OUTPUT_DIR" && echo out-dir-ok\n'
    )
    env = {"variables": {"MY_VAR": "v1"}, "secrets": {"MY_SECRET": "s1"}}
    name, headers = make_service(admin, script, environment=env)
    line, ok, _ = run(admin, name, headers, base64.b64encode(b"x")).text.split("\n", 2)
    service, input_name, var, secret, uuid_len, in_dir, token_len, key = line.split("|")
    assert service == name and input_name.startswith("event-file-") and "." not in input_name
    assert (var, secret, uuid_len, in_dir, token_len, key) == ("v1", "s1", "36", "1", "64", "")
    assert ok == "out-dir-ok"


def test_failing_script_is_200_with_its_stderr(admin: httpx.Client) -> None:
    name, headers = make_service(admin, "echo to-stdout\necho boom-on-stderr >&2\nexit 3\n")
    response = run(admin, name, headers, base64.b64encode(b"x"))
    assert response.status_code == 200
    assert "boom-on-stderr" in response.text and "to-stdout" in response.text
    assert response.text.endswith("\n")


def test_one_output_file_is_returned_base64(admin: httpx.Client) -> None:
    name, headers = make_service(
        admin, 'echo noise\ncp "$INPUT_FILE_PATH" "$TMP_OUTPUT_DIR/copy.bin"\n'
    )
    data = bytes(range(256)) * 4
    response = run(admin, name, headers, base64.b64encode(data))
    assert response.text.endswith("\n")
    assert base64.b64decode(response.text) == data


def test_three_output_files_come_back_as_a_base64_zip(admin: httpx.Client) -> None:
    script = (
        'echo one > "$TMP_OUTPUT_DIR/a.txt"\necho two > "$TMP_OUTPUT_DIR/b.txt"\n'
        'mkdir "$TMP_OUTPUT_DIR/sub" && echo three > "$TMP_OUTPUT_DIR/sub/c.txt"\n'
    )
    name, headers = make_service(admin, script)
    response = run(admin, name, headers, base64.b64encode(b"x"))
    assert response.text.endswith("\n")
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(response.text)))
    assert sorted(archive.namelist()) == ["a.txt", "b.txt", "sub/c.txt"]
    assert archive.read("sub/c.txt") == b"three\n"


def test_content_type_is_echoed_and_duration_header_present(admin: httpx.Client) -> None:
    name, headers = make_service(admin, "echo hi")
    response = run(
        admin, name, {**headers, "Content-Type": "image/x-whatever"}, base64.b64encode(b"x")
    )
    assert response.headers["content-type"] == "image/x-whatever"
    assert float(response.headers["x-duration-seconds"]) >= 0


def test_supervisor_log_lines_are_mixed_in_below_critical(admin: httpx.Client) -> None:
    name, headers = make_service(admin, "echo script-says-hi", log_level="INFO")
    text = run(admin, name, headers, base64.b64encode(b"x")).text
    assert " - supervisor - INFO - " in text
    assert text.endswith("script-says-hi\n\n")


def test_cowsay_takes_text_or_a_message_object(
    local_oscar: LocalOscar, admin: httpx.Client
) -> None:
    token = admin.get("/system/services/cowsay").json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    as_text = run(admin, "cowsay", headers, base64.b64encode(b"hello from text"))
    as_json = run(admin, "cowsay", headers, json.dumps({"message": "hello from json"}).encode())
    assert "< hello from text >" in as_text.text and "(oo)" in as_text.text
    assert "< hello from json >" in as_json.text


def test_grayify_returns_a_grayscale_image(admin: httpx.Client) -> None:
    token = admin.get("/system/services/grayify").json()["token"]
    response = run(admin, "grayify", {"Authorization": f"Bearer {token}"}, base64.b64encode(png()))
    image = Image.open(io.BytesIO(base64.b64decode(response.text)))
    assert (image.format, image.mode, image.size) == ("PNG", "L", (16, 16))


def test_text_to_image_stand_in_is_deterministic(admin: httpx.Client) -> None:
    token = admin.get("/system/services/text-to-image").json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    request = {"prompt": "a red fox", "negative_prompt": "blurry", "steps": 10, "seed": 7}
    first = run(admin, "text-to-image", headers, json.dumps(request).encode()).text
    second = run(admin, "text-to-image", headers, json.dumps(request).encode()).text
    other = run(admin, "text-to-image", headers, json.dumps({**request, "seed": 8}).encode()).text
    assert first == second != other
    image = Image.open(io.BytesIO(base64.b64decode(first)))
    assert (image.format, image.size) == ("PNG", (256, 256))


def test_classify_answers_json_label_and_scores(admin: httpx.Client) -> None:
    token = admin.get("/system/services/classify").json()["token"]
    response = run(
        admin, "classify", {"Authorization": f"Bearer {token}"}, base64.b64encode(png((250, 0, 0)))
    )
    result = json.loads(response.text)
    assert result["label"] == max(result["scores"], key=result["scores"].get)
    assert result["label"] == "red"
    assert abs(sum(result["scores"].values()) - 1) < 0.01


def test_multi_output_answers_a_zip_of_three_files(admin: httpx.Client) -> None:
    token = admin.get("/system/services/multi-output").json()["token"]
    response = run(
        admin, "multi-output", {"Authorization": f"Bearer {token}"}, base64.b64encode(b"some words")
    )
    archive = zipfile.ZipFile(io.BytesIO(base64.b64decode(response.text)))
    assert sorted(archive.namelist()) == ["stats.json", "swatch.png", "upper.txt"]
    assert archive.read("upper.txt") == b"SOME WORDS"
    assert json.loads(archive.read("stats.json"))["words"] == 2

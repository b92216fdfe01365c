"""Encoding of /run bodies and decoding of /run answers (oscar/payloads.py)."""

from __future__ import annotations

import base64
import io
import json
import struct
import zipfile

import pytest
from PIL import Image

from oscar.payloads import decode_output, encode_body, sniff

LOG = "2026-11-23 10:00:00,123 - supervisor - INFO - Downloading item from bucket 'x'"


def _png() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4), (200, 10, 10)).save(buffer, format="PNG")
    return buffer.getvalue()


def _jpeg() -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (4, 4)).save(buffer, format="JPEG")
    return buffer.getvalue()


def _wav() -> bytes:
    return b"RIFF" + struct.pack("<I", 36) + b"WAVEfmt " + bytes(24)


def _answer(data: bytes) -> bytes:
    """What OSCAR's /run returns for one output file: base64 plus a newline."""
    return base64.b64encode(data) + b"\n"


def test_encode_dict_is_json_and_bytes_and_text_are_base64() -> None:
    assert json.loads(encode_body({"message": "hi"})) == {"message": "hi"}
    assert base64.b64decode(encode_body(b"\x00\xff")) == b"\x00\xff"
    assert base64.b64decode(encode_body("héllo")) == "héllo".encode()


@pytest.mark.parametrize(
    ("data", "content_type"),
    [
        (_png(), "image/png"),
        (_jpeg(), "image/jpeg"),
        (b"GIF89a" + bytes(10), "image/gif"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "image/webp"),
        (_wav(), "audio/wav"),
        (b"ID3\x04\x00" + bytes(10), "audio/mpeg"),
        (b"\xff\xfb\x90\x00" + bytes(10), "audio/mpeg"),
        (b"OggS\x00\x02" + bytes(10), "audio/ogg"),
        (b"\x00\x00\x00\x18ftypmp42" + bytes(8), "video/mp4"),
        (b"\x1a\x45\xdf\xa3" + bytes(10), "video/webm"),
        (b"%PDF-1.7\n", "application/pdf"),
        (b'{"label": "cat"}', "application/json"),
        (b"plain words\n", "text/plain"),
        (b"\x00\x01\x02\x03", "application/octet-stream"),
    ],
)
def test_sniff_recognises_magic_bytes(data: bytes, content_type: str) -> None:
    assert sniff(data) == content_type


def test_one_png_file_is_decoded_with_its_type() -> None:
    png = _png()
    output = decode_output(_answer(png))
    assert output.kind == "file"
    [file] = output.files
    assert (file.name, file.content_type, file.data) == ("output.png", "image/png", png)


def test_several_files_come_back_as_the_zip_members() -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("a.txt", "first\n")
        zf.writestr("sub/b.json", '{"n": 2}')
        zf.writestr("c.png", _png())
    output = decode_output(_answer(buffer.getvalue()))
    assert output.kind == "zip"
    assert output.archive == buffer.getvalue()
    by_name = {f.name: f for f in output.files}
    assert by_name["a.txt"].text == "first\n"
    assert by_name["b.json"].content_type == "application/json"
    assert by_name["c.png"].content_type == "image/png"


def test_script_stdout_is_text_without_the_trailing_newline() -> None:
    output = decode_output(b" _____\n< moo >\n -----\n")
    assert output.kind == "text"
    assert output.text == " _____\n< moo >\n -----"


@pytest.mark.parametrize("word", ["cafe", "done", "true", "1234", "test", "abcdefgh"])
def test_short_words_that_are_valid_base64_stay_text(word: str) -> None:
    # "cafe" is valid base64 of b'q\xa7\x9f': neither a known type nor UTF-8, so it is text.
    output = decode_output(word.encode() + b"\n")
    assert output.kind == "text"
    assert output.text == word


def test_base64_of_utf8_text_is_a_text_file() -> None:
    output = decode_output(_answer(b"hello from a file\n"))
    assert output.kind == "file"
    assert output.files[0].content_type == "text/plain"
    assert output.files[0].text == "hello from a file\n"


def test_long_base64_of_unknown_bytes_is_an_opaque_file() -> None:
    blob = bytes(range(256)) * 4
    output = decode_output(_answer(blob))
    assert output.kind == "file"
    assert output.files[0].content_type == "application/octet-stream"
    assert output.files[0].data == blob


def test_supervisor_log_lines_are_separated_from_the_output() -> None:
    png = _png()
    raw = f"{LOG}\n".encode() + base64.b64encode(png) + f"\n{LOG}\n".encode()
    output = decode_output(raw)
    assert output.kind == "file"
    assert output.files[0].data == png
    assert output.log == [LOG, LOG]


def test_failing_script_stderr_is_text() -> None:
    output = decode_output(b"Traceback (most recent call last):\nValueError: bad input\n")
    assert output.kind == "text"
    assert output.text.endswith("ValueError: bad input")


def test_a_corrupt_zip_is_kept_as_one_file() -> None:
    broken = b"PK\x03\x04" + bytes(60)
    output = decode_output(_answer(broken))
    assert output.kind == "file"
    assert output.files[0].content_type == "application/zip"
